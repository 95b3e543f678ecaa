"""``xpg query group`` of a giant group on Neo4j: the groups stored at detection against
the breadth-first search, ``python bench/bench_neo4j_group.py --work /tmp/ng --users 20000``.

On a generated mixed graph (``xpg generate --shape mixed``; its largest connected group
holds most users) loaded into a throwaway server (``scripts/neo4j-local``) with ``xpg load
--via import``, then ``xpg detect --backend neo4j`` (which stores each user's group and each
group's summary: graph/neo4j/groups.py), each a fresh process:

* ``query group`` of a member of the largest group, answered from the stored groups;
* with ``--bfs``: the same query with ``--as-of`` a day earlier than the stored run date
  (no stored groups for it: the breadth-first search, one round trip per level).

Printed per step: wall seconds, CPU seconds of this side (user + system of the child) and of
the server, and the load average; the storing of the groups alone is timed too (a second
``write_groups`` in this process). No assertion: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_neo4j import _cpu_of
from bench_neo4j_import import fresh_server

XPG = str(Path(sys.executable).with_name("xpg"))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _child(cmd: list[str], env: dict[str, str], server: int | None) -> tuple[float, float,
                                                                             float, str]:
    """Wall, CPU seconds of the child and of the server, and the child's stdout."""
    t, s0 = time.perf_counter(), _cpu_of(server)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()}")
    return wall, _children_cpu(), _cpu_of(server) - s0, out.decode()


_seen_cpu = [0.0]


def _children_cpu() -> float:
    """CPU seconds of the children waited for since the last call."""
    r = os.times()
    total = r.children_user + r.children_system
    spent, _seen_cpu[0] = total - _seen_cpu[0], total
    return spent


def _server_pid(state: Path) -> int | None:
    pid = state / "pid"
    return int(pid.read_text().split()[0]) if pid.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--bfs", action="store_true", help="also time the breadth-first search")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    data = a.work / f"data-{a.users}-{a.seed}"
    if not (data / "truth.json").is_file():
        subprocess.run([XPG, "generate", "--shape", "mixed", "--users", str(a.users), "--seed",
                        str(a.seed), "--out", str(data), "--force"], check=True,
                       stdout=subprocess.DEVNULL)
    _children_cpu()
    (a.work / "server").mkdir(exist_ok=True)
    with fresh_server((a.work / "server").resolve()) as config:
        env = {**os.environ, "NEO4J_URI": config.uri, "NEO4J_USER": config.user,
               "NEO4J_PASSWORD": config.password or "", "NEO4J_DATABASE": config.database,
               "XPG_NEO4J_STATE": str((a.work / "server").resolve())}
        server = _server_pid(a.work / "server")
        print(f"{a.users} users, seed {a.seed}; server pid {server}")

        def step(name: str, cmd: list[str]) -> str:
            wall, cpu, scpu, out = _child(cmd, env, server)
            print(f"{name:34} wall {wall:7.2f} s  cpu {cpu:6.2f} s  server cpu {scpu:6.2f} s"
                  f"  load {_load()}", flush=True)
            return out

        step("load --via import", [XPG, "load", "--data", str(data), "--backend", "neo4j",
                                   "--via", "import"])
        doc = json.loads(step("detect (stores the groups)",
                              [XPG, "detect", "--backend", "neo4j", "--format", "json"]))
        day = dt.date.fromisoformat(doc["as_of"])

        from xpg.graph.neo4j import Neo4jBackend
        from xpg.queries.investigate.group import group_labels
        from xpg.queries.investigate.search import ring_kinds

        from xpg.settings import load_settings

        detection = load_settings(environ={}).detection
        with Neo4jBackend(config) as backend:
            ds = backend.snapshot()
            from xpg.queries.investigate import MemorySource

            labels = group_labels(MemorySource(ds)._links_by_user.frame.lazy(), day,
                                  ring_kinds(detection), detection.ring.hub_max_users)
            sizes = labels.group_by("group").len().sort("len", descending=True)
            giant = labels.filter(labels["group"] == sizes.row(0)[0])
            user = giant.get_column("user_id").min()
            t, c = time.perf_counter(), time.process_time()
            groups = backend.write_groups(day, detection)
            print(f"{'write_groups alone':34} wall {time.perf_counter() - t:7.2f} s  cpu "
                  f"{time.process_time() - c:6.2f} s  ({groups} groups)  load {_load()}")
        print(f"largest group: {sizes.row(0)[1]} users; asking about {user}")
        for run in range(2):
            out = step(f"query group, stored #{run + 1}",
                       [XPG, "query", "group", user, "--backend", "neo4j", "--format", "json"])
        stored = json.loads(out)
        if a.bfs:
            earlier = (day - dt.timedelta(days=1)).isoformat()
            out = step("query group, breadth-first (as-of -1)",
                       [XPG, "query", "group", user, "--backend", "neo4j", "--format", "json",
                        "--as-of", earlier])
            print(f"breadth-first group: {json.loads(out)['users']} users")
        print(f"stored group: {stored['users']} users, {stored['hubs_cut']} hubs cut, "
              f"{stored['rings_found']} rings")


if __name__ == "__main__":
    main()
