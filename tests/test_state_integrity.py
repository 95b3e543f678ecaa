"""A stored state that cannot lie: a flipped byte, a truncated file, a deleted file and
another night's file in a state are each refused (exit 9 without --data) or fallen back
from (the data answers, stderr says why), never answered from; findings documents that
do not match their report's manifest or their data are refused; detect and report keep
the state where `xpg query --data` finds it."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
import test_state
from investigation_data import write_dataset
from xpg.queries.investigate.state import (
    CHECKSUM,
    MANIFEST,
    State,
    default_location,
    sealed,
)

import xpg.api as api
from xpg.cli import main
from xpg.errors import StateDamagedError
from xpg.settings import load_settings

USED = "answering from the stored state"
small = test_state.small  # the fixture: a small data folder and its state


def _query(capsys, small, *extra, data=True):
    args = ["query", "user", "u1", "--state", str(small / "state"), "--format", "json"]
    if data:
        args += ["--data", str(small / "data")]
    code = main([*args, *extra])
    return code, capsys.readouterr()


def _flip(path, at=None):
    raw = bytearray(path.read_bytes())
    i = len(raw) // 2 if at is None else at
    raw[i] ^= 0x01
    path.write_bytes(bytes(raw))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


def _delete(path):
    path.unlink()


DAMAGES = {"flipped byte": _flip, "truncated": _truncate, "deleted": _delete}


@pytest.mark.parametrize("table", ["accounts", "findings", "links_by_user"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_state_falls_back_to_the_data_with_data(small, capsys, damage, table):
    code, reference = _query(capsys, small, "--state", str(small / "nowhere"))
    assert code == 2  # (no state there: an input error)
    full = main(["query", "user", "u1", "--data", str(small / "data"), "--format", "json"])
    reference = capsys.readouterr()
    assert full == 0
    DAMAGES[damage](small / "state" / f"{table}.parquet")
    code, out = _query(capsys, small)
    assert code == 0
    assert USED not in out.err and "loading the data instead" in out.err
    assert f"{table}.parquet" in out.err
    assert out.out == reference.out  # the data's answer, never the damaged state's


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_state_is_an_error_of_its_class_without_data(small, capsys, damage):
    DAMAGES[damage](small / "state" / "accounts.parquet")
    code, out = _query(capsys, small, data=False)
    assert code == 9, out.err
    assert "accounts.parquet" in out.err and "Traceback" not in out.err
    assert out.out == ""


def test_another_nights_file_in_a_state_is_refused(tmp_path, capsys):
    """Two nights' states of one data folder: a file of one copied into the other (same
    name, other content) is caught, even where its size happens to match."""
    data = write_dataset(tmp_path / "data")
    with api.open(data=data) as s:
        s.write_state(tmp_path / "night1", as_of="2026-11-20")
        s.write_state(tmp_path / "night2", as_of="2026-12-01")
    one, two = State.open(tmp_path / "night1"), State.open(tmp_path / "night2")
    name = next(n for n in sorted(two.manifest["files"])
                if one.manifest["files"][n][CHECKSUM] != two.manifest["files"][n][CHECKSUM])
    shutil.copyfile(tmp_path / "night1" / name, tmp_path / "night2" / name)
    # the manifest's size, so that only the content check can tell
    manifest = json.loads((tmp_path / "night2" / MANIFEST).read_text())
    manifest["files"][name]["bytes"] = (tmp_path / "night2" / name).stat().st_size
    (tmp_path / "night2" / MANIFEST).write_text(json.dumps(sealed(manifest)))
    with pytest.raises(StateDamagedError, match="another run"):
        State.open(tmp_path / "night2").verify()
    code = main(["query", "user", "u1", "--state", str(tmp_path / "night2"), "--as-of",
                 "2026-12-01", "--format", "json"])
    out = capsys.readouterr()
    assert code == 9 and name in out.err and out.out == ""


def test_a_file_the_manifest_does_not_list_is_refused(small, capsys):
    shutil.copyfile(small / "state" / "users.parquet", small / "state" / "old.parquet")
    code, out = _query(capsys, small)
    assert code == 0 and "old.parquet" in out.err and "loading the data instead" in out.err
    code, out = _query(capsys, small, data=False)
    assert code == 9


def test_state_verify(small, capsys):
    assert main(["state", "verify", str(small / "state")]) == 0
    _flip(small / "state" / "lenders.parquet")
    assert main(["state", "verify", str(small / "state")]) == 9
    assert "lenders.parquet" in capsys.readouterr().err


# -- findings documents -------------------------------------------------------------------


@pytest.fixture
def report(tmp_path):
    data = write_dataset(tmp_path / "data")
    with api.open(data=data) as s:
        folder = s.report(tmp_path / "reports").folder
    return data, folder


def _edit(folder, change):
    doc = json.loads((folder / "findings.json").read_text())
    change(doc)
    (folder / "findings.json").write_text(json.dumps(doc, indent=2))


def test_findings_changed_since_their_report_are_refused(report, capsys):
    data, folder = report
    _edit(folder, lambda d: d["findings"][0].update(severity="low"))
    code = main(["query", "user", "u1", "--data", str(data), "--findings", str(folder)])
    err = capsys.readouterr().err
    assert code == 9 and "SHA-256" in err and "Traceback" not in err


def test_findings_of_another_night_are_refused(report, tmp_path, capsys):
    data, folder = report
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(folder / "findings.json", other / "findings.json")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["as_of"] = "2026-01-01"
    (other / "manifest.json").write_text(json.dumps(manifest))
    code = main(["query", "user", "u1", "--data", str(data), "--findings", str(other)])
    err = capsys.readouterr().err
    assert code == 9 and "run of 2026-01-01" in err
    # one error, with the hint that helps (the data was given; no state is at fault)
    assert "loading the data instead" not in err and "leave out --findings" in err


@pytest.mark.parametrize("edit, says", [
    (lambda d: d["findings"][0]["users"].__setitem__(0, "nobody-9"), "not in the data"),
    (lambda d: d["findings"].append(d["findings"][0]), "repeats the finding id"),
    (lambda d: d["findings"][0].update(users=[]), "0 member(s)"),
    (lambda d: d["findings"][0].update(type="ring", users=d["findings"][0]["users"][:1]),
     "(ring) has 1 member(s)"),
])
def test_hand_edited_findings_are_refused(report, tmp_path, capsys, edit, says):
    data, folder = report
    bare = tmp_path / "bare.json"  # no manifest beside it: checked against the data
    doc = json.loads((folder / "findings.json").read_text())
    edit(doc)
    bare.write_text(json.dumps(doc))
    code = main(["query", "user", "u1", "--data", str(data), "--findings", str(bare)])
    assert code == 9 and says in capsys.readouterr().err


# -- the state detect and report keep -----------------------------------------------------


def test_detect_keeps_the_state_query_finds_it(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    assert main(["detect", "--data", str(data), "--out", str(tmp_path / "f.json")]) == 0
    err = capsys.readouterr().err
    where = default_location(data, load_settings())
    assert str(where) in err and (where / MANIFEST).is_file()
    args = ["query", "user", "u1", "--data", str(data), "--format", "json"]
    assert main(args) == 0
    cold = capsys.readouterr()
    assert USED in cold.err
    assert main([*args, "--state", str(tmp_path / "none")]) == 2
    capsys.readouterr()
    shutil.rmtree(where)
    assert main(args) == 0
    full = capsys.readouterr()
    assert "state" not in full.err and full.out == cold.out


def test_report_keeps_the_state_and_a_damaged_one_is_dropped(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    assert main(["report", "--data", str(data), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    where = default_location(data, load_settings())
    capsys.readouterr()
    args = ["query", "user", "u1", "--data", str(data), "--format", "json"]
    assert main(args) == 0
    cold = capsys.readouterr()
    assert USED in cold.err and json.loads(cold.out)["findings"]
    _flip(where / "findings.parquet")
    assert main(args) == 0
    fallen = capsys.readouterr()
    assert "loading the data instead" in fallen.err and fallen.out == cold.out


def test_no_state_is_written_when_asked_not_to(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    config = tmp_path / "c.toml"
    config.write_text("[state]\nwrite = false\n")
    assert main(["detect", "--data", str(data), "--config", str(config), "--out",
                 str(tmp_path / "f.json")]) == 0
    assert not default_location(data, load_settings(config)).exists()


def test_old_states_are_pruned(tmp_path):
    from xpg.queries.investigate.state import prune_states

    data = write_dataset(tmp_path / "data")
    with api.open(data=data) as s:
        for i in range(3):
            s.write_state(tmp_path / "states" / f"s{i}")
    gone = prune_states(tmp_path / "states", 2)
    assert [p.name for p in gone] == ["s0"]


# -- one state: cold queries and the nightly incremental run ------------------------------


def test_one_state_serves_the_incremental_run_and_cold_queries(tmp_path, capsys):
    """`xpg report --incremental auto` keeps one folder (the one `xpg query --data` finds):
    the investigation tables for cold queries and the nightly part the next night's
    incremental run starts from, each checked against its manifest."""
    from xpg.synthetic import write

    data = tmp_path / "data"
    write(data, 600, 7)
    args = ["report", "--data", str(data), "--out", str(tmp_path / "r"), "--incremental",
            "auto", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    where = default_location(data, load_settings())
    assert (where / MANIFEST).is_file() and (where / "nightly" / "nightly.json").is_file()
    State.open(where).verify()
    user = pl.read_parquet(where / "users.parquet").get_column("user_id")[0]
    assert main(["query", "user", user, "--data", str(data), "--format", "json"]) == 0
    assert USED in capsys.readouterr().err
    # the next night (same data): incremental from the nightly part, the state rewritten
    assert main([*args, "--overwrite"]) == 0
    assert (where / "nightly" / "nightly.json").is_file()
    State.open(where).verify()
    assert main(["query", "user", user, "--data", str(data), "--format", "json"]) == 0
    assert USED in capsys.readouterr().err
    # a damaged nightly part: the next run is a full one, saying why
    from nightly_runs import run_nightly

    from xpg.settings import Settings

    raw = bytearray((where / "nightly" / "findings.arrow").read_bytes())
    raw[len(raw) // 2] ^= 1
    (where / "nightly" / "findings.arrow").write_bytes(bytes(raw))
    result = run_nightly(data, Settings(), where / "nightly", write_state=False)
    assert not result.incremental and "checksum" in result.reason


def test_a_state_in_parts_answers_the_same_and_checks_only_what_it_reads(tmp_path, monkeypatch):
    """Large tables are written in parts of consecutive keys (a lookup hashes the parts
    it reads); a damaged part is refused when a lookup reaches it."""
    import xpg.queries.investigate.state as state_module

    from xpg.synthetic import write

    monkeypatch.setattr(state_module, "PART_ROWS", 300)
    write(tmp_path / "data", 800, 7)
    with api.open(data=tmp_path / "data") as s:
        s.write_state(tmp_path / "state")
        users = s.dataset.users.get_column("user_id").sort().to_list()
        st = State.open(tmp_path / "state")
        assert len(st.manifest["parts"]["links_by_user"]) > 2
        with api.open(data=tmp_path / "data", state=tmp_path / "state") as cold:
            for u in users[::97]:
                assert cold.user(u, hops=1).to_json() == s.user(u, hops=1).to_json()
                assert cold.group(u).to_json() == s.group(u).to_json()
    _, lo, _ = st.manifest["parts"]["accounts"][0]
    last = st.manifest["parts"]["accounts"][-1][0]
    raw = bytearray((tmp_path / "state" / last).read_bytes())
    raw[len(raw) // 2] ^= 1
    (tmp_path / "state" / last).write_bytes(bytes(raw))
    with api.open(state=tmp_path / "state") as cold:
        cold.user(lo)  # its parts are whole
        with pytest.raises(StateDamagedError, match=last):
            cold.user(users[-1])


def test_the_service_checks_its_state_first_and_falls_back_to_the_data(small, capsys):
    """`xpg serve` over a stored state checks every file before serving: a damaged one
    with --data serves the data (saying why); without --data it is the error (exit 9).
    A request finding the damage would have answered 500 until a restart."""
    from xpg.graph.state import StateBackend

    from xpg.cli.serve import _open_checked

    settings = load_settings(environ={})
    with _open_checked(api, small / "data", settings, None, None, small / "state") as s:
        assert isinstance(s.backend, StateBackend)  # whole: answered from
    _flip(small / "state" / "users.parquet")
    with _open_checked(api, small / "data", settings, None, None, small / "state") as s:
        assert not isinstance(s.backend, StateBackend)
        assert s.user("u1").user_id == "u1"
    assert "stored state not used: state:" in capsys.readouterr().err
    with pytest.raises(StateDamagedError, match=r"users\.parquet"):
        _open_checked(api, None, settings, None, None, small / "state")



@pytest.mark.parametrize("edit", [
    lambda m: m.update(as_of="2026-11-19"),  # a date: the state would answer for it
    lambda m: m["parts"]["users"][0].__setitem__(1, "0"),  # a part's key range
    lambda m: m["files"][next(iter(m["files"]))].__setitem__("bytes", "12"),
])
def test_an_edited_or_damaged_manifest_is_refused(small, capsys, edit):
    """The manifest carries its own checksum: an edit (a flipped byte) of a date, a part's
    key range or a file's entry is refused (exit 9), never a traceback or an answer for
    another date or keys; a manifest sealed again but of another shape is refused too."""
    manifest = json.loads((small / "state" / MANIFEST).read_text())
    edit(manifest)
    (small / "state" / MANIFEST).write_text(json.dumps(manifest))
    code, got = _query(capsys, small, data=False)
    assert code == 9 and "does not match its own checksum" in got.err
    assert "Traceback" not in got.err
    # sealed again (tampering, not damage): a field of the wrong shape is still refused,
    # and nothing is a traceback
    (small / "state" / MANIFEST).write_text(json.dumps(sealed(manifest)))
    code, got = _query(capsys, small, data=False)
    assert "Traceback" not in got.err
    if isinstance(next(iter(manifest["files"].values()))["bytes"], str):
        assert code == 9 and "without its size and checksum" in got.err



def test_state_verify_says_a_state_of_another_layout_would_not_be_used(small, capsys):
    manifest = json.loads((small / "state" / MANIFEST).read_text())
    manifest["version"] = 2
    (small / "state" / MANIFEST).write_text(json.dumps(manifest))
    assert main(["state", "verify", str(small / "state")]) == 2
    assert "has layout version 2, this xpg reads" in capsys.readouterr().err
