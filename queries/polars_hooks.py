"""The detection frames computed in memory with Polars (and scipy for rings).

:class:`PolarsHooks` implements :class:`~xpg.queries.frames.DetectionHooks`
over a :class:`~xpg.loaders.dataset.Dataset`. Every method is a handful of
vectorized filters, joins and group-bys: O(rows), no Python loop per row.
The exact semantics of each frame are in ``docs/detections.md``; the Neo4j
backend computes the same frames in Cypher.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property

import numpy as np
import polars as pl
from xpg.graph.links import DEVICE_KIND, Links
from xpg.loaders.dataset import Dataset
from xpg.queries.frames import RingEvidence, conform

from xpg.settings import FreezeConfig, LimitDivergenceConfig, MultiLendingConfig, RingConfig

__all__ = ["CUT_TOLERANCE", "OPEN_LOAN_STATUSES", "PolarsHooks", "scope_expr"]

OPEN_LOAN_STATUSES = ("open", "overdue")
LIFT_EVENTS = ("unfreeze", "reopen")
CUT_TOLERANCE = 1e-6
"""CNY: a cut "by 80%" holds when ``old - new >= 0.8 * old - CUT_TOLERANCE``."""


def scope_expr(reason: pl.Expr, config: FreezeConfig) -> pl.Expr:
    """``"user"``/``"product"`` for a reason column, as :meth:`FreezeConfig.scope` does.

    A null reason is unknown, so it gets ``config.unknown_reason_scope``.
    """
    return (
        pl.when(reason.is_in(list(config.user_scope_reasons)))
        .then(pl.lit("user"))
        .when(reason.is_in(list(config.product_scope_reasons)))
        .then(pl.lit("product"))
        .otherwise(pl.lit(config.unknown_reason_scope))
    )


def _window_start(as_of: dt.date, days: int) -> dt.date:
    """First day of the ``days``-day window that ends with ``as_of`` (both whole)."""
    return as_of - dt.timedelta(days=days - 1)


def _drawable(limit: str = "credit_limit", outstanding: str = "outstanding") -> pl.Expr:
    return (pl.col(limit) - pl.col(outstanding)).clip(lower_bound=0.0)


def _pick(frame: pl.DataFrame, prefix: str, **columns: str | pl.Expr) -> pl.DataFrame:
    """``user_id`` and the given columns of ``frame``, renamed ``<prefix><name>``."""
    return frame.select(
        "user_id",
        *((pl.col(c) if isinstance(c, str) else c).alias(prefix + n) for n, c in columns.items()),
    )


def accounts_as_of(dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
    """Accounts that exist as of ``as_of`` (no ``opened_at`` or opened on/before it),
    with their product's ``kind``.

    The kind is looked up, not joined, when product ids are distinct (as loaded
    data's are): the account columns are then shared with ``dataset``, not copied.
    """
    products = dataset.products.select("product_id", "kind")
    accounts = dataset.accounts.filter(
        pl.col("opened_at").is_null() | (pl.col("opened_at") <= as_of)
    )
    ids = products.get_column("product_id")
    if ids.is_duplicated().any():
        return accounts.join(products, on="product_id", how="left")
    kind = pl.col("product_id").replace_strict(
        ids, products.get_column("kind"), default=None, return_dtype=pl.String
    )
    return accounts.with_columns(kind.alias("kind"))


def open_loans_as_of(dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
    """External loans with status ``open``/``overdue`` opened on or before ``as_of``."""
    return dataset.external_loans.filter(
        pl.col("status").is_in(OPEN_LOAN_STATUSES) & (pl.col("opened_at") <= as_of)
    )


def user_exposure_frame(
    dataset: Dataset, as_of: dt.date, users: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Exposure as of ``as_of`` (frame ``exposure``) of every user of ``dataset``, or of
    ``users`` (a frame with a ``user_id`` column) only, in their order.

    One lazy plan: the account and the loan sides run in parallel."""
    acc = accounts_as_of(dataset, as_of).lazy()
    loans = open_loans_as_of(dataset, as_of).lazy()
    if users is None:
        wanted = dataset.users.lazy().select("user_id")
    else:
        wanted = users.lazy().select("user_id").join(dataset.users.lazy(), on="user_id", how="semi")
        acc = acc.join(wanted, on="user_id", how="semi")
        loans = loans.join(wanted, on="user_id", how="semi")
    internal = acc.group_by("user_id").agg(
        pl.col("credit_limit").filter(pl.col("status") != "closed").sum().alias("internal_limit"),
        pl.col("outstanding").sum().alias("internal_outstanding"),
        _drawable().filter(pl.col("status") == "active").sum().alias("drawable"),
    )
    external = loans.group_by("user_id").agg(
        pl.col("outstanding").sum().alias("external_outstanding")
    )
    amounts = ["internal_limit", "internal_outstanding", "drawable", "external_outstanding"]
    return (
        wanted.join(internal, on="user_id", how="left", maintain_order="left")
        .join(external, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.col(amounts).cast(pl.Float64).fill_null(0.0))
        .with_columns(
            (
                pl.col("internal_outstanding") + pl.col("drawable") + pl.col("external_outstanding")
            ).alias("total")
        )
        .collect()
    )


class PolarsHooks:
    """Detection frames over one :class:`Dataset`, computed with Polars.

    Parameters
    ----------
    dataset
        The loaded tables.
    links
        A prebuilt :class:`~xpg.graph.links.Links` of ``dataset`` to share (the
        in-memory backend passes its own); built on first use otherwise.

    Examples
    --------
    See :func:`xpg.queries.detect`, which runs every hook and assembles findings.
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

    def multi_lending(self, config: MultiLendingConfig, as_of: dt.date) -> pl.DataFrame:
        """Counts of distinct lenders per user first; lender lists only for the users
        that meet a criterion (a few percent of them)."""
        loans = open_loans_as_of(self.dataset, as_of).lazy().select("user_id", "lender_id")
        day = pl.col("applied_at").dt.date()
        widest = max(config.short_window_days, config.long_window_days)
        apps = (
            self.dataset.applications.lazy()
            .filter(day <= as_of, day >= _window_start(as_of, widest))
            .select("user_id", "lender_id", day.alias("day"))
        )
        sources = {
            "open_lenders": (loans, config.min_open_lenders),
            "short_window_lenders": (
                apps.filter(pl.col("day") >= _window_start(as_of, config.short_window_days)),
                config.short_window_lenders,
            ),
            "long_window_lenders": (
                apps.filter(pl.col("day") >= _window_start(as_of, config.long_window_days)),
                config.long_window_lenders,
            ),
        }
        # one lazy plan: the three counts (and then the three lists) run in parallel
        flagged = pl.concat(
            [
                rows.group_by("user_id")
                .agg(pl.col("lender_id").n_unique().alias("n"))
                .filter(pl.col("n") >= threshold)
                .select("user_id")
                for rows, threshold in sources.values()
            ]
        ).unique()
        frame = flagged
        for name, (rows, _) in sources.items():
            lists = (
                rows.join(flagged, on="user_id", how="semi")
                .group_by("user_id")
                .agg(pl.col("lender_id").unique().sort().alias(name))
            )
            frame = frame.join(lists, on="user_id", how="left")
        frame = frame.with_columns(
            pl.col(list(sources)).fill_null(pl.lit([], dtype=pl.List(pl.String)))
        ).collect()
        return conform("multi_lending", frame)

    def ring_groups(self, config: RingConfig, as_of: dt.date) -> pl.DataFrame:
        kept = self.links.kept(config.identifier_kinds, config.hub_max_users, as_of)
        members = np.flatnonzero(kept.labels >= 0)
        labels = kept.labels[members]
        sizes = np.bincount(labels) if labels.size else np.zeros(0, dtype=np.int64)
        chosen = sizes[labels] >= config.min_users
        members, labels = members[chosen], labels[chosen]
        frame = pl.DataFrame(
            {
                "group": pl.Series(labels, dtype=pl.Int64).cast(pl.String),
                "user_id": self.links.user_ids.gather(members),
            }
        )
        return conform("ring_groups", frame)

    def ring_evidence(
        self, config: RingConfig, as_of: dt.date, members: pl.DataFrame
    ) -> RingEvidence:
        links = self.links
        kept = links.kept(config.identifier_kinds, config.hub_max_users, as_of)
        groups = members.select("group").unique(maintain_order=True).with_row_index("code")
        coded = members.join(groups, on="group").join(
            pl.DataFrame({"user_id": links.user_ids}).with_row_index("user_idx"),
            on="user_id",
        )
        code_of_user = np.full(links.n_users, -1, dtype=np.int64)
        code_of_user[coded.get_column("user_idx").to_numpy()] = coded.get_column("code").to_numpy()
        edge_code = code_of_user[kept.user]
        mask = edge_code >= 0
        shared = (
            pl.DataFrame({"code": edge_code[mask], "node_idx": kept.node[mask].astype(np.int64)})
            .group_by("code", "node_idx")
            .agg(pl.len().cast(pl.Int64).alias("members"))
            .filter(pl.col("members") >= 2)
            .join(links.nodes, on="node_idx")
            .join(groups.with_columns(pl.col("code").cast(pl.Int64)), on="code")
        )
        devices = shared.filter(pl.col("kind") == DEVICE_KIND).rename({"value": "device_id"})
        identifiers = shared.filter(pl.col("kind") != DEVICE_KIND)
        lenders = (
            open_loans_as_of(self.dataset, as_of)
            .join(members, on="user_id")
            .group_by("group", "lender_id")
            .agg(pl.col("user_id").n_unique().cast(pl.Int64).alias("members"))
        )
        return RingEvidence(
            devices=conform("ring_devices", devices),
            identifiers=conform("ring_identifiers", identifiers),
            lenders=conform("ring_lenders", lenders),
        )

    def freeze_inconsistency(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        acc = accounts_as_of(self.dataset, as_of)
        frozen = acc.filter(
            pl.col("status").is_in(("frozen", "closed")),
            scope_expr(pl.col("status_reason"), config) == "user",
        )
        frozen = _pick(
            frozen,
            "frozen_",
            account_id="account_id",
            product_id="product_id",
            kind="kind",
            status="status",
            reason="status_reason",
            since="status_changed_at",
        )
        drawable = _pick(
            acc.filter(pl.col("status") == "active", _drawable() > 0),
            "",
            drawable_account_id="account_id",
            drawable_product_id="product_id",
            drawable_kind="kind",
            drawable=_drawable(),
        )
        pairs = frozen.join(drawable, on="user_id").filter(
            pl.col("frozen_kind") != pl.col("drawable_kind")
        )
        return conform("freeze_inconsistency", pairs)

    def _events_as_of(self, as_of: dt.date, *predicates: pl.Expr) -> pl.DataFrame:
        """Events on or before ``as_of`` of accounts existing as of then, with the account.

        ``predicates`` (on event columns) select the events before they are joined
        with their account: each detection joins only the events it looks at.
        """
        acc = accounts_as_of(self.dataset, as_of).select(
            "account_id",
            "user_id",
            "product_id",
            "kind",
            pl.col("status").alias("account_status"),
            "status_reason",
            _drawable().alias("account_drawable"),
        )
        return self.dataset.account_events.filter(
            pl.col("at").dt.date() <= as_of, *predicates
        ).join(acc, on="account_id", how="inner")

    def restored_after_freeze(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        events = self._events_as_of(as_of, pl.col("event").is_in(("freeze", *LIFT_EVENTS)))
        lifts = events.filter(pl.col("event").is_in(LIFT_EVENTS))
        last_lift = lifts.group_by("account_id").agg(pl.col("at").max().alias("last_lift"))
        reason = pl.coalesce(pl.col("reason"), pl.col("status_reason"))
        freezes = (
            events.filter(pl.col("event") == "freeze", pl.col("account_status") == "frozen")
            .with_columns(reason.alias("freeze_reason"))
            .filter(scope_expr(pl.col("freeze_reason"), config) == "user")
            .join(last_lift, on="account_id", how="left")
            .filter(pl.col("last_lift").is_null() | (pl.col("last_lift") <= pl.col("at")))
        )
        freezes = _pick(
            freezes,
            "",
            frozen_account_id="account_id",
            frozen_product_id="product_id",
            freeze_at="at",
            freeze_reason="freeze_reason",
        )
        restores = _pick(
            lifts,
            "restored_",
            account_id="account_id",
            product_id="product_id",
            event="event",
            at="at",
            drawable=pl.when(pl.col("account_status") == "active")
            .then(pl.col("account_drawable"))
            .otherwise(0.0),
        )
        pairs = freezes.join(restores, on="user_id").filter(
            pl.col("restored_account_id") != pl.col("frozen_account_id"),
            pl.col("restored_at") > pl.col("freeze_at"),
        )
        return conform("restored_after_freeze", pairs)

    def limit_divergence(self, config: LimitDivergenceConfig, as_of: dt.date) -> pl.DataFrame:
        changes = self._events_as_of(
            as_of,
            pl.col("event") == "limit_change",
            pl.col("at").dt.date() >= _window_start(as_of, config.window_days),
            pl.col("old_limit").is_not_null(),
            pl.col("new_limit").is_not_null(),
        )
        old, new = pl.col("old_limit"), pl.col("new_limit")
        cuts = changes.filter(
            new < old,
            (new <= config.cut_to_at_most)
            | ((old - new) >= config.cut_fraction * old - CUT_TOLERANCE),
        )
        raises = changes.filter(new > old)

        def side(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
            names = ("account_id", "product_id", "kind", "at", "old_limit", "new_limit")
            return _pick(frame, f"{prefix}_", **{n: n for n in names})

        pairs = (
            side(cuts, "cut")
            .join(side(raises, "raise"), on="user_id")
            .filter(pl.col("cut_kind") != pl.col("raise_kind"))
        )
        return conform("limit_divergence", pairs)
