"""The stored state (xpg state build, xpg query --state): the same answers as the full
path, and never used once the data, the settings, the findings or the date differ."""

from __future__ import annotations

import json
import os
import random
import shutil

import polars as pl
import pytest
from investigation_data import write_dataset
from xpg.graph.state import StateBackend

import xpg.api as api
from xpg.cli import main
from xpg.errors import BackendError
from xpg.settings import Settings

USED = "answering from the stored state"
NOT_USED = "not used:"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated dataset, its state, and the full-path session's reference answers."""
    from xpg.synthetic import write

    root = tmp_path_factory.mktemp("state")
    write(root / "data", 1500, 7)
    with api.open(data=root / "data") as s:
        s.write_state(root / "state")
    return root


def _sample(root, k=25):
    members = pl.read_parquet(root / "state" / "finding_users.parquet")
    users = pl.read_parquet(root / "state" / "users.parquet").get_column("user_id").to_list()
    rng = random.Random(7)
    flagged = sorted(set(members.get_column("user_id").to_list()))
    rings = sorted(set(members.filter(pl.col("type") == "ring")
                       .get_column("finding_id").to_list()))
    return (rng.sample(flagged, min(k, len(flagged))) + rng.sample(users, k), rings)


def test_every_query_from_the_state_is_the_full_paths(generated):
    users, rings = _sample(generated)
    assert rings, "the generated data has rings"
    lenders = pl.read_parquet(generated / "state" / "lenders.parquet").get_column(
        "lender_id").to_list()
    with api.open(data=generated / "data") as full, \
            api.open(data=generated / "data", state=generated / "state") as cold:
        assert isinstance(cold.backend, StateBackend)
        with pytest.raises(BackendError, match="cannot give its tables"):
            cold.dataset  # noqa: B018 -- the state holds no tables to give
        assert cold.state_note.startswith(USED)
        for u in users:
            for hops in (0, 1, 2):
                assert cold.user(u, hops=hops).to_json() == full.user(u, hops=hops).to_json()
            assert cold.group(u).to_json() == full.group(u).to_json()
            # account events included: the state keeps them by user
            assert cold.timeline(u).to_json() == full.timeline(u).to_json()
        for r in rings:
            assert cold.ring(r).to_json() == full.ring(r).to_json()
        for lender in lenders:
            assert cold.lender(lender).to_json() == full.lender(lender).to_json()
        for a, b in zip(users[:10], users[10:20], strict=True):
            assert cold.path(a, b).to_json() == full.path(a, b).to_json()
        assert cold.findings().to_dict() == full.findings().to_dict()


def test_the_shared_nodes_of_a_state_are_the_link_degrees(generated, monkeypatch):
    """The state keeps the nodes two or more users share (as of its run date) with their
    users: they are the in-memory ``link_degrees`` of every node of more than one user,
    and a group's hub check answered from them reads no ``links_by_node`` part."""
    from xpg.queries.investigate.sources import NODE_SEPARATOR, MemorySource
    from xpg.queries.investigate.state import SHARED_NODES, State

    state = State.open(generated / "state")
    shared = pl.read_parquet(state.parts(SHARED_NODES))
    rows = pl.read_parquet(state.parts("links_by_node")).select("kind", "value").unique()
    with api.open(data=generated / "data") as full:
        degrees = MemorySource(full.dataset).link_degrees(rows, state.as_of)
    expected = degrees.filter(pl.col("users") >= 2).select(
        (pl.col("kind") + NODE_SEPARATOR + pl.col("value")).alias("node"), "users").sort("node")
    assert shared.height > 10 and shared.equals(expected)
    read: list[str] = []
    parts = State.parts
    monkeypatch.setattr(State, "parts", lambda self, name, values=None: (
        read.append(name), parts(self, name, values))[1])
    users, _ = _sample(generated, 10)
    with api.open(data=generated / "data") as full, \
            api.open(data=generated / "data", state=generated / "state") as cold:
        for u in users:
            read.clear()
            assert cold.group(u).to_json() == full.group(u).to_json()
            assert SHARED_NODES in read and "links_by_node" not in read


def test_the_cli_says_it_used_the_state_and_answers_the_same(generated, capsys):
    _, rings = _sample(generated)
    args = ["query", "ring", rings[0], "--data", str(generated / "data"), "--format", "json"]
    assert main([*args, "--state", str(generated / "state")]) == 0
    cold = capsys.readouterr()
    assert USED in cold.err
    assert main(args) == 0
    full = capsys.readouterr()
    assert "state" not in full.err and cold.out == full.out


# What detection, loading and the other commands need, and a cold query answered from a
# stored state does not: each would cost a cold `xpg query` its import time.
NOT_FOR_A_COLD_QUERY = ("numpy", "scipy", "networkx", "phonenumbers", "rich.table",
                        "xpg.loaders.load", "xpg.linkgraph.links", "xpg.graph.memory",
                        "xpg.report")


@pytest.mark.parametrize("ask", ["user", "ring", "group"])
def test_a_cold_query_from_the_state_imports_only_what_it_needs(generated, ask):
    """A fresh process answering ``xpg query user|ring|group --format json`` from a stored
    state imports no detection, loading or drawing library, and answers as the full path."""
    import subprocess
    import sys

    users, rings = _sample(generated)
    asked = rings[0] if ask == "ring" else users[0]
    args = ["query", ask, asked, "--data", str(generated / "data"), "--format", "json"]
    probe = ("import json, sys\nfrom xpg.cli import main\n"
             f"code = main({[*args, '--state', str(generated / 'state')]!r})\n"
             f"print(json.dumps([m for m in {NOT_FOR_A_COLD_QUERY!r} if m in sys.modules]),"
             " file=sys.stderr)\nsys.exit(code)\n")
    cold = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert cold.returncode == 0, cold.stderr
    assert USED in cold.stderr
    assert json.loads(cold.stderr.strip().splitlines()[-1]) == []
    with api.open(data=generated / "data") as full:
        view = {"user": full.user, "ring": full.ring, "group": full.group}[ask](asked)
        assert cold.stdout == view.to_json() + "\n"


def test_a_state_built_into_a_report_folder_is_found_from_findings(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    with api.open(data=data) as s:
        report = s.report(tmp_path / "reports")
    folder = report.folder
    assert main(["state", "build", "--data", str(data), "--findings", str(folder)]) == 0
    assert (folder / "state" / "manifest.json").is_file()
    capsys.readouterr()
    args = ["query", "user", "u1", "--data", str(data), "--hops", "2", "--format", "json"]
    assert main([*args, "--findings", str(folder)]) == 0
    cold = capsys.readouterr()
    assert USED in cold.err
    shutil.rmtree(folder / "state")
    assert main([*args, "--findings", str(folder)]) == 0
    full = capsys.readouterr()
    assert cold.out == full.out
    # the state holds the report's findings: without --findings it does not fit
    with api.open(data=data) as s:
        s.write_state(tmp_path / "s2", overwrite=True)
    with api.open(data=data, findings=folder) as s:
        s.write_state(tmp_path / "s3")
    assert main([*args, "--state", str(tmp_path / "s3")]) == 0
    assert "holds the findings of a report" in capsys.readouterr().err


@pytest.fixture
def small(tmp_path):
    data = write_dataset(tmp_path / "data")
    with api.open(data=data) as s:
        s.write_state(tmp_path / "state")
    return tmp_path


def _query(capsys, small, *extra):
    code = main(["query", "user", "u1", "--data", str(small / "data"), "--state",
                 str(small / "state"), "--format", "json", *extra])
    out = capsys.readouterr()
    assert code == 0
    return out


def test_a_changed_input_file_makes_the_state_unused(small, capsys):
    before = _query(capsys, small)
    assert USED in before.err
    users = small / "data" / "users.parquet"
    st = users.stat()
    os.utime(users, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = _query(capsys, small)
    assert NOT_USED in after.err and "changed users.parquet" in after.err
    assert "loading the data instead" in after.err
    assert after.out == before.out  # same data: the full path's answer
    (small / "data" / "extra.csv").write_text("x\n1\n")
    assert "added extra.csv" in _query(capsys, small).err


def test_a_changed_file_changes_the_answer_not_the_state(small, capsys):
    """Rows changed under the state: the full path answers, with the new rows."""
    before = _query(capsys, small)
    users = small / "data" / "users.parquet"
    frame = pl.read_parquet(users).with_columns(
        pl.when(pl.col("user_id") == "u1").then(pl.lit(1)).otherwise(pl.col("credit_score"))
        .cast(pl.Int64).alias("credit_score"))
    frame.write_parquet(users)
    after = _query(capsys, small)
    assert NOT_USED in after.err
    assert json.loads(after.out)["credit_score"] == 1 != json.loads(before.out)["credit_score"]


def test_changed_settings_make_the_state_unused(small, capsys):
    config = small / "hub.toml"
    config.write_text("[detection.ring]\nhub_max_users = 3\n")
    out = _query(capsys, small, "--config", str(config))
    assert NOT_USED in out.err and "settings differ" in out.err


def test_another_run_date_makes_the_state_unused(small, capsys):
    out = _query(capsys, small, "--as-of", "2026-11-20")  # the state: 2026-12-01
    assert NOT_USED in out.err and "not of 2026-11-20" in out.err
    assert USED in _query(capsys, small, "--as-of", "2026-12-01").err


def test_the_state_session_refuses_to_detect_another_date(small):
    with api.open(state=small / "state") as s:  # the data folder the state records
        assert s.as_of.isoformat() == "2026-12-01"
        with pytest.raises(BackendError, match="cannot detect"):
            s.findings("2026-11-01")


def test_no_state_there_is_an_input_error(small, capsys):
    code = main(["query", "user", "u1", "--data", str(small / "data"), "--state",
                 str(small / "nothing")])
    assert code == 2 and "no xpg state" in capsys.readouterr().err


def test_the_settings_fingerprint_ignores_the_backend():
    from xpg.queries.investigate.state import settings_fingerprint

    base = Settings()
    assert settings_fingerprint(base) == settings_fingerprint(base.replace(backend="neo4j"))
