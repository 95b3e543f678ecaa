"""The cost of the multi-lending core step: ``python bench/bench_cores.py [--users N]``.

On one random mixed graph (``tests/mixed_graphs.py``: communities of 20-200 users, 2-4
links each, a fifth of them across communities, heavy-tailed hubs, planted multi-lending
communities and scattered multi-lenders; 1,000,000 users by default), times, ``--repeat``
times (default 3):

* ``whole-group components``: :meth:`xpg.linkgraph.links.Links.kept` from a cold cache: the
  date and kind masks, the hub cut and the connected components of the kept link graph
  (what the rings cost today, after the graph is built);
* ``ring groups``: the ring rule's ``ring_groups`` form in memory (the groups of 3 or more
  users, as a frame, from those components);
* ``core step``: :meth:`xpg.queries.rules.ring.Ring.candidates` on those groups: the
  searched users (:func:`xpg.linkgraph.cores.searched_members`), their kept links (form
  ``ring_core_links``), their cores (:func:`xpg.linkgraph.cores.link_cores`) and the
  candidate frame (:func:`xpg.linkgraph.cores.combine_candidates`), what detection runs.

Also printed once: the largest group, the candidates, and the share of the planted
ring members found with their purity, judging groups whole against cores (a side
figure: the generator here is a small one of the tests, not ``xpg generate``).
Nothing is asserted; the machine is shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mixed_graphs import mixed_graph
from xpg.queries.polars_hooks import PolarsHooks
from xpg.queries.rules import rule

from xpg.settings import RingConfig


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def found(members: np.ndarray, planted: np.ndarray) -> tuple[float, float]:
    """(share of the planted members among ``members``, purity of ``members``)."""
    hit = int(planted[members].sum())
    return hit / max(int(planted.sum()), 1), hit / max(members.size, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-group-users", type=int, default=50)
    parser.add_argument("--hub-max-users", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    g = mixed_graph(
        args.seed,
        args.users,
        hubs=max(3, args.users // 20_000),
        hub_users=(21, 5000),
        rings=30 * max(1, args.users // 100_000),
    )
    print(
        f"mixed graph: {g.n_users:,} users, {g.n_nodes:,} nodes, {g.user.size:,} links, "
        f"{int(g.multi_lending.sum()):,} multi-lending ({int(g.planted.sum()):,} planted), "
        f"generated in {time.perf_counter() - start:.1f} s"
    )
    start = time.perf_counter()
    hooks = PolarsHooks(g.dataset())
    links = hooks.links
    print(f"tables and Links built in {time.perf_counter() - start:.1f} s")
    as_of = dt.date(2026, 11, 20)
    config = dataclasses.replace(RingConfig(), max_group_users=args.max_group_users,
                                 hub_max_users=args.hub_max_users)
    ring = rule("ring")
    groups_form = ring.forms[0]
    ml = frozenset(pl.Series(g.user_ids).filter(pl.Series(g.multi_lending)).to_list())
    rows: dict[str, list[float]] = {"whole": [], "groups": [], "cores": []}
    for _ in range(args.repeat):
        links._kept.clear()  # kept() caches per (date, kinds, hub_max_users): time it cold
        t, kept = timed(lambda: links.kept(config.identifier_kinds, config.hub_max_users,
                                           as_of))
        rows["whole"].append(t)
        t, groups = timed(lambda: groups_form.conform(hooks.compute(groups_form, config, as_of)))
        rows["groups"].append(t)
        t, cands = timed(lambda groups=groups: ring.candidates(hooks, groups, config, as_of, ml))
        rows["cores"].append(t)
    names = {
        "whole": "whole-group components",
        "groups": "ring groups (frame)",
        "cores": "core step",
    }
    for key, label in names.items():
        runs = "  ".join(f"{t:.3f}" for t in rows[key])
        print(f"{label:<24} runs {runs} s   median {statistics.median(rows[key]):.3f} s")
    ratio = statistics.median(rows["cores"]) / statistics.median(rows["whole"])
    print(f"core step / whole-group components: {ratio:.2f}")

    labels = kept.labels
    sizes = np.zeros(labels.size, dtype=np.int64)
    linked = labels >= 0
    sizes[linked] = np.bincount(labels[linked])[labels[linked]]
    searched = g.multi_lending & (sizes > args.max_group_users)
    cores = cands.filter("core").get_column("group").n_unique()
    whole_groups = cands.filter(~pl.col("core")).get_column("group").n_unique()
    print(
        f"largest group {int(sizes.max()):,} users; {int(searched.sum()):,} multi-lenders "
        f"searched; {cores:,} cores and {whole_groups:,} whole groups of >= 3 users"
    )
    whole = np.flatnonzero(sizes >= 3)
    ml_share = np.bincount(labels[whole], weights=g.multi_lending[whole])
    ring_size = np.bincount(labels[whole])
    qualifying = whole[ml_share[labels[whole]] / ring_size[labels[whole]] >= 0.5]
    share, purity = found(qualifying, g.planted)
    print(f"judged whole: {share:.1%} of planted members found, purity {purity:.3f}")
    index = {u: i for i, u in enumerate(g.user_ids)}
    core_members = np.array([index[u] for u in cands.filter("core").get_column("user_id")],
                            dtype=np.int64)
    small_whole = np.array([index[u] for u in cands.filter(~pl.col("core"))
                            .get_column("user_id")], dtype=np.int64)
    small_whole = small_whole[np.isin(small_whole, qualifying)]
    share, purity = found(np.concatenate([core_members, small_whole]), g.planted)
    print(f"v2 (cores):   {share:.1%} of planted members found, purity {purity:.3f}")


if __name__ == "__main__":
    main()
