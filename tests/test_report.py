"""The nightly report: folder contents, carried ring ids, atomicity, exit codes, escaping."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import polars as pl
import pytest
from investigation_data import AS_OF, RING, dataset, findings, tables, write_dataset
from xpg.loaders.dataset import Dataset
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.cli import main
from xpg.errors import InputError, StorageError, TargetExistsError
from xpg.report import RunLog, find_previous, record_failure

RING_ID = stable_id("ring", list(RING))
EXPECTED_FILES = {
    "index.html", "findings.json", "findings.csv", "findings.parquet", "finding_users.csv",
    "finding_users.parquet", "exposure.csv", "exposure.parquet", "run.log", "manifest.json",
    "trends.json",  # per rule over the last nights
}


def night(ds: Dataset, out, **kw):
    with api.open(dataset=ds) as s:
        return s.report(out, as_of=kw.pop("as_of", AS_OF), **kw)


def without_link(user: str, device: str) -> Dataset:
    """The fixture where ``user`` was never seen on ``device``."""
    t = tables()
    t["devices"] = t["devices"].filter(~((pl.col("user_id") == user)
                                         & (pl.col("device_id") == device)))
    return Dataset(**t, present=frozenset(t))


# ----------------------------------------------------------------------------- contents


def test_folder_contents_and_findings_document(tmp_path):
    r = night(dataset(), tmp_path)
    assert r.folder == tmp_path / "2026-11-20"
    assert {p.name for p in r.folder.iterdir()} == EXPECTED_FILES == set(r.files)
    doc = json.loads((r.folder / "findings.json").read_text())
    assert doc["as_of"] == "2026-11-20"
    assert {f["id"] for f in doc["findings"]} == {f.id for f in findings().findings}
    assert doc["summary"]["flagged_users"] == 4 and doc["summary"]["at_risk_total"] == 4000.0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert r.diff is None and r.previous is None


def test_tables_in_csv_and_parquet(tmp_path):
    r = night(dataset(), tmp_path)
    f = pl.read_parquet(r.folder / "findings.parquet")
    assert pl.read_csv(r.folder / "findings.csv").height == f.height == 4
    ring = f.filter(pl.col("type") == "ring").row(0, named=True)
    assert (ring["id"], ring["users"], ring["user_count"], ring["exposure_total"]) == (
        RING_ID, "u1 u2 u3 u4", 4, 21950.0)
    fi = f.filter(pl.col("type") == "freeze_inconsistency").row(0, named=True)
    assert fi["at_risk"] == 4000.0
    pairs = pl.read_parquet(r.folder / "finding_users.parquet")
    assert pairs.height == 1 + 1 + 4 + 1
    exp = pl.read_parquet(r.folder / "exposure.parquet")
    assert exp.height == 28 and pl.read_csv(r.folder / "exposure.csv").height == 28
    u1 = exp.filter(pl.col("user_id") == "u1").row(0, named=True)
    assert (u1["total"], u1["drawable"], u1["findings"], u1["finding_types"]) == (
        13100.0, 4000.0, 3, "freeze_inconsistency multi_lending ring")
    assert exp.get_column("user_id")[0] == "u1"  # largest exposure first


def test_manifest_hashes_and_run_log(tmp_path):
    r = night(dataset(), tmp_path)
    manifest = json.loads((r.folder / "manifest.json").read_text())
    assert set(manifest["files"]) == EXPECTED_FILES - {"manifest.json"}
    for name, meta in manifest["files"].items():
        data = (r.folder / name).read_bytes()
        assert meta == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    log = (r.folder / "run.log").read_text()
    assert "findings: multi_lending 2, ring 1, freeze_inconsistency 1" in log
    runs = (tmp_path / "runs.log").read_text().splitlines()
    assert len(runs) == 2 and "as_of=2026-11-20 status=ok" in runs[0]
    run = runs[0].split()[-1]  # run=ID: its line before the rename, its mark after
    assert run.startswith("run=") and runs[1].endswith(f" {run} written")


def test_page_is_self_contained_and_has_the_sections(tmp_path):
    html = (night(dataset(), tmp_path).folder / "index.html").read_text()
    for section in ("summary", "changes", "by-type", "rings", "inconsistencies", "charts",
                    "findings", "files"):
        assert f'<section id="{section}">' in html
    assert f'<section class="ring" id="{RING_ID}">' in html
    assert html.count('<svg class="graph"') == 1
    assert html.count('<svg class="chart') == 5
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r'\b(src|href)="(?!#)', html)  # no reference leaves the page
    assert "url(" not in html and "http://" not in html and "https://" not in html
    assert "4,000.00" in html  # the drawable at risk


def test_everything_from_the_data_is_escaped(tmp_path):
    t = tables()
    evil = '<script>alert("x")</script>&'
    t["users"] = t["users"].with_columns(
        pl.when(pl.col("user_id") == "u2").then(pl.lit(evil)).otherwise(pl.col("user_id"))
        .alias("user_id"))
    for name in ("accounts", "devices", "identifiers", "external_loans"):
        t[name] = t[name].with_columns(
            pl.when(pl.col("user_id") == "u2").then(pl.lit(evil)).otherwise(pl.col("user_id"))
            .alias("user_id"))
    t["devices"] = t["devices"].with_columns(pl.col("device_id").str.replace("d1", "d1\"><b>"))
    ds = Dataset(**t, present=frozenset(t))
    html = (night(ds, tmp_path).folder / "index.html").read_text()
    assert "<script>" not in html and '"><b>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html


# ----------------------------------------------------------------------------- changes


def test_second_night_carries_the_ring_id_and_says_it_grew(tmp_path):
    first = night(without_link("u4", "d2"), tmp_path, as_of=AS_OF - dt.timedelta(days=1))
    (old_ring,) = [f for f in first.findings.findings if f.type == "ring"]
    assert old_ring.users == ("u1", "u2", "u3")
    second = night(dataset(), tmp_path, previous=first.folder)
    assert second.previous == first.folder
    change = second.diff.by_id(old_ring.id)
    assert (change.kind, change.detected_id, change.users_added) == ("grew", RING_ID, ("u4",))
    doc = json.loads((second.folder / "findings.json").read_text())
    ring = next(f for f in doc["findings"] if f["type"] == "ring")
    assert ring["id"] == old_ring.id != RING_ID
    assert ring["evidence"]["lineage"] == {
        "detected_id": RING_ID, "change": "grew", "previous_ids": [old_ring.id]}
    changes = pl.read_csv(second.folder / "changes.csv")
    assert changes.filter(pl.col("kind") == "grew").get_column("users_added").to_list() == ["u4"]
    html = (second.folder / "index.html").read_text()
    assert "Rings that grew" in html and f'id="{old_ring.id}"' in html
    # the third night keeps the first id although the detection's id is RING_ID
    third = night(dataset(), tmp_path, previous="auto", as_of=AS_OF + dt.timedelta(days=1))
    assert third.previous == second.folder
    assert third.diff.by_id(old_ring.id).kind == "unchanged"
    assert third.diff.counts()["unchanged"] == 4


def test_resolved_and_new(tmp_path):
    t = tables()
    t["external_loans"] = t["external_loans"].with_columns(
        pl.when(pl.col("user_id") == "u2").then(pl.lit("closed")).otherwise(pl.col("status"))
        .alias("status"))
    ds = Dataset(**t, present=frozenset(t))
    first = night(dataset(), tmp_path, as_of=AS_OF - dt.timedelta(days=1))
    second = night(ds, tmp_path, previous=first.folder / "findings.json")
    kinds = {c.id: c.kind for c in second.diff.changes}
    assert kinds[stable_id("multi_lending", "u2")] == "resolved"
    # u2 no longer multi-lending: 1 of 4 members, below half: the ring is gone too
    assert kinds[RING_ID] == "resolved"
    assert second.diff.counts()["resolved"] == 2


def test_previous_auto_picks_the_latest_earlier_report(tmp_path):
    for day in (17, 19, 18):
        (tmp_path / f"2026-11-{day}").mkdir()
        (tmp_path / f"2026-11-{day}" / "findings.json").write_text("{}")
    (tmp_path / "2026-11-21").mkdir()
    (tmp_path / "2026-11-21" / "findings.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    assert find_previous(tmp_path, AS_OF) == tmp_path / "2026-11-19"
    assert find_previous(tmp_path, dt.date(2026, 11, 17)) is None
    assert find_previous(tmp_path / "missing", AS_OF) is None


def test_previous_refused_when_later_or_unreadable(tmp_path):
    first = night(dataset(), tmp_path, as_of=AS_OF)
    with pytest.raises(InputError, match="after"):
        night(dataset(), tmp_path / "b", previous=first.folder, as_of=AS_OF - dt.timedelta(1))
    with pytest.raises(InputError, match="no findings document"):
        night(dataset(), tmp_path / "c", previous=tmp_path / "nothing-here")
    bad = tmp_path / "bad.json"
    bad.write_text('{"as_of": "2026-11-19"}')
    with pytest.raises(InputError, match="not a findings document"):
        night(dataset(), tmp_path / "d", previous=bad)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").glob("2026-*"))


# ----------------------------------------------------------------------------- atomicity


def test_existing_folder_is_refused_then_replaced_with_overwrite(tmp_path):
    first = night(dataset(), tmp_path)
    (first.folder / "marker").write_text("old")
    with pytest.raises(InputError, match="already exists"):
        night(dataset(), tmp_path)
    assert (first.folder / "marker").exists()
    night(dataset(), tmp_path, overwrite=True)
    assert not (first.folder / "marker").exists()
    assert {p.name for p in tmp_path.iterdir()} == {"2026-11-20", "runs.log"}


def test_a_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    import xpg.report.writer as writer

    def broken(page):
        raise RuntimeError("boom while rendering")

    monkeypatch.setattr(writer, "render", broken)
    with pytest.raises(RuntimeError, match="boom"):
        night(dataset(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_alerts_are_new_or_worse_findings_at_the_level(tmp_path):
    first = night(without_link("u4", "d2"), tmp_path, as_of=AS_OF - dt.timedelta(days=1))
    second = night(dataset(), tmp_path, previous=first.folder)
    ring = next(f for f in second.findings.findings if f.type == "ring")
    assert [f.id for f in second.alerts("low")] == [ring.id]  # it grew; the rest is unchanged
    assert second.alerts("critical") == ()
    assert {f.severity for f in first.alerts("medium")} <= {"medium", "high", "critical"}
    assert len(first.alerts("low")) == len(first.findings.findings)  # no previous: all count
    with pytest.raises(InputError, match="severity"):
        second.alerts("severe")


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("fixture"))


def test_cli_writes_the_report_and_exit_codes(data_dir, tmp_path, capsys):
    out = tmp_path / "reports"
    args = ["report", "--data", str(data_dir), "--out", str(out), "--as-of", "2026-11-19",
            "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(out / "2026-11-19")
    assert main(args) == 2  # the folder exists
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    # next night: no change, so no alert even at the lowest severity
    nxt = ["report", "--data", str(data_dir), "--out", str(out), "--as-of", "2026-11-20",
           "--previous", "auto", "--quiet", "--alert-on", "low"]
    assert main(nxt) == 0
    assert "since 2026-11-19: 0 new, 0 worse, 0 resolved" in capsys.readouterr().out
    runs = [x for x in (out / "runs.log").read_text().splitlines() if " status=" in x]
    assert [("status=ok" in x) for x in runs] == [True, False, True, True]


def test_cli_report_logs_the_settings_files(data_dir, tmp_path, capsys):
    cfg = tmp_path / "strict.toml"
    cfg.write_text("[detection.ring]\nmin_users = 4\n")
    out = tmp_path / "reports"
    args = ["report", "--data", str(data_dir), "--out", str(out), "--as-of", "2026-11-19",
            "--config", str(cfg)]
    assert main([*args, "--quiet"]) == 0
    assert "settings from" not in capsys.readouterr().err  # --quiet: no run log on stderr
    assert f"INFO  settings from {cfg}\n" in (out / "2026-11-19" / "run.log").read_text()
    assert main([*args, "--overwrite"]) == 0
    assert f"INFO  settings from {cfg}\n" in capsys.readouterr().err


def test_cli_alert_exit_code_on_new_findings(data_dir, tmp_path, capsys):
    out = tmp_path / "reports"
    args = ["report", "--data", str(data_dir), "--out", str(out), "--as-of", "2026-11-20",
            "--quiet", "--alert-on", "high"]
    assert main(args) == 5  # no previous report: every high finding is new
    assert "ALERT: 3 new or worsened" in capsys.readouterr().err
    assert (out / "2026-11-20" / "index.html").exists()  # written all the same


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "20-11-2026"], "not a date"),
        (["--alert-on", "severe"], "--alert-on"),
        (["--ring-overlap", "0"], "--ring-overlap"),
        (["--previous", "/nonexistent/report"], "no findings document"),
    ],
)
def test_cli_bad_input_is_exit_2(data_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "reports"
    code = main(["report", "--data", str(data_dir), "--out", str(out), "--quiet", *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not any(out.glob("20*")) if out.exists() else True


def test_cli_missing_data_is_exit_2(tmp_path, capsys):
    assert main(["report", "--data", str(tmp_path / "none"), "--out", str(tmp_path),
                 "--quiet"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_report_through_the_api_on_carried_findings(tmp_path):
    first = night(without_link("u4", "d2"), tmp_path, as_of=AS_OF - dt.timedelta(days=1))
    second = night(dataset(), tmp_path, previous="auto")
    old = next(f.id for f in first.findings.findings if f.type == "ring")
    # an investigator opens the nightly findings: the carried id resolves
    with api.open(dataset=dataset(), findings=second.folder) as s:
        assert s.ring(old).finding.users == 4
        assert s.ring(RING_ID).id == old


def test_a_run_that_cannot_log_is_not_put_in_place(tmp_path):
    """runs.log gets the run's line before the final rename: a run a monitor could not
    see fails (nothing renamed); a failure's own line that cannot be written is a WARN."""
    (tmp_path / "runs.log").mkdir()  # cannot be appended to
    said: list[str] = []
    with api.open(dataset=dataset()) as s, pytest.raises(
            InputError, match=r"cannot append to .*runs\.log"):
        s.report(tmp_path, as_of=AS_OF, log=RunLog(echo=said.append))
    assert {p.name for p in tmp_path.iterdir()} == {"runs.log"}  # no report, no debris
    record_failure(tmp_path, AS_OF, InputError("bad"), 0.1, log=RunLog(echo=said.append))
    assert "could not append this run" in said[-1]


def test_cli_says_when_runs_log_cannot_be_written(data_dir, tmp_path, capsys):
    out = tmp_path / "reports"
    (out / "runs.log").mkdir(parents=True)
    assert main(["report", "--data", str(data_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "xpg: error: cannot append to" in err and "WARN  could not append this run to" in err


def test_a_folder_that_appears_while_writing_is_kept(tmp_path, monkeypatch):
    import xpg.report.writer as writer

    real = writer.render

    def render_while_another_run_finishes(page):
        (tmp_path / "2026-11-20").mkdir()
        (tmp_path / "2026-11-20" / "theirs").write_text("other run")
        return real(page)

    monkeypatch.setattr(writer, "render", render_while_another_run_finishes)
    with pytest.raises(TargetExistsError, match=r"already exists$"):
        night(dataset(), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"2026-11-20"}  # no temporary folder
    assert [p.name for p in (tmp_path / "2026-11-20").iterdir()] == ["theirs"]


def test_a_full_disk_while_writing_is_a_storage_error_and_leaves_nothing(tmp_path, monkeypatch):
    import xpg.report.writer as writer

    def disk_full(folder, name, frame):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_write_frames", disk_full)
    with pytest.raises(StorageError, match=r"cannot write the report .*: no space left"):
        night(dataset(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_logs_every_failed_run_with_its_run_date(data_dir, tmp_path, capsys):
    """The first night's failure (no OUT folder yet: made, as a run that succeeds makes it)
    is one runs.log line too; a failure after the data loaded names the data's run date,
    one before it says unknown."""
    out = tmp_path / "reports"
    args = ["report", "--data", str(data_dir), "--out", str(out), "--quiet"]
    assert main(["report", "--data", str(tmp_path / "nope"), "--out", str(out), "--quiet"]) == 2
    assert main(args) == 0
    assert main(args) == 2  # the dated folder exists: found out after loading the data
    capsys.readouterr()
    runs = [x for x in (out / "runs.log").read_text().splitlines() if " status=" in x]
    assert len(runs) == 3
    assert "as_of=unknown status=failed(InputError)" in runs[0] and "is not a directory" in runs[0]
    day = runs[1].split()[1]  # as_of=<the data's latest date>
    assert day != "as_of=unknown" and "status=ok" in runs[1]
    assert f"{day} status=failed(TargetExistsError)" in runs[2] and "already exists" in runs[2]


def test_cli_refuses_an_existing_dated_folder_before_loading_the_data(
    data_dir, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "reports"
    (out / "2026-11-19").mkdir(parents=True)
    import xpg.loaders

    def never(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(xpg.loaders, "load_dataset", never)
    args = ["report", "--data", str(data_dir), "--out", str(out), "--as-of", "2026-11-19"]
    assert main([*args, "--quiet"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_a_cut_ring_table_gives_the_ring_size_and_the_rest(tmp_path, monkeypatch):
    """The page lists a ring's first members (xpg.gather.RING_PAGE, 25): its heading and
    freeze line count every member, and a line says how many are not listed."""
    import xpg.gather

    monkeypatch.setattr(xpg.gather, "RING_PAGE", 3)
    html = (night(dataset(), tmp_path).folder / "index.html").read_text()
    card = html[html.index(f'<section class="ring" id="{RING_ID}">'):]
    card = card[:card.index("</section>")]
    assert f"— {len(RING)} members, exposure" in card
    assert f"of {len(RING)} members; still drawable" in card
    assert f"and {len(RING) - 3} more members" in card
    assert f"xpg query ring {RING_ID} --data " in card
    # the report folder itself, as the run named it: the command runs as written
    assert f"--findings {tmp_path / '2026-11-20'} --limit {len(RING)}</code>" in card
    monkeypatch.undo()  # the whole ring fits the page of 25: no such line
    html = (night(dataset(), tmp_path / "whole").folder / "index.html").read_text()
    assert f"— {len(RING)} members, exposure" in html and "more members" not in html
