"""The user-link graph: users joined through the devices and identifiers they share.

A layer of its own, under both the rules (``xpg.queries``) and the backends
(``xpg.graph``), which both read it:

* :mod:`~xpg.linkgraph.links`: the integer-coded link graph of a dataset, and the links
  kept as of a date (hubs cut) with their connected groups;
* :mod:`~xpg.linkgraph.components`: connected components of a bipartite graph (scipy);
* :mod:`~xpg.linkgraph.cores`: the multi-lending cores of large groups (contract v2).
"""
