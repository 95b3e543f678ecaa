"""The nightly incremental run (xpg/nightly.py): byte-identical findings to a full run.

Each case builds the state from one snapshot, changes it (and, reversed, builds the state
from the changed snapshot and goes back), runs incrementally and compares the findings
document with `xpg detect`'s on the new snapshot, byte for byte; the run must have been
incremental (a fallback would make the comparison trivial).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil

import polars as pl
import pytest
from nightly_runs import run_nightly
from xpg.graph.nightly.state import NightlyState
from xpg.loaders.changes import change_set_between

import xpg.api as api
from xpg.settings import Settings

SEEDS = (7, 11, 3)


def _read(folder):
    return {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def _write(tables, folder):
    folder.mkdir(parents=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def _reference(folder, as_of=None):
    with api.open(data=folder, as_of=as_of) as session:
        return session.detect().document()


def _findings(folder):
    return json.loads(_reference(folder))["findings"]


def _rings(t):
    return [f for f in t["_findings"] if f["type"] == "ring"]


def _ml(t):
    return [f["users"][0] for f in t["_findings"] if f["type"] == "multi_lending"]


def _drop_user(t, user):
    out = dict(t)
    accounts = t["accounts"].filter(pl.col("user_id") == user).get_column("account_id")
    for name, frame in t.items():
        if name.startswith("_") or name in ("products", "lenders"):
            continue
        if name == "account_events":
            out[name] = frame.filter(~pl.col("account_id").is_in(accounts.implode()))
        else:
            out[name] = frame.filter(pl.col("user_id") != user)
    return out


def new_user(t):
    """A copy of a multi-lender under a new id (its accounts renamed), sharing its devices."""
    src = _ml(t)[0]
    out = dict(t)
    for name in ("users", "devices", "external_loans", "applications", "identifiers"):
        rows = t[name].filter(pl.col("user_id") == src).with_columns(
            pl.lit("u_new_1").alias("user_id"))
        out[name] = pl.concat([t[name], rows])
    acc = t["accounts"].filter(pl.col("user_id") == src)
    out["accounts"] = pl.concat([t["accounts"], acc.with_columns(
        pl.lit("u_new_1").alias("user_id"), (pl.col("account_id") + "_n").alias("account_id"))])
    ev = t["account_events"].join(acc.select("account_id"), on="account_id", how="semi")
    out["account_events"] = pl.concat([t["account_events"],
                                       ev.with_columns(pl.col("account_id") + "_n")])
    return out


def remove_ring_member(t):
    return _drop_user(t, _rings(t)[0]["users"][0])


def loans_and_accounts(t):
    """One multi-lender's loans closed; a quiet user borrows at four lenders; an account
    frozen for fraud; a limit changed."""
    out = dict(t)
    ml = _ml(t)
    loans = t["external_loans"]
    loans = loans.with_columns(pl.when(pl.col("user_id") == ml[1]).then(pl.lit("closed"))
                               .otherwise(pl.col("status")).alias("status"))
    flagged = {u for f in t["_findings"] for u in f["users"]}
    quiet = t["users"].filter(~pl.col("user_id").is_in(sorted(flagged))).get_column("user_id")[5]
    lenders = t["lenders"].get_column("lender_id").head(4).to_list()
    extra = pl.DataFrame({"user_id": [quiet] * 4, "lender_id": lenders,
                          "opened_at": [dt.date(2026, 11, 1)] * 4, "amount": [9000.0] * 4,
                          "outstanding": [8000.0] * 4, "status": ["open"] * 4,
                          "closed_at": [None] * 4}).cast(loans.schema)
    out["external_loans"] = pl.concat([loans, extra])
    acc = t["accounts"]
    two = acc.group_by("user_id").len().filter(pl.col("len") >= 2).sort("user_id")
    target = two.get_column("user_id")[3]
    first = acc.filter(pl.col("user_id") == target).get_column("account_id")[0]
    out["accounts"] = acc.with_columns(
        pl.when(pl.col("account_id") == first).then(pl.lit("frozen")).otherwise(pl.col("status"))
        .alias("status"),
        pl.when(pl.col("account_id") == first).then(pl.lit("fraud"))
        .otherwise(pl.col("status_reason")).alias("status_reason"),
        pl.when(pl.col("user_id") == two.get_column("user_id")[4])
        .then(pl.col("credit_limit") * 2).otherwise(pl.col("credit_limit")).alias("credit_limit"),
    )
    return out


def events(t):
    """One account's events dropped, another's doubled a day later."""
    out = dict(t)
    ev = t["account_events"]
    ids = ev.get_column("account_id").unique().sort()
    later = ev.filter(pl.col("account_id") == ids[1]).with_columns(
        pl.col("at") + pl.duration(days=1))
    out["account_events"] = pl.concat([ev.filter(pl.col("account_id") != ids[0]), later])
    return out


def merge_groups(t):
    """A member of one ring gets a device of another ring's member (two groups merge)."""
    a, b = _rings(t)[0]["users"][0], _rings(t)[1]["users"][0]
    dev = t["devices"].filter(pl.col("user_id") == b).head(1).with_columns(
        pl.lit(a).alias("user_id"))
    return {**t, "devices": pl.concat([t["devices"], dev])}


def split_group(t):
    """Every device and identifier of one ring member removed."""
    user = _rings(t)[1]["users"][1]
    return {**t, "devices": t["devices"].filter(pl.col("user_id") != user),
            "identifiers": t["identifiers"].filter(pl.col("user_id") != user)}


def make_hub(t):
    """A device shared in a ring gets enough users to be a hub (hub_max_users + 1)."""
    ring = _rings(t)[2]["users"]
    devices = t["devices"]
    shared = (devices.filter(pl.col("user_id").is_in(ring)).group_by("device_id").len()
              .sort("len", "device_id", descending=[True, False]).get_column("device_id")[0])
    have = devices.filter(pl.col("device_id") == shared).get_column("user_id").n_unique()
    hub = Settings().detection.ring.hub_max_users
    others = (t["users"].filter(~pl.col("user_id").is_in(ring)).get_column("user_id")
              .sort().head(hub + 1 - have + 0))
    rows = pl.DataFrame({"user_id": others, "device_id": shared}).with_columns(
        pl.lit(None).cast(devices.schema["first_seen"]).alias("first_seen"),
        pl.lit(None).cast(devices.schema["last_seen"]).alias("last_seen")).select(devices.columns)
    return {**t, "devices": pl.concat([devices, rows.cast(devices.schema)])}


def shared_tables(t):
    """A product's name and a lender's name changed."""
    return {**t,
            "products": t["products"].with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("renamed"))
                .otherwise(pl.col("name")).alias("name")),
            "lenders": t["lenders"].with_columns(
                pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("renamed"))
                .otherwise(pl.col("name")).alias("name"))}


def everything(t):
    for change in (new_user, loans_and_accounts, events, merge_groups, split_group, make_hub,
                   remove_ring_member, shared_tables):
        t = change({**t})
    return t


CHANGES = (new_user, remove_ring_member, loans_and_accounts, events, merge_groups,
           split_group, make_hub, shared_tables)


def _base(root, seed, users, shape="islands"):
    from xpg.synthetic import write

    folder = root / f"base-{shape}-{seed}"
    if not folder.exists():
        write(folder, users, seed, shape=shape)
        (folder / "truth.json").unlink()
    return folder


def _check(root, before, after, as_of=None, *, state_as_of=None):
    """Incremental from ``before``'s state on ``after``, hashing the snapshot and from a
    change set: both byte-identical to a full run (the change set used unless the run
    date moved)."""
    state = root / "state"
    shutil.rmtree(state, ignore_errors=True)
    first = run_nightly(before, Settings(), state, as_of=state_as_of)
    assert not first.incremental and NightlyState.open(state) is not None
    kept = root / "state-kept"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(state, kept)
    result = run_nightly(after, Settings(), state, as_of=as_of)
    assert result.incremental, result.reason
    reference = _reference(after, as_of)
    assert result.text() == reference, "incremental findings differ"
    changes = root / "changes"
    shutil.rmtree(changes, ignore_errors=True)
    change_set_between(before, after, changes)
    named = run_nightly(after, Settings(), kept, as_of=as_of, changes=changes)
    assert named.incremental, named.reason
    moved = (as_of or state_as_of) is not None and as_of != state_as_of
    shared = _read(before)["products"].equals(_read(after)["products"])
    assert (named.reason is None) == (not moved and shared), named.reason
    assert named.text() == reference, "incremental findings from a change set differ"
    assert named.changed_users == result.changed_users or named.reason
    # the next night from the change set's state: the same again
    again = run_nightly(after, Settings(), kept, as_of=as_of)
    assert again.incremental and again.changed_users == 0, again.reason
    assert again.text() == reference
    return result


def _changed(root, base, change, name):
    tables = _read(base)
    tables["_findings"] = _findings(base)
    changed = change(tables)
    changed.pop("_findings")
    return _write(changed, root / name)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("nightly")


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_each_change_both_ways(root, change):
    base = _base(root, 7, 3000)
    after = _changed(root, base, change, f"after-{change.__name__}")
    result = _check(root, base, after)
    assert 0 < result.changed_users < 3000 or change is shared_tables
    # the islands' groups are small: the ring stage runs over the reached groups only
    # (a renamed product changes every user with an account of it)
    assert result.ring_users < 300 or change is shared_tables, result.ring_users
    _check(root, after, base)  # and back: added/removed, merged/split, hub/un-hubbed


@pytest.mark.parametrize("seed", SEEDS)
def test_every_change_at_once_at_several_seeds(root, seed):
    base = _base(root, seed, 4000)
    after = _changed(root, base, everything, f"every-{seed}")
    _check(root, base, after)
    _check(root, after, base)


def _extra_device(t):
    """Every member of a ring also shares a new device ``dev_extra``."""
    ring = _rings(t)[0]["users"]
    devices = t["devices"]
    rows = pl.DataFrame({"user_id": ring, "device_id": ["dev_extra"] * len(ring)}).with_columns(
        pl.lit(None).cast(devices.schema["first_seen"]).alias("first_seen"),
        pl.lit(None).cast(devices.schema["last_seen"]).alias("last_seen"))
    return {**t, "devices": pl.concat([devices, rows.select(devices.columns)])}


def _extra_hub(t):
    """``dev_extra`` gets hub_max_users + 1 users: the ring keeps its members, loses it."""
    devices = t["devices"]
    have = devices.filter(pl.col("device_id") == "dev_extra").height
    hub = Settings().detection.ring.hub_max_users
    ring = devices.filter(pl.col("device_id") == "dev_extra").get_column("user_id")
    others = (t["users"].filter(~pl.col("user_id").is_in(ring.implode()))
              .get_column("user_id").sort().tail(hub + 1 - have))
    rows = pl.DataFrame({"user_id": others, "device_id": "dev_extra"}).with_columns(
        pl.lit(None).cast(devices.schema["first_seen"]).alias("first_seen"),
        pl.lit(None).cast(devices.schema["last_seen"]).alias("last_seen"))
    return {**t, "devices": pl.concat([devices, rows.select(devices.columns)])}


def test_a_hub_flip_reaches_rings_whose_members_did_not_change(root):
    base = _changed(root, _base(root, 7, 3000), _extra_device, "extra-base")
    after = _changed(root, base, _extra_hub, "extra-hub")
    before_ring = [f for f in _findings(base)
                   if f["type"] == "ring" and "dev_extra" in f["evidence"]["devices"]]
    assert before_ring, "the extra device is ring evidence before it becomes a hub"
    members = before_ring[0]["users"]
    now = [f for f in _findings(after) if f["type"] == "ring" and f["users"] == members]
    assert now and "dev_extra" not in now[0]["evidence"]["devices"]
    _check(root, base, after)
    _check(root, after, base)


def test_no_change_recomputes_nobody(root):
    base = _base(root, 7, 3000)
    result = _check(root, base, base)
    assert result.changed_users == 0


@pytest.mark.parametrize("days", [3, -12, 40])
def test_run_date_moves_the_windows(root, days):
    base = _base(root, 11, 3000)
    day = dt.date(2026, 11, 20)
    result = _check(root, base, base, day + dt.timedelta(days=days), state_as_of=day)
    assert result.ring_users == result.summary["users"], "a moved run date reaches every link"


def test_mixed_shape_giant_group(root):
    base = _base(root, 5, 4000, shape="mixed")
    findings = _findings(base)
    cores = [f for f in findings if f["type"] == "ring" and f["evidence"].get("core")]
    assert cores, "the mixed shape plants cores in its giant group"
    member = cores[0]["users"][0]

    def inside(t):
        t = {**t, "external_loans": t["external_loans"].filter(pl.col("user_id") != member)}
        return make_hub(merge_groups(t))

    after = _changed(root, base, inside, "after-giant")
    result = _check(root, base, after)
    assert result.ring_users > 2000, "a change in the giant group reaches all of it"
    _check(root, after, base)


def test_settings_change_falls_back_and_says_why(root):
    from xpg.settings import load_settings

    base = _base(root, 7, 3000)
    state = root / "state-settings"
    shutil.rmtree(state, ignore_errors=True)
    run_nightly(base, Settings(), state)
    other = load_settings(environ={}, overrides={"detection.ring.hub_max_users": 25})
    result = run_nightly(base, other, state)
    assert not result.incremental and "settings changed" in result.reason
    with api.open(data=base, settings=other) as session:
        assert result.text() == session.detect().document()
    again = run_nightly(base, other, state)  # the full run left a state for these settings
    assert again.incremental, again.reason


def test_csv_input_runs_in_full(root, tmp_path):
    from xpg.synthetic import write

    write(tmp_path / "csv", 500, 7, fmt="csv")
    result = run_nightly(tmp_path / "csv", Settings(), tmp_path / "state")
    assert not result.incremental
    again = run_nightly(tmp_path / "csv", Settings(), tmp_path / "state")
    assert not again.incremental and "CSV" in again.reason and "no state kept" in again.reason


def test_cli_incremental(root, tmp_path):
    from typer.testing import CliRunner

    from xpg.cli import app

    base = _base(root, 7, 3000)
    after = _changed(root, base, events, "cli-after")
    runner = CliRunner()
    state = tmp_path / "state"
    first = runner.invoke(app, ["detect", "--data", str(base), "--incremental", str(state),
                                "--out", str(tmp_path / "a.json")])
    assert first.exit_code == 0 and "full run (no state" in first.output
    second = runner.invoke(app, ["detect", "--data", str(after), "--incremental", str(state),
                                 "--out", str(tmp_path / "b.json")])
    assert second.exit_code == 0 and "incremental from" in second.output
    assert (tmp_path / "b.json").read_text() == _reference(after)


def _tree(folder):
    """Every file of a report folder but its run log, by relative path, with the times of
    writing (the page's footer, the manifest's ``generated_at``) and what hangs on them
    (the manifest's entries of the page and the log) left out."""
    tree = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run.log"}
    tree["index.html"] = re.sub(rb"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", b"",
                                tree["index.html"])
    manifest = json.loads(tree["manifest.json"])
    manifest.pop("generated_at")
    manifest["files"] = {k: v for k, v in manifest["files"].items()
                         if k not in ("index.html", "run.log")}
    tree["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return tree


def _state_bytes(state):
    return {p.name: p.read_bytes() for p in sorted(state.iterdir()) if p.is_file()}


def _xpg(capsys, *args):
    """``xpg ARGS`` as the console script runs it: exit code, stdout and stderr."""
    from xpg.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("named", [False, True], ids=["hashed", "change_set"])
def test_report_incremental_writes_the_full_reports_folder(root, tmp_path, capsys, named):
    base = _base(root, 7, 3000)
    after = _changed(root, base, merge_groups, f"report-after-{named}")
    extra = []
    if named:
        change_set_between(base, after, tmp_path / "changes")
        extra = ["--changes", tmp_path / "changes"]
    state, nightly, full = tmp_path / "state", tmp_path / "nightly", tmp_path / "full"
    code, said = _xpg(capsys, "report", "--data", base, "--out", nightly, "--incremental", state)
    assert code == 0 and "full run (no state" in said, said
    kept = _state_bytes(state)
    # the folder of that date exists: refused before the state moves on
    code, said = _xpg(capsys, "report", "--data", after, "--out", nightly, "--incremental", state)
    assert code == 2 and "already exists" in said, said
    assert _state_bytes(state) == kept
    code, said = _xpg(capsys, "report", "--data", after, "--out", nightly, "--incremental", state,
                      "--overwrite", *extra)
    assert code == 0 and "incremental from" in said and "users recomputed" in said, said
    assert ("change set not used" in said) is False, said
    code, said = _xpg(capsys, "report", "--data", after, "--out", full)
    assert code == 0, said
    (day,) = [p.name for p in full.iterdir() if p.is_dir()]
    got, want = _tree(nightly / day), _tree(full / day)
    assert sorted(got) == sorted(want) and "findings.json" in got
    differ = [name for name in want if got[name] != want[name]]
    assert differ == [], differ


@pytest.mark.parametrize("args, says", [
    (["--backend", "neo4j"], "runs in memory"),
    (["--pseudonymize"], "not with --pseudonymize"),
], ids=["neo4j", "pseudonymize"])
def test_report_incremental_refusals(root, tmp_path, capsys, args, says):
    code, said = _xpg(capsys, "report", "--data", _base(root, 7, 3000), "--out", tmp_path / "r",
                      "--incremental", tmp_path / "s", *args)
    assert code == 2 and says in said, said
    assert not (tmp_path / "s").exists() and not any((tmp_path / "r").glob("20*"))


def test_cli_says_no_state_is_kept_for_csv(tmp_path, capsys):
    from xpg.synthetic import write

    write(tmp_path / "csv", 500, 7, fmt="csv")
    code, said = _xpg(capsys, "detect", "--data", tmp_path / "csv", "--incremental",
                      tmp_path / "state", "--out", tmp_path / "f.json")
    assert code == 0 and "no state kept" in said and "state written" not in said, said
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("shape, seed", [("islands", 7), ("mixed", 5)])
def test_nights_in_a_row_from_incremental_states(root, shape, seed):
    """Each night seeds from the state the previous *incremental* night left (its
    component labels and hub degrees kept, not rebuilt): merges, splits, a hub and back."""
    base = _base(root, seed, 3000 if shape == "islands" else 4000, shape=shape)
    nights = [base]
    for change in (merge_groups, split_group, make_hub, new_user, remove_ring_member):
        nights.append(_changed(root, nights[-1], change, f"chain-{shape}-{len(nights)}"))
    nights.append(base)
    state = root / f"state-chain-{shape}"
    shutil.rmtree(state, ignore_errors=True)
    assert not run_nightly(base, Settings(), state).incremental
    for night in nights[1:]:
        result = run_nightly(night, Settings(), state)
        assert result.incremental, result.reason
        assert result.text() == _reference(night), f"night {night.name} differs"


def test_a_session_opened_for_the_night_detects_before_it_loads_the_tables(root, tmp_path):
    """``xpg.open(incremental=)``: the memory backend's detection given the previous night
    reads the night's data itself, nothing is loaded before it; the tables are read when
    first asked for (the report, an investigation), and the findings stay the night's."""
    base = _base(root, 7, 3000)
    after = _changed(root, base, merge_groups, "session-after")
    state = tmp_path / "state"
    with api.open(data=base, incremental=state) as s:
        s.detect()
        assert s.night is not None and not s.night.incremental
    with api.open(data=after, incremental=state) as s:
        assert s._dataset is None
        report = s.findings()  # the night's detection, once
        assert s.night is not None and s.night.incremental, s.night.reason
        assert s._dataset is None, "the detection loaded the whole snapshot"
        assert report.document() == _reference(after)
        ring = next(f for f in report.findings if f.type == "ring")
        assert {m.user_id for m in s.ring(ring.id).members} == set(ring.users)
        assert s._dataset is not None and s.findings() is report
        written = s.report(tmp_path / "reports")
    assert (written.folder / "findings.json").is_file()
    with pytest.raises(api.InputError, match="incremental: give data="):
        api.open(dataset=None, incremental=state)
    with pytest.raises(api.InputError, match="changes: give incremental="):
        api.open(data=after, changes=tmp_path / "changes")
