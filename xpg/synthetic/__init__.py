"""The synthetic data generator: contract tables with planted cases and their truth file.

:func:`generate` builds every table of the data contract for a number of users
from one seed, with planted populations (rings, look-alikes, multi-lenders,
cross-product cases) listed in ``truth``; :func:`write` puts the tables and
``truth.json`` in a folder. See ``docs/synthetic-data.md``.

The modules, from the bottom up: :mod:`~xpg.synthetic.catalogue` (codes,
products, lenders, credit profiles), :mod:`~xpg.synthetic.formats` (ids and
identifier values from integer keys), :mod:`~xpg.synthetic.builder` (the
random source, allocators and ordinary behaviour), :mod:`~xpg.synthetic.credit`
(external loans and applications), :mod:`~xpg.synthetic.cases`,
:mod:`~xpg.synthetic.groups`, :mod:`~xpg.synthetic.cross` and
:mod:`~xpg.synthetic.kinds` (the planted cases), :mod:`~xpg.synthetic.tables`
(the contract's frames), :mod:`~xpg.synthetic.mixed` and :mod:`~xpg.synthetic.graph` (the
mixed shape) and :mod:`~xpg.synthetic.generator` (generate, write).
"""

from xpg.synthetic.generator import (
    DEFAULT_AS_OF,
    MIN_USERS,
    SHAPES,
    TRUTH_FILE,
    Synthetic,
    Written,
    generate,
    write,
)

__all__ = ["DEFAULT_AS_OF", "MIN_USERS", "SHAPES", "TRUTH_FILE", "Synthetic", "Written", "generate",
           "write"]
