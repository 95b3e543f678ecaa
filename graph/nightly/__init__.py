"""The in-memory backend's incremental detection: :meth:`Backend.detect
<xpg.graph.backend.Backend.detect>` given the previous night
(:class:`~xpg.graph.backend.NightlyRun`) recomputes only what changed.

The run (:mod:`~xpg.graph.nightly.run`), its state folder (:mod:`~xpg.graph.nightly.state`),
what changed and the changed rows (:mod:`~xpg.graph.nightly.snapshot`), the ring stage over
the reached groups (:mod:`~xpg.graph.nightly.rings`).
"""
