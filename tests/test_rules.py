"""The rule registry: a rule is one module; registering one adds its findings to every run."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import polars as pl
import pytest
from decorator import on_backends
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.queries import rules as registry
from xpg.queries.assembly import ExposureIndex, exposure_of, finding, rows
from xpg.queries.findings import Finding
from xpg.queries.frames import Form
from xpg.queries.rules import FINDING_TYPES
from xpg.queries.rules.base import Rule

import xpg
from xpg.errors import ConfigError
from xpg.settings import DetectionConfig, load_settings


@dataclass(frozen=True)
class BigLimitConfig:
    min_limit: float = 50_000.0


def _accounts(hooks: Any, config: BigLimitConfig, as_of: dt.date) -> pl.DataFrame:
    return hooks.dataset.accounts.select("user_id", "account_id", "credit_limit")


def _spark_accounts(hooks: Any, config: BigLimitConfig, as_of: dt.date) -> Any:
    return hooks.tables["accounts"].select("user_id", "account_id", "credit_limit")


_CYPHER = """
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)
WHERE a.retired_at IS NULL
RETURN u.user_id AS user_id, a.account_id AS account_id, a.credit_limit AS credit_limit
"""


class BigLimit(Rule):
    """A toy rule: an account with a credit limit of at least ``min_limit``."""

    name = "big_limit"
    incremental = "user"  # a user's findings: that user's own accounts
    section = "big_limit"  # [detection.big_limit] once registered; absent: the class's defaults
    config_class = BigLimitConfig
    forms = (
        Form("big_limit", {"user_id": pl.String(), "account_id": pl.String(),
                           "credit_limit": pl.Float64()}, _accounts, _CYPHER,
             lambda config, as_of: {}, spark=_spark_accounts),
    )

    def qualify(self, frame: pl.DataFrame, config: BigLimitConfig) -> pl.DataFrame:
        return frame.filter(pl.col("credit_limit") >= config.min_limit)

    def assemble(self, result: pl.DataFrame, exposure: ExposureIndex, config: BigLimitConfig
                 ) -> list[Finding]:
        return [
            finding(self.name, r["account_id"], [r["user_id"]], 1.0,
                    exposure_of(exposure[r["user_id"]]), {"account_id": r["account_id"]},
                    f"Account {r['account_id']} has a limit of {r['credit_limit']:,.0f} CNY.")
            for r in rows(result.sort("account_id"))
        ]


def data():
    b = Builder()
    b.account("a1", "u1", "huabei", limit=80_000).account("a2", "u2", "jiebei", limit=1_000)
    multi_lender(b, "u3")
    return b.build()


def test_the_builtin_rules_are_the_contract_types_in_order():
    assert registry.finding_types() == FINDING_TYPES
    assert registry.detection_steps() == (*FINDING_TYPES, "exposure", "assembly")
    for rule in registry.rules():
        assert rule.forms and rule.config_class is not None


def test_a_registered_rule_makes_findings_through_the_normal_run():
    with xpg.open(dataset=data(), as_of=AS_OF) as s:
        before = s.findings().to_dict()
    registry.register(BigLimit())
    try:
        assert registry.finding_types()[-1] == "big_limit"
        assert registry.detection_steps()[-3] == "big_limit"
        with xpg.open(dataset=data(), as_of=AS_OF) as s:
            report = s.findings()
        toy = [f for f in report.findings if f.type == "big_limit"]
        assert [(f.users, f.evidence["account_id"]) for f in toy] == [(("u1",), "a1")]
        assert report.findings[-1] is toy[0]  # sorted after the contract's types
        assert report.summary["findings_by_type"]["big_limit"] == 1
        assert toy[0].exposure.total == 80_000.0  # drawable of an empty account
        others = [f.to_dict() for f in report.findings if f.type != "big_limit"]
        assert others == before["findings"]
        with pytest.raises(ValueError, match="registered already"):
            registry.register(BigLimit())
    finally:
        registry.unregister("big_limit")
    assert registry.finding_types() == FINDING_TYPES
    with xpg.open(dataset=data(), as_of=AS_OF) as s:
        assert s.findings().to_dict() == before


def test_rules_that_others_run_after_cannot_be_unregistered_first():
    with pytest.raises(ValueError, match="run after"):
        registry.unregister("multi_lending")


@pytest.fixture
def big_limit():
    registry.register(BigLimit())
    yield registry.rule("big_limit")
    registry.unregister("big_limit")


def test_a_registered_rule_is_configured_from_a_toml_table(tmp_path, big_limit):
    toml = tmp_path / "toy.toml"
    toml.write_text("[detection.big_limit]\nmin_limit = 90000\n[detection.ring]\nmin_users = 4\n")
    settings = load_settings(toml, environ={})
    assert settings.detection.big_limit == BigLimitConfig(min_limit=90_000.0)
    assert settings.detection.ring.min_users == 4
    assert DetectionConfig().big_limit == BigLimitConfig()  # absent: the class's defaults
    with xpg.open(dataset=data(), as_of=AS_OF, settings=settings) as s:
        assert not [f for f in s.findings().findings if f.type == "big_limit"]  # 80,000 < 90,000
    toml.write_text("[detection.big_limit]\nmin_limt = 1\n")
    with pytest.raises(ConfigError, match=re.escape(
            f"{toml}: unknown setting detection.big_limit.min_limt; known here: ['min_limit']")):
        load_settings(toml, environ={})
    toml.write_text("[detection.big_limit]\nmin_limit = 'much'\n")
    expected = "detection.big_limit.min_limit: expected a number"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_settings(toml, environ={})
    assert load_settings(environ={}, overrides={"detection.big_limit.min_limit": "7"}
                         ).detection.big_limit.min_limit == 7.0


def test_an_unregistered_rule_section_is_refused(tmp_path):
    toml = tmp_path / "toy.toml"
    toml.write_text("[detection.big_limit]\nmin_limit = 90000\n")
    with pytest.raises(ConfigError, match=re.escape(
            "unknown setting detection.big_limit; known here: ['freeze', 'lender_velocity', "
            "'limit_divergence', 'linked_risk', 'multi_lending', 'ring']")):
        load_settings(toml, environ={})


def test_the_detection_sections_are_the_registered_rules(big_limit):
    assert list(DetectionConfig()) == [r.section for r in registry.rules()
                                       if r.section != "freeze" or r.name == "freeze_inconsistency"]
    assert list(registry.sections()) == list(DetectionConfig())
    with pytest.raises(ValueError, match="section 'ring' of rule 'other_ring'"):
        registry.register(type("OtherRing", (BigLimit,), {"name": "other_ring",
                                                          "section": "ring"})())


def _snapshot(folder, change=None):
    """A small synthetic snapshot as Parquet (``change`` edits its accounts)."""
    from xpg.synthetic import write

    base = folder.parent / "base"
    if not base.exists():
        write(base, 600, 5)
        (base / "truth.json").unlink()
    folder.mkdir()
    for path in base.glob("*.parquet"):
        frame = pl.read_parquet(path)
        if path.stem == "accounts" and change is not None:
            frame = change(frame)
        frame.write_parquet(folder / path.name)
    return folder


def test_a_registered_rule_gives_the_same_findings_full_and_incremental(tmp_path, big_limit):
    """The nightly run iterates the registry: the toy rule's findings are kept for the
    unchanged users and found again for the changed ones, as a full run finds them."""
    from nightly_runs import run_nightly

    toml = tmp_path / "toy.toml"
    toml.write_text("[detection.big_limit]\nmin_limit = 30000\n")
    settings = load_settings(toml, environ={})
    before = _snapshot(tmp_path / "before")
    raised = pl.col("account_id") == pl.col("account_id").sort().first()
    after = _snapshot(tmp_path / "after", lambda a: a.with_columns(
        pl.when(raised).then(pl.lit(95_000.0)).otherwise(pl.col("credit_limit"))
        .alias("credit_limit")))
    state = tmp_path / "state"
    first = run_nightly(before, settings, state)
    assert not first.incremental
    toy_before = [f for f in first.report().findings if f.type == "big_limit"]
    assert toy_before and all(f.evidence["account_id"] for f in toy_before)
    again = run_nightly(before, settings, state)  # unchanged data: every finding kept
    assert again.incremental, again.reason
    assert again.text() == first.text()
    night = run_nightly(after, settings, state)
    assert night.incremental, night.reason
    full = run_nightly(after, settings, None)
    assert not full.incremental
    assert night.text() == full.text()
    toy = [f for f in night.report().findings if f.type == "big_limit"]
    assert len(toy) == len(toy_before) + 1  # the raised account's, beside the kept ones
    with xpg.open(data=after, settings=settings, as_of=night.as_of) as s:
        assert s.findings().to_dict()["findings"] == night.report().to_dict()["findings"]


def test_a_rule_without_an_incremental_scope_makes_the_nightly_run_a_full_one(tmp_path):
    from nightly_runs import run_nightly

    class Unscoped(BigLimit):
        name = "unscoped_limit"
        section = "unscoped_limit"
        incremental = None

    registry.register(Unscoped())
    try:
        folder = _snapshot(tmp_path / "data")
        run_nightly(folder, None, tmp_path / "state")
        result = run_nightly(folder, None, tmp_path / "state")
        assert not result.incremental
        assert "rule 'unscoped_limit' declares no incremental scope" in result.reason
        assert [f for f in result.report().findings if f.type == "unscoped_limit"]
    finally:
        registry.unregister("unscoped_limit")


@on_backends(slow=())
def test_a_registered_rule_configured_from_toml_finds_on_every_backend(backend, tmp_path,
                                                                        big_limit):
    """One body on memory, Neo4j and Spark: the toy rule's own Polars, Cypher (inline in
    its Form) and Spark forms, its settings from a TOML table."""
    toml = tmp_path / "toy.toml"
    toml.write_text("[detection.big_limit]\nmin_limit = 900\n")
    config = load_settings(toml, environ={}).detection
    ds = data()
    backend.load(ds)
    report = backend.detect(config, as_of=AS_OF)
    toy = [f for f in report.findings if f.type == "big_limit"]
    assert [(f.users, f.evidence["account_id"]) for f in toy] == [(("u1",), "a1"), (("u2",), "a2")]
    assert report.to_dict() == xpg.queries.detect(ds, config, as_of=AS_OF).to_dict()


@on_backends()  # Spark's case in CI only (58 s); the toy rule's Spark form runs above
def test_a_registered_rule_finds_the_same_given_the_previous_night_on_every_backend(
        backend, tmp_path, big_limit):
    """``Backend.detect`` given the previous night (one path with the full run): the
    in-memory backend's second night is incremental from the state its first left, the
    others detect in full and say so; the toy rule's findings are the full run's on each."""
    from xpg.graph.backend import NightlyRun
    from xpg.loaders import load_dataset

    toml = tmp_path / "toy.toml"
    toml.write_text("[detection.big_limit]\nmin_limit = 30000\n")
    settings = load_settings(toml, environ={})
    folder = _snapshot(tmp_path / "data")
    backend.load(load_dataset(folder, settings).dataset)
    full = backend.detect(settings.detection, as_of=AS_OF)
    assert [f for f in full.findings if f.type == "big_limit"]
    for night_no in (1, 2):
        night = NightlyRun(folder, tmp_path / "state", settings)
        report = backend.detect(settings.detection, as_of=AS_OF, night=night)
        assert report.document() == full.document(), night.reason
        assert night.incremental == (backend.detects_since and night_no == 2), night.reason
        if not backend.detects_since:
            assert "detects in full" in (night.reason or "")
            assert not (tmp_path / "state").exists()


def test_the_summary_exposure_total_sums_each_flagged_user_once_in_id_order():
    """``exposure_total``: the distinct flagged users' totals added one by one in id order
    (a user without exposure counts zero), as the document has always summed them."""
    from xpg.queries.summary import summarize

    amounts = {"u2": 0.1, "u1": 0.2, "u3": 1e16}
    exposure = ExposureIndex(pl.DataFrame({
        "user_id": list(amounts), "internal_limit": 0.0, "internal_outstanding": 0.0,
        "drawable": 0.0, "external_outstanding": 0.0, "total": list(amounts.values())}))
    found = [finding("multi_lending", u, [u], 1.0, exposure_of(exposure[u]), {}, "x")
             for u in ("u3", "u1", "u2", "u1", "u9")]
    want = round(sum(exposure[u]["total"] for u in ("u1", "u2", "u3", "u9")), 2)
    assert summarize(found, 10, exposure)["exposure_total"] == want == round(
        ((0.2 + 0.1) + 1e16) + 0.0, 2)


def test_what_other_modules_ask_of_a_rule_is_the_registry_s(big_limit):
    """The diff, its reasons and the screening ask the registry what a rule is, never its
    name: a registered group rule (its members marked by ``big_limit``) has its ids carried
    by member overlap, matched only with its own rule's groups, its changes explained by
    its members, and its findings counted by the screening."""
    from xpg.queries.diff import diff_reports
    from xpg.queries.findings import Exposure, FindingsReport

    class Crew(BigLimit):
        name = "crew"
        section = "crew"
        groups = True
        member_rule = "big_limit"
        change_reasons = "members"
        screening = "high"

    def group(ftype, fid, users, marked=None):
        evidence = {} if marked is None else {"multi_lending_members": marked}
        return Finding(fid, ftype, "high", 0.9, tuple(users), Exposure(100.0), evidence, "x")

    registry.register(Crew())
    try:
        assert registry.group_types() == ("ring", "crew")
        assert registry.member_types() == ("multi_lending", "big_limit")
        assert registry.screening_levels()["crew"] == "high"
        assert "big_limit" not in registry.screening_levels()
        marked = [group("big_limit", f"big-limit-{u}", [u]) for u in ("u1", "u2")]
        before = FindingsReport(AS_OF - dt.timedelta(days=1), (
            group("crew", "crew-old", ["u1", "u2", "u3"], ["u1", "u2"]),
            group("ring", "ring-old", ["u4", "u5", "u6"]), *marked), {})
        now = FindingsReport(AS_OF, (
            group("crew", "crew-new", ["u1", "u3", "u8", "u9"], ["u1"]),
            group("crew", "crew-other", ["u4", "u5", "u6"]), *marked), {})
        diff = diff_reports(before, now)
        grew = diff.by_id("crew-old")
        assert (grew.kind, grew.detected_id) == ("grew", "crew-new")
        # u2 left the crew still marked by big_limit tonight: it stopped nothing
        assert "fewer_multi_lenders" not in grew.reason, grew.reason
        without = diff_reports(before, FindingsReport(AS_OF, now.findings[:2], {}))
        assert "fewer_multi_lenders" in without.by_id("crew-old").reason  # u2 unmarked now
        assert diff.by_id("ring-old").kind == "resolved"  # never matched with a crew
        assert diff.by_id("crew-other").kind == "new"
        assert [f.id for f in diff.apply(now).findings][:2] == ["crew-old", "crew-other"]
    finally:
        registry.unregister("crew")
