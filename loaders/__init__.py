"""Reading and validating the contract's input tables with Polars.

:func:`load_dataset` turns a directory of ``<table>.csv`` / ``<table>.parquet``
files into a validated :class:`Dataset` (or raises
:class:`~xpg.errors.ValidationError` naming every problem);
:func:`validate_dataset` reports without raising. See ``docs/data-contract.md``.
"""

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
