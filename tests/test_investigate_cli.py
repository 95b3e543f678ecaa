"""`xpg query ...` on the hand-made fixture written to disk: tables, JSON, exports, exit codes."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from investigation_data import RING, dataset, write_dataset
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.cli import main

RING_ID = stable_id("ring", list(RING))
DAY = ["--as-of", "2026-11-20"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(write_dataset(tmp_path_factory.mktemp("fx")))


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tables as wide as they need (a test worker's terminal may say 80 columns)."""
    monkeypatch.setenv("COLUMNS", "200")


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_user_table(data, capsys):
    code, out, _ = run(capsys, "query", "user", "u1", "--data", data, "--hops", "2", *DAY)
    assert code == 0
    assert "User u1 as of 2026-11-20" in out and "exposure 13,100.00 CNY" in out
    assert "a hub (over 20)" in out and "u1 holds 1 open loan at L2" in out
    assert "phone ****0001" in out and RING_ID in out


def test_user_json_is_the_api_view(data, capsys):
    code, out, _ = run(capsys, "query", "user", "u3", "--data", data, "--format", "json", *DAY)
    assert code == 0
    with api.open(data=data) as s:
        assert json.loads(out) == s.user("u3", as_of="2026-11-20").to_dict()


def test_ring_table_and_export(data, capsys, tmp_path):
    target = tmp_path / "ring.graphml"
    code, out, err = run(capsys, "query", "ring", RING_ID, "--data", data, "--export",
                         str(target), *DAY)
    assert code == 0
    assert "4 members" in out and "partly frozen" in out and "L2 (Lender 2)" in out
    assert f"subgraph written to {target}" in err
    g = nx.read_graphml(target)
    assert sorted(n for n, k in g.nodes(data="kind") if k == "user") == [
        f"user:{u}" for u in RING]


def test_ring_limit_lists_the_largest_exposures_and_says_how_many_more(data, capsys):
    import json

    code, out, _ = run(capsys, "query", "ring", RING_ID, "--data", data, "--limit", "1", *DAY)
    assert code == 0 and "and 3 more members (--limit to list more" in out
    code, doc, _ = run(capsys, "query", "ring", RING_ID, "--data", data, "--format", "json",
                       *DAY)
    members = json.loads(doc)["members"]
    top = max(members, key=lambda m: (m["exposure"]["total"], [-ord(c) for c in m["user_id"]]))
    table = out.split("Shared devices")[0].split("Members")[1]
    listed = [u for u in RING if f" {u} " in table]
    assert listed == [top["user_id"]]
    code, out, _ = run(capsys, "query", "ring", RING_ID, "--data", data, *DAY)
    assert "more member" not in out  # the default page holds the ring
    assert run(capsys, "query", "ring", RING_ID, "--data", data, "--limit", "0")[0] == 2


def test_path_and_node_link_export(data, capsys, tmp_path):
    target = tmp_path / "path.json"
    code, out, _ = run(capsys, "query", "path", "u1", "u4", "--data", data, "--export",
                       str(target), *DAY)
    assert code == 0
    assert "3 hop(s)" in out and "u1 —[d1]— u2 —[phone ****0001]— u3 —[d2]— u4" in out
    doc = json.loads(target.read_text())
    assert {n["id"] for n in doc["nodes"]} >= {"user:u1", "user:u4", "device:d1"}
    code, out, _ = run(capsys, "query", "path", "u5", "u1", "--data", data, *DAY)
    assert code == 0 and "No chain of at most 6 hops" in out
    code, out, _ = run(capsys, "query", "path", "u5", "u1", "--data", data, "--via-lenders",
                       "--format", "json", *DAY)
    assert json.loads(out)["users"] == ["u5", "u6", "u2", "u1"]


def test_lender(data, capsys):
    code, out, _ = run(capsys, "query", "lender", "L2", "--data", data, *DAY)
    assert code == 0
    assert "3 borrowers with open loans, 2,250.00 CNY outstanding" in out
    assert RING_ID in out


@pytest.mark.parametrize(
    "args",
    [
        ("query", "user", "nobody"),
        ("query", "ring", "ring-000000000000"),
        ("query", "path", "u1", "nobody"),
        ("query", "lender", "LX"),
    ],
)
def test_unknown_ids_exit_4(data, capsys, args):
    code, out, err = run(capsys, *args, "--data", data)
    assert code == 4 and out == "" and "unknown" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("query", "user", "u1", "--hops", "5"), "--hops"),
        (("query", "user", "u1", "--format", "xml"), "--format"),
        (("query", "path", "u1", "u2", "--max-hops", "0"), "--max-hops"),
        (("query", "user", "u1", "--export", "x.png"), ".graphml or .json"),
        (("query", "user", "u1", "--as-of", "yesterday"), "not a date"),
    ],
)
def test_bad_usage_exit_2(data, capsys, args, message):
    code, _, err = run(capsys, *args, "--data", data)
    assert code == 2 and message in err


def test_missing_data_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, "query", "user", "u1", "--data", str(tmp_path / "none"))
    assert code == 2 and "not a directory" in err


def test_ring_by_the_id_a_report_carried(data, capsys, tmp_path):
    import dataclasses

    with api.open(dataset=dataset()) as s:
        report = s.findings("2026-11-20")
    ring = next(f for f in report.findings if f.type == "ring")
    carried = dataclasses.replace(ring, id="ring-firstseen", evidence={
        **ring.evidence, "lineage": {"detected_id": ring.id}})
    doc = tmp_path / "findings.json"
    doc.write_text(dataclasses.replace(report, findings=(carried,)).to_json())
    code, out, _ = run(capsys, "query", "ring", "ring-firstseen", "--data", data,
                       "--findings", str(doc), "--format", "json")
    assert code == 0 and json.loads(out)["id"] == "ring-firstseen"


def test_a_member_of_a_whole_group_ring_is_said_to_be_in_it(data, capsys):
    code, out, _ = run(capsys, "query", "user", "u1", "--data", data, *DAY)
    assert code == 0 and "in no multi-lending core" not in out
    assert f"a member of ring {RING_ID} (the group judged whole)" in " ".join(out.split())
    code, out, _ = run(capsys, "query", "user", "u8", "--data", data, *DAY)
    assert code == 0 and "in no ring" in out


def test_a_group_with_no_hub_cut_prints_no_hub_table(data, capsys):
    code, out, _ = run(capsys, "query", "group", "u1", "--data", data, *DAY)
    assert code == 0 and "1 hub cut" in out and "Largest hubs cut" in out  # dhub
    code, out, _ = run(capsys, "query", "group", "u8", "--data", data, *DAY)
    assert code == 0 and "Connected group of u8 as of 2026-11-20  ·  1 user (" in out
    assert "0 hubs cut" in out and "Largest hubs cut" not in out
    assert "0 rings found" in out and "Rings found" not in out
