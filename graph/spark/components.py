"""Connected components of the user <-> device/identifier graph, in Spark SQL.

Iterative **min-label propagation** over the bipartite edge list, done with plain
DataFrame joins and group-bys: every user starts labelled with its own ``user_id``;
one pass gives each link node the smallest label of its users, then each user the
smallest label of its nodes. Labels only go down, so a pass that lowers none means
they have converged: every user is labelled with the smallest ``user_id`` of its
component (the same labelling as the Neo4j backend's). Each pass is checkpointed
locally, so the query plan stays one pass long however many passes there are.

Why not GraphFrames: its ``connectedComponents`` (the large-star/small-star
algorithm, O(log^2 n) rounds) is a Scala package that Spark must fetch from Maven
Central when the session starts (``--packages``), plus a checkpoint directory on
shared storage; a cluster without that network access or a locked-down image cannot
run it, and the versions must match Spark's and Scala's exactly. Min-label
propagation needs nothing but Spark SQL. Its cost is one pass per step of the
widest component's diameter (in users), where large-star/small-star needs
O(log^2 n) rounds: ring groups, once hubs (devices/identifiers with more than
``hub_max_users`` users) are dropped, are small and shallow, so a handful of passes
converge (a long chain would need as many passes as it is long; ``max_passes`` bounds
it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xpg.errors import BackendError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["MAX_PASSES", "PropagationResult", "min_label_components"]

MAX_PASSES = 10_000
"""Passes after which :func:`min_label_components` gives up."""


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
