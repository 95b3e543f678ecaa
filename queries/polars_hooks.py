"""The detection frames computed in memory with Polars (and scipy for rings).

:class:`PolarsHooks` implements :class:`~xpg.queries.frames.DetectionHooks`
over a :class:`~xpg.loaders.dataset.Dataset`: it runs each rule form's Polars
function (``Form.polars``, in the rule's module) with itself as the context
(``hooks.dataset``, ``hooks.links``). Every form is a handful of vectorized
filters, joins and group-bys: O(rows), no Python loop per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.queries.asof import accounts_as_of, exposure_frame, open_loans_as_of
from xpg.queries.frames import Form

from xpg.linkgraph.links import Links

__all__ = ["PolarsHooks", "user_exposure_frame"]


def user_exposure_frame(
    dataset: Dataset, as_of: dt.date, users: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Exposure as of ``as_of`` (frame ``exposure``) of every user of ``dataset``, or of
    ``users`` (a frame with a ``user_id`` column) only, in their order
    (:func:`xpg.queries.asof.exposure_frame` over the as-of tables)."""
    acc = accounts_as_of(dataset, as_of).lazy()
    loans = open_loans_as_of(dataset, as_of).lazy()
    if users is None:
        wanted = dataset.users.lazy().select("user_id")
    else:
        wanted = users.lazy().select("user_id").join(dataset.users.lazy(), on="user_id", how="semi")
        acc = acc.join(wanted, on="user_id", how="semi")
        loans = loans.join(wanted, on="user_id", how="semi")
    return exposure_frame(acc, loans, wanted)


class PolarsHooks:
    """Detection frames over one :class:`Dataset`, computed with Polars.

    Parameters
    ----------
    dataset
        The loaded tables.
    links
        A prebuilt :class:`~xpg.linkgraph.links.Links` of ``dataset`` to share (the
        in-memory backend passes its own); built on first use otherwise.

    Examples
    --------
    See :func:`xpg.queries.detect`, which runs every rule and assembles findings.
    """

    def __init__(self, dataset: Dataset, links: Links | None = None):
        self.dataset = dataset
        if links is not None:
            self.__dict__["links"] = links
        self._exposure: dict[dt.date, pl.DataFrame] = {}

    @cached_property
    def links(self) -> Links:
        """The integer-encoded user <-> device/identifier graph (built on first use)."""
        return Links(self.dataset)

    def user_count(self) -> int:
        return self.dataset.users.height

    def compute(self, form: Form, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        """The frame of ``form``: its Polars function over this dataset."""
        return form.conform(form.polars(self, config, as_of, **extra))

    def exposure(self, as_of: dt.date, user_ids: Sequence[str] | None = None) -> pl.DataFrame:
        """Frame ``exposure`` of ``user_ids`` (every user when None; that one is cached)."""
        if user_ids is None:
            if as_of not in self._exposure:
                self._exposure[as_of] = user_exposure_frame(self.dataset, as_of)
            return self._exposure[as_of]
        if as_of in self._exposure:
            frame = self._exposure[as_of]
            return frame.filter(pl.col("user_id").is_in(pl.Series(list(user_ids)).implode()))
        wanted = pl.DataFrame({"user_id": list(user_ids)}, schema={"user_id": pl.String})
        return user_exposure_frame(self.dataset, as_of, wanted.unique(maintain_order=True))
