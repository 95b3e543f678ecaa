"""Reading and validating the contract's input tables with Polars.

:func:`load_dataset` turns a directory of ``<table>.csv`` / ``<table>.parquet``
files into a validated :class:`Dataset` (or raises
:class:`~xpg.errors.ValidationError` naming every problem);
:func:`validate_dataset` reports without raising. See ``docs/data-contract.md``.

The names below are imported on first use (PEP 562): a process that only needs a
submodule (the settings check of :mod:`xpg.loaders.mapping`, a cold ``xpg query``
answered from a stored state) does not import the loading and validation stack
(phonenumbers, numpy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xpg.loaders.dataset import Dataset
    from xpg.loaders.failures import ERROR_RULES, FAILURE_SCHEMA, WARNING_RULES, Rule
    from xpg.loaders.load import LoadResult, Validation, load_dataset, validate_dataset

__all__ = [
    "ERROR_RULES",
    "FAILURE_SCHEMA",
    "WARNING_RULES",
    "Dataset",
    "LoadResult",
    "Rule",
    "Validation",
    "load_dataset",
    "validate_dataset",
]

_WHERE = {
    "Dataset": "dataset",
    "ERROR_RULES": "failures", "FAILURE_SCHEMA": "failures", "WARNING_RULES": "failures",
    "Rule": "failures",
    "LoadResult": "load", "Validation": "load", "load_dataset": "load",
    "validate_dataset": "load",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
