"""Per-user exposure, exactly as the data contract defines it.

* internal limit: ``credit_limit`` summed over the user's accounts that are not ``closed``;
* internal outstanding: ``outstanding`` summed over all the user's accounts;
* drawable: ``max(credit_limit - outstanding, 0)`` summed over ``active`` accounts;
* external outstanding: ``outstanding`` summed over external loans ``open`` or ``overdue``;
* total: internal outstanding + drawable + external outstanding.

"As of" a date, accounts with an ``opened_at`` after it and external loans
opened after it are left out; statuses and amounts are the snapshot's (the
tables hold no history of them).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.queries.polars_hooks import user_exposure_frame

__all__ = ["user_exposure"]


def user_exposure(dataset: Dataset, as_of: dt.date | None = None) -> pl.DataFrame:
    """Exposure of every user, one row each, in the order of ``dataset.users``.

    Parameters
    ----------
    dataset
        The loaded tables.
    as_of
        The run date (default: the latest date in the data).

    Returns
    -------
    polars.DataFrame
        ``user_id``, ``internal_limit``, ``internal_outstanding``, ``drawable``,
        ``external_outstanding``, ``total`` (``Float64``, CNY; 0 where nothing applies).

    Notes
    -----
    Two group-bys and two hash joins: O(accounts + external loans + users).
    """
    if as_of is None:
        from xpg.queries.detections import default_as_of

        as_of = default_as_of(dataset)
    return user_exposure_frame(dataset, as_of)
