"""Ring components in Neo4j: the Cypher propagation on long chains, and the GDS path's flow."""

from __future__ import annotations

import itertools

import pytest
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.graph.memory import MemoryBackend
from xpg.graph.neo4j.hooks import Neo4jHooks

from xpg.settings import DetectionConfig


def chain(n: int) -> Builder:
    """Users u00 .. u<n-1>, each sharing a device with the next; the smallest id in the
    middle, so labels must travel both ways."""
    b = Builder()
    ids = [f"u{i:02d}" for i in range(n)]
    order = ids[n // 2 :] + ids[: n // 2]  # u<n/2> .. u<n-1>, u00 .. u<n/2-1>
    for left, right in itertools.pairwise(order):
        b.device(left, f"d-{left}-{right}").device(right, f"d-{left}-{right}")
    for u in ids:
        multi_lender(b, u)
    return b


@pytest.mark.neo4j
def test_a_long_chain_is_one_ring(neo4j_backend):
    dataset = chain(40).build()
    neo4j_backend.load(dataset)
    hooks = Neo4jHooks(neo4j_backend)
    try:
        groups = hooks.ring_groups(DetectionConfig().ring, AS_OF)
    finally:
        hooks.cleanup()
    assert groups.get_column("group").unique().to_list() == ["u00"]
    assert groups.height == 40
    assert hooks.ring_method == "cypher" and hooks.ring_passes > 20
    memory = MemoryBackend()
    memory.load(dataset)
    config = DetectionConfig()
    assert neo4j_backend.detect(config).to_dict() == memory.detect(config).to_dict()


class FakeBackend:
    """Records the statements the hooks run; fails the one named ``fail``."""

    def __init__(self, fail: str | None = None):
        from xpg.settings import Neo4jConfig

        self.config = Neo4jConfig()
        self.read_only = False
        self.fail = fail
        self.ran: list[str] = []

    def run(self, query: str, mode, /, *, retry: bool = True, **params):
        from xpg.graph.neo4j.statements import statements

        named = {**statements("detect"), **statements("rules/ring")}  # the ring's own file too
        name = next(n for n, q in named.items() if q == query)
        self.ran.append(name)
        if name == self.fail:
            raise RuntimeError(name)
        if name == "gds_available":
            return [{"available": True}]
        if name.startswith("ring_pass"):
            return [{"lowered": 0}]
        return []


def test_the_gds_path_projects_runs_wcc_and_always_drops_the_projection():
    backend = FakeBackend()
    hooks = Neo4jHooks(backend)  # type: ignore[arg-type]
    hooks.ring_groups(DetectionConfig().ring, AS_OF)
    assert hooks.ring_method == "gds"
    assert backend.ran[-4:] == ["gds_project", "gds_wcc", "gds_drop", "ring_groups"]
    assert "ring_pass_links" not in backend.ran

    failing = FakeBackend(fail="gds_wcc")
    hooks = Neo4jHooks(failing)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        hooks.ring_groups(DetectionConfig().ring, AS_OF)
    assert failing.ran[-2:] == ["gds_wcc", "gds_drop"]


def test_the_cypher_path_can_be_forced():
    backend = FakeBackend()
    hooks = Neo4jHooks(backend, use_gds=False)  # type: ignore[arg-type]
    hooks.ring_groups(DetectionConfig().ring, AS_OF)
    assert hooks.ring_method == "cypher"
    assert "gds_available" not in backend.ran and "gds_project" not in backend.ran
