"""The cost of the multi-lending core step: ``python bench/bench_cores.py [--users N]``.

On one random mixed graph (``tests/mixed_graphs.py``: communities of 20-200 users, 2-4
links each, a fifth of them across communities, heavy-tailed hubs, planted multi-lending
communities and scattered multi-lenders; 1,000,000 users by default), times, ``--repeat``
times (default 3):

* ``whole-group components``: :meth:`xpg.graph.links.Links.kept` from a cold cache: the
  date and kind masks, the hub cut and the connected components of the kept link graph
  (what the rings cost today, after the graph is built);
* ``core step (arrays)``: :func:`xpg.graph.cores.candidate_rings` on those groups: the
  searched users, their cores, the candidate members (integer arrays);
* ``core step (frame)``: :func:`xpg.graph.cores.ring_candidates`: the same plus the
  frame with user ids and core ids (what the ring rule will call).

Also printed once: the largest group, the candidates, and the share of the planted
ring members found with their purity, judging groups whole against cores (a side
figure: the generator here is a small one of the tests, not ``xpg generate``).
Nothing is asserted; the machine is shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mixed_graphs import mixed_graph
from xpg.graph.cores import candidate_rings, group_sizes, ring_candidates
from xpg.graph.links import Links

KINDS = ("phone", "bank_card", "id_number")  # the default detection.ring.identifier_kinds


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
    links = Links(g.dataset())
    print(f"tables and Links built in {time.perf_counter() - start:.1f} s")
    as_of = dt.date(2026, 11, 20)
    user_ids = links.user_ids
    ml_ids = pl.Series("user_id", g.user_ids).filter(pl.Series(g.multi_lending))
    ml_mask = user_ids.is_in(ml_ids.implode()).to_numpy()
    rows: dict[str, list[float]] = {"whole": [], "arrays": [], "frame": []}
    for _ in range(args.repeat):
        links._kept.clear()  # kept() caches per (date, kinds, hub_max_users): time it cold
        t, kept = timed(lambda: links.kept(KINDS, args.hub_max_users, as_of))
        rows["whole"].append(t)
        t, cands = timed(
            lambda kept=kept: candidate_rings(
                kept.labels,
                kept.user,
                kept.node,
                ml_mask,
                max_group_users=args.max_group_users,
            )
        )
        rows["arrays"].append(t)
        t, _ = timed(
            lambda kept=kept: ring_candidates(
                kept, user_ids, ml_ids, max_group_users=args.max_group_users
            )
        )
        rows["frame"].append(t)
    names = {
        "whole": "whole-group components",
        "arrays": "core step (arrays)",
        "frame": "core step (frame)",
    }
    for key, label in names.items():
        runs = "  ".join(f"{t:.3f}" for t in rows[key])
        print(f"{label:<24} runs {runs} s   median {statistics.median(rows[key]):.3f} s")
    ratio = statistics.median(rows["frame"]) / statistics.median(rows["whole"])
    print(f"core step (frame) / whole-group components: {ratio:.2f}")

    sizes = group_sizes(kept.labels)
    searched = g.multi_lending & (sizes > args.max_group_users)
    print(
        f"largest group {int(sizes.max()):,} users; {int(searched.sum()):,} multi-lenders "
        f"searched; {int(cands.core.sum()):,} cores and {int((~cands.core).sum()):,} whole "
        f"groups of >= 3 users"
    )
    whole = np.flatnonzero((sizes >= 3) & (sizes > 0))
    ml_share = np.bincount(kept.labels[whole], weights=g.multi_lending[whole])
    ring_size = np.bincount(kept.labels[whole])
    qualifying = whole[ml_share[kept.labels[whole]] / ring_size[kept.labels[whole]] >= 0.5]
    share, purity = found(qualifying, g.planted)
    print(f"judged whole: {share:.1%} of planted members found, purity {purity:.3f}")
    core_members = cands.user[cands.core[cands.ring]]
    small_whole = cands.user[~cands.core[cands.ring]]
    small_whole = small_whole[np.isin(small_whole, qualifying)]
    share, purity = found(np.concatenate([core_members, small_whole]), g.planted)
    print(f"v2 (cores):   {share:.1%} of planted members found, purity {purity:.3f}")


if __name__ == "__main__":
    main()
