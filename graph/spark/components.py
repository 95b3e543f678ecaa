"""Connected components of the user <-> device/identifier graph, in Spark SQL.

Two algorithms over the bipartite edge list, both plain DataFrame joins and
group-bys (no GraphFrames: see below); both label every user with the smallest
``user_id`` of its component, the same labelling as the memory and Neo4j backends.

- :func:`log_round_components` (what the backend uses): **large-star/small-star**
  (Kiveris, Lattanzi, Mirrokni, Rastogi, Vassilvitskii, "Connected Components in
  MapReduce and Beyond", SoCC 2014). Each vertex (users and link nodes alike) gets a
  64-bit id; one *round* is a large-star step (every vertex hangs its larger
  neighbours on its smallest neighbour) then a small-star step (every vertex hangs
  itself and its smaller neighbours on the smallest of them). Both keep the
  components and shrink their depth geometrically, so the rounds grow with the
  logarithm of the largest component's size, not with its diameter: a 100,000-user
  chain takes a couple of dozen rounds where propagation needs 100,000 passes. The
  edges stay as many as the input's at every round. It ends when the edges form a
  forest of stars (every edge points at a root); a root's users get the smallest
  ``user_id`` among them.
- :func:`min_label_components`: iterative **min-label propagation**, one pass per
  step of the widest component's diameter (in users). Kept as the oracle and the
  alternative the bench compares against (``bench/bench_spark_components.py``).

Each round or pass is checkpointed (``localCheckpoint``), so the plan stays one round
long however many there are. :class:`ComponentsResult` says how many rounds ran and,
per round, the edges left and the shuffle bytes Spark wrote (from the application's
status store, when the JVM exposes it); they are logged on the ``xpg.spark`` logger.

Why not GraphFrames: its ``connectedComponents`` is the same large-star/small-star
algorithm, but a Scala package that Spark must fetch from Maven Central when the
session starts (``--packages``), whose version must match Spark's and Scala's exactly,
plus a checkpoint directory on shared storage; a cluster without that network access
or a locked-down image cannot run it. Written in Spark SQL it needs nothing but Spark.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from xpg.errors import BackendError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "MAX_PASSES",
    "MAX_ROUNDS",
    "ComponentsResult",
    "PropagationResult",
    "log_round_components",
    "min_label_components",
]

MAX_PASSES = 10_000
"""Passes after which :func:`min_label_components` gives up."""

MAX_ROUNDS = 200
"""Rounds after which :func:`log_round_components` gives up (a 2**63-vertex component
needs far fewer)."""

_log = logging.getLogger("xpg.spark")


class PropagationResult:
    """The labels and how many passes they took.

    Attributes
    ----------
    labels : pyspark.sql.DataFrame
        ``user_id``, ``label``: one row per user of the edges (checkpointed).
    passes : int
        Propagation passes run, the last one lowering nothing.
    """

    def __init__(self, labels: DataFrame, passes: int):
        self.labels = labels
        self.passes = passes


def min_label_components(
    edges: DataFrame, *, node: tuple[str, ...] = ("kind", "value"), max_passes: int = MAX_PASSES
) -> PropagationResult:
    """Label every user of ``edges`` with the smallest ``user_id`` of its component.

    Parameters
    ----------
    edges
        The bipartite links: a ``user_id`` column and the ``node`` columns (one link
        node is one distinct value of them); duplicates are harmless.
    node
        The columns naming a link node.
    max_passes
        Give up (:class:`~xpg.errors.BackendError`) after this many passes.

    Returns
    -------
    PropagationResult
        Users that appear in ``edges`` only.

    Notes
    -----
    One pass is one Spark job: two joins and two group-bys over the edges and a join
    with the previous labels that flags the lowered ones, checkpointed; then a scan of
    that checkpoint for a flag; the number of passes is one more than
    the largest component's diameter counted in users.
    """
    from pyspark.sql import functions as F

    links = edges.select("user_id", *node).distinct().cache()
    labels = links.select("user_id").distinct().withColumn("label", F.col("user_id"))
    for number in range(1, max_passes + 1):
        node_label = links.join(labels, "user_id").groupBy(*node).agg(F.min("label").alias("label"))
        lowered = (
            links.join(node_label, list(node))
            .groupBy("user_id")
            .agg(F.min("label").alias("new"))
            .join(labels, "user_id")
            .select(
                "user_id",
                F.col("new").alias("label"),
                (F.col("new") < F.col("label")).alias("lowered"),
            )
            .localCheckpoint(eager=True)  # one job a pass; the plan stays one pass long
        )
        labels = lowered.select("user_id", "label")
        if not lowered.where("lowered").limit(1).count():  # a scan of the checkpoint
            links.unpersist()
            return PropagationResult(labels, number)
    raise BackendError(f"ring components did not converge in {max_passes} passes")


class ComponentsResult(PropagationResult):
    """The labels of :func:`log_round_components` and what the rounds cost.

    Attributes
    ----------
    labels : pyspark.sql.DataFrame
        ``user_id``, ``label``: one row per user of the edges (checkpointed).
    passes : int
        Rounds run (one large-star and one small-star step each); the last one left a
        forest of stars.
    edges : list of int
        The edges left after each round.
    shuffle_bytes : list of int or None
        Shuffle bytes Spark wrote during each round, or None where the status store
        could not be read.
    """

    def __init__(self, labels: DataFrame, passes: int, edges: list[int],
                 shuffle_bytes: list[int | None]):
        super().__init__(labels, passes)
        self.edges = edges
        self.shuffle_bytes = shuffle_bytes

    @property
    def rounds(self) -> int:
        """The rounds run (the same number as ``passes``)."""
        return self.passes


def _shuffle_written(spark, since: int) -> tuple[int, int | None]:
    """The last stage id and the shuffle bytes written by the stages after ``since``, from
    the JVM's status store (bytes None where it cannot be read: another Spark build, a
    Connect session). Stages are counted by id, so the store's eviction of old stages
    (``spark.ui.retainedStages``) does not skew a round's figure."""
    try:
        store = spark.sparkContext._jsc.sc().statusStore()
        default = [getattr(store, f"stageList$default${k}")() for k in (2, 3, 4, 5)]
        stages = store.stageList(spark._jvm.java.util.ArrayList(), *default)
        last, total = since, 0
        for i in range(stages.size()):
            stage = stages.apply(i)
            if stage.stageId() > since:
                total += int(stage.shuffleWriteBytes())
                last = max(last, int(stage.stageId()))
        return last, total
    except Exception:  # the status store is an internal API: absent is not an error
        return since, None


def log_round_components(
    edges: DataFrame, *, node: tuple[str, ...] = ("kind", "value"), max_rounds: int = MAX_ROUNDS
) -> ComponentsResult:
    """Label every user of ``edges`` with the smallest ``user_id`` of its component, in
    O(log n) rounds (large-star/small-star).

    Parameters
    ----------
    edges
        The bipartite links: a ``user_id`` column and the ``node`` columns (one link
        node is one distinct value of them); duplicates are harmless.
    node
        The columns naming a link node.
    max_rounds
        Give up (:class:`~xpg.errors.BackendError`) after this many rounds.

    Returns
    -------
    ComponentsResult
        Users that appear in ``edges`` only; the same labels as
        :func:`min_label_components`.

    Notes
    -----
    Setup: two distinct scans give users and nodes 64-bit ids (even for users, odd for
    nodes: ``monotonically_increasing_id``, checkpointed so they stay fixed) and one join
    turns the links into ``(hi, lo)`` edges, ``hi > lo``. A round is about four shuffles
    of at most as many rows as there are edges (two group-bys, two joins, two
    ``distinct``), checkpointed, plus one aggregation over the checkpoint for the edge
    count and the stop test (is every ``lo`` a root, and has every ``hi`` one edge).
    Rounds grow as the logarithm of the largest component's vertex count (users plus
    nodes), whatever its shape.

    Examples
    --------
    A chain u0 - d0 - u1 - d1 - u2 and a lone pair (needs Spark, so not run here):

    >>> rows = [("u1", "device", "d0"), ("u0", "device", "d0"), ("u1", "device", "d1"),
    ...         ("u2", "device", "d1"), ("x9", "phone", "p"), ("x8", "phone", "p")]
    >>> schema = "user_id string, kind string, value string"
    >>> frame = spark.createDataFrame(rows, schema)  # doctest: +SKIP
    >>> sorted(map(tuple, log_round_components(frame).labels.collect()))  # doctest: +SKIP
    [('u0', 'u0'), ('u1', 'u0'), ('u2', 'u0'), ('x8', 'x8'), ('x9', 'x8')]
    """
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    links = edges.select("user_id", *node).distinct()
    users = (
        links.select("user_id").distinct()
        .withColumn("vid", F.monotonically_increasing_id() * 2)
        .localCheckpoint(eager=True)
    )
    nodes = (
        links.select(*node).distinct()
        .withColumn("nid", F.monotonically_increasing_id() * 2 + 1)
        .localCheckpoint(eager=True)
    )
    pairs = (
        links.join(users, "user_id").join(nodes, list(node))
        .select(F.greatest("vid", "nid").alias("hi"), F.least("vid", "nid").alias("lo"))
        .localCheckpoint(eager=True)
    )
    counts: list[int] = []
    shuffled: list[int | None] = []
    seen, _ = _shuffle_written(spark, -1)
    for number in range(1, max_rounds + 1):
        # large-star: every vertex hangs its larger neighbours on its smallest neighbour
        both = pairs.select(F.col("hi").alias("v"), F.col("lo").alias("w")).union(
            pairs.select(F.col("lo").alias("v"), F.col("hi").alias("w"))
        )
        smallest = both.groupBy("v").agg(F.min("w").alias("m")).select(
            "v", F.least("v", "m").alias("m")
        )
        large = (
            both.where(F.col("w") > F.col("v"))
            .join(smallest, "v")
            .select(F.col("w").alias("hi"), F.col("m").alias("lo"))
            .distinct()
        )
        # small-star: every vertex hangs itself and its smaller neighbours on the
        # smallest of them (its neighbours are all smaller after large-star's output
        # is read from the larger end)
        least = large.groupBy("hi").agg(F.min("lo").alias("m"))
        small = (
            large.join(least, "hi")
            .select(F.col("lo").alias("hi"), F.col("m").alias("lo"))
            .where(F.col("hi") != F.col("lo"))
            .union(least.select("hi", F.col("m").alias("lo")))
            .distinct()
            .localCheckpoint(eager=True)
        )
        pairs = small
        count, stars = _round_state(pairs)
        seen, written = _shuffle_written(spark, seen)
        counts.append(count)
        shuffled.append(written)
        _log.info("components round %d: %d edges, %s shuffle bytes", number, count,
                  shuffled[-1] if shuffled[-1] is not None else "unknown")
        if stars:
            labels = _star_labels(users, pairs)
            return ComponentsResult(labels, number, counts, shuffled)
    raise BackendError(f"ring components did not converge in {max_rounds} rounds")


def _round_state(pairs: DataFrame) -> tuple[int, bool]:
    """The edges of a round's checkpoint and whether they form a forest of stars (every
    ``lo`` a root, never a ``hi``; every ``hi`` on one edge), in one aggregation (one
    Spark job): each vertex's count of edges as ``hi`` and as ``lo``, then their sums."""
    from pyspark.sql import functions as F

    ends = pairs.select(F.col("hi").alias("v"), F.lit(1).alias("as_hi"),
                        F.lit(0).alias("as_lo")).union(
        pairs.select(F.col("lo").alias("v"), F.lit(0).alias("as_hi"), F.lit(1).alias("as_lo")))
    per_vertex = ends.groupBy("v").agg(F.sum("as_hi").alias("hi"), F.sum("as_lo").alias("lo"))
    # not a star: a vertex that is a hi on two edges, or a hi and a lo at once
    bad = (F.col("hi") > 1) | ((F.col("hi") > 0) & (F.col("lo") > 0))
    row = per_vertex.agg(F.coalesce(F.sum("hi"), F.lit(0)).alias("edges"),
                         F.coalesce(F.sum(F.when(bad, 1).otherwise(0)), F.lit(0)).alias("bad"),
                         ).first()
    return int(row["edges"]), int(row["bad"]) == 0


def _star_labels(users: DataFrame, stars: DataFrame) -> DataFrame:
    """Each user's label: the smallest ``user_id`` among the users under its root."""
    from pyspark.sql import functions as F

    rooted = users.join(stars.select(F.col("hi").alias("vid"), "lo"), "vid", "left").select(
        "user_id", F.coalesce("lo", "vid").alias("root")
    )
    smallest = rooted.groupBy("root").agg(F.min("user_id").alias("label"))
    return rooted.join(smallest, "root").select("user_id", "label").localCheckpoint(eager=True)
