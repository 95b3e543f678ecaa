"""The offline import (first load) against the Cypher load, and the GDS ring path, on real Neo4j.

The imported graph must equal the Cypher-loaded one by the typed dump (labels, properties
and their types, relationships and their ends), with the same bookkeeping node, and give
identical findings: on xpg's own second server (``neo4j_own_server``), which has the Graph
Data Science plugin, so its detections take the GDS ring path, compared with the Cypher
path on the same graph and with the session server's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys

import polars as pl
import pytest
from neo4j_server import dump, wipe
from xpg.graph.memory import MemoryBackend
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.hooks import Neo4jHooks
from xpg.graph.neo4j.importer import LOCAL_SCRIPT, offline_import, write_import_files
from xpg.queries.detections import run_detections

from xpg.errors import InputError
from xpg.settings import DetectionConfig
from xpg.synthetic import generate, write

pytestmark = pytest.mark.neo4j

_META_TIMES = {"started_at", "completed_at"}


def _dataset():
    """Generated data (rings, multi-lending, freezes, events, identifiers) with extra columns
    of every importable type, quotes, commas, an empty string and a line break in text."""
    ds = generate(300, 5).dataset()
    n = ds.users.height
    users = ds.users.with_columns(
        nickname=pl.Series(["a \"quoted\", name", "", None, "two\nlines"] * (n // 4 + 1))[:n],
        vip=pl.Series([True, False, None] * (n // 3 + 1))[:n],
        ratio=pl.Series([0.1, 2.5e-300, None, -3.0] * (n // 4 + 1))[:n],
        since=pl.Series([dt.date(2020, 1, 2), None] * (n // 2 + 1))[:n],
        load=pl.lit(9, pl.Int32),  # a reserved name: stored as extra_load
    )
    loans = ds.external_loans.with_columns(channel=pl.lit("app"))
    return dataclasses.replace(ds, users=users, external_loans=loans)


@pytest.fixture
def own_backend(neo4j_own_server):
    """A backend on the own server, over a wiped database (constraints kept)."""
    with Neo4jBackend(neo4j_own_server.config) as backend:
        wipe(backend.driver, neo4j_own_server.config.database)
    return neo4j_own_server


def _meta(backend: Neo4jBackend) -> dict:
    meta = backend.meta()
    assert meta is not None
    return {k: v for k, v in meta.items() if k not in _META_TIMES}


def test_the_import_gives_the_cypher_graph_and_the_same_findings(neo4j_backend, own_backend):
    dataset = _dataset()
    neo4j_backend.load(dataset)
    stats = offline_import(dataset, own_backend.config, state=own_backend.state)
    config = DetectionConfig()
    with Neo4jBackend(own_backend.config) as imported:
        assert dump(imported) == dump(neo4j_backend)
        assert _meta(imported) == _meta(neo4j_backend)
        assert imported.meta()["load"] == 1 and imported.meta()["state"] == "complete"
        counts = imported.counts()
        assert stats.nodes == counts["nodes"] - 1  # XpgMeta
        assert stats.relationships == counts["relationships"]
        names = {r["name"] for r in imported.run("SHOW INDEXES YIELD name", QueryMode.READ)}
        wanted = {r["name"] for r in neo4j_backend.run("SHOW INDEXES YIELD name", QueryMode.READ)}
        # the schema of a first load (the row_hash indexes come with the first delta, which
        # an earlier test may have run on the main server; the case store makes its own
        # constraints on first use, which the cases tests may have done there)
        first_load = {n for n in wanted if n.startswith("xpg_")
                      and not n.startswith(("xpg_row_hash_", "xpg_case_"))}
        assert first_load and first_load <= names

        # the GDS ring path (the own server has the plugin) against the Cypher path
        day = imported.latest_date()
        hooks = Neo4jHooks(imported)
        assert hooks.gds_available()
        try:
            gds = run_detections(hooks, config, day)
        finally:
            hooks.cleanup()
        assert hooks.ring_method == "gds"
        cypher_hooks = Neo4jHooks(imported, use_gds=False)
        try:
            cypher = run_detections(cypher_hooks, config, day)
        finally:
            cypher_hooks.cleanup()
        assert cypher_hooks.ring_method == "cypher"
        rings = [f for f in gds.findings if f.type == "ring"]
        assert rings, "the data has rings: the GDS path really ran on them"
        assert gds.to_dict() == cypher.to_dict()

        report = imported.detect(config)  # the backend itself picks GDS here
    assert report.to_dict() == neo4j_backend.detect(config).to_dict()
    memory = MemoryBackend()
    memory.load(dataset)
    assert report.to_dict() == memory.detect(config).to_dict()


def _xpg_load(config, state, data) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "NEO4J_URI": config.uri,
        "NEO4J_USER": config.user,
        "NEO4J_PASSWORD": config.password or "",
        "NEO4J_DATABASE": config.database,
        "XPG_NEO4J_STATE": str(state),
    }
    command = [sys.executable, "-c", "from xpg.cli import main; main()", "load"]
    args = ["--data", str(data), "--backend", "neo4j", "--via", "import"]
    return subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=600)


def test_xpg_load_via_import_loads_once_then_refuses(neo4j_server, own_backend, tmp_path):
    write(tmp_path / "data", 300, 1)
    first = _xpg_load(own_backend.config, own_backend.state, tmp_path / "data")
    assert first.returncode == 0, first.stderr
    assert "relationships/s" in first.stderr
    with Neo4jBackend(own_backend.config) as backend:
        assert backend.meta()["state"] == "complete"
        users = backend.counts()["User"]
    assert users == 300
    again = _xpg_load(own_backend.config, own_backend.state, tmp_path / "data")
    assert again.returncode != 0 and "holds" in again.stderr and "empty" in again.stderr
    foreign = _xpg_load(neo4j_server, own_backend.state, tmp_path / "data")
    assert foreign.returncode != 0 and "not the throwaway server" in foreign.stderr


def test_a_failed_import_reports_it_and_the_server_answers_again(own_backend, tmp_path):
    """The importer runs in the server's JVM: after its failure the DBMS is up again."""
    missing = tmp_path / "no-such-file.csv"
    done = subprocess.run(
        [str(LOCAL_SCRIPT), "import", "--state", str(own_backend.state), "--",
         f"--nodes=User={missing}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert "the import failed" in done.stderr and "no-such-file.csv" in done.stdout
    with Neo4jBackend(own_backend.config) as backend:
        assert backend.run("RETURN 1 AS one", QueryMode.READ)[0]["one"] == 1


def test_the_import_refuses_a_server_xpg_does_not_run(neo4j_server, own_backend, tmp_path):
    dataset = generate(300, 1).dataset()
    with pytest.raises(InputError, match="not the throwaway server"):
        offline_import(dataset, neo4j_server, state=tmp_path)  # no server state there
    with pytest.raises(InputError, match="not the throwaway server"):
        offline_import(dataset, neo4j_server, state=own_backend.state)  # another server's


def test_files_name_every_node_and_relationship_once(tmp_path):
    dataset = _dataset()
    files = write_import_files(dataset, tmp_path)
    assert files.multiline  # the line break in a nickname
    labels = [label for label, _ in files.nodes]
    assert len(labels) == len(set(labels))
    users = pl.read_csv(dict(files.nodes)["User"], infer_schema=False)
    assert users.columns[:2] == [":ID", "user_id:string"]
    assert "extra_load:long" in users.columns and "nickname:string" in users.columns
    assert users.height == dataset.users.height
    # the node ids: 0, 1, ... over all labels, each once (the store's ids, --id-type=actual)
    ids = pl.concat([pl.read_csv(path, columns=[":ID"]) for _, path in files.nodes])
    assert ids[":ID"].sort().to_list() == list(range(files.node_count))
    by_id = dict(zip(ids[":ID"], [label for label, path in files.nodes
                                  for _ in range(pl.read_csv(path, columns=[":ID"]).height)],
                     strict=True))
    user_of = dict(zip(users[":ID"].cast(pl.Int64), users["user_id:string"], strict=True))
    # every relationship names nodes of its labels; USED names each user's devices
    ends = {"USED": ("User", "Device"), "HAS_ACCOUNT": ("User", "Account"),
            "IN_PRODUCT": ("Account", "Product"), "HAD_EVENT": ("Account", "AccountEvent"),
            "HAS_IDENTIFIER": ("User", "Identifier"), "BORROWED_FROM": ("User", "Lender"),
            "APPLIED_TO": ("User", "Lender")}
    for kind, path in files.relationships:
        rels = pl.read_csv(path, columns=[":START_ID", ":END_ID"])
        labels = {(by_id[a], by_id[b]) for a, b in rels.iter_rows()}
        assert labels == {ends[kind]}, kind
    devices = pl.read_csv(dict(files.nodes)["Device"], infer_schema=False)
    device_of = dict(zip(devices[":ID"].cast(pl.Int64), devices["device_id:string"], strict=True))
    used = pl.read_csv(dict(files.relationships)["USED"], columns=[":START_ID", ":END_ID"])
    written = {(user_of[a], device_of[b]) for a, b in used.iter_rows()}
    assert written == set(dataset.devices.select("user_id", "device_id").iter_rows())


def test_files_refuse_a_relationship_to_a_node_no_table_holds(tmp_path):
    from xpg.graph.neo4j.delta import hashed_plan

    plan = hashed_plan(generate(300, 2).dataset())
    used = next(i for i, step in enumerate(plan) if step.name == "used")
    rows = plan[used].rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("d-nowhere"))
        .otherwise(pl.col("device_id")).alias("device_id")
    )
    plan[used] = dataclasses.replace(plan[used], rows=rows)
    with pytest.raises(InputError, match=r"device links: row 4 names a Device.*'d-nowhere'"):
        write_import_files(plan, tmp_path)
