"""Freeze reason scopes, shared by the two freeze rules (``[detection.freeze]``).

A reason is of *user* scope when listed in ``user_scope_reasons``, of *product*
scope when in ``product_scope_reasons``, else ``unknown_reason_scope`` (a missing
reason too): :meth:`~xpg.settings.FreezeConfig.scope` for one value,
:func:`scope_expr` for a column. Only user-scope freezes make findings
(:func:`user_scope`, the freeze rules' predicate).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import polars as pl
import pydantic
from xpg.queries.rules.base import ReportSection, Rule

from xpg.settings import Scope, Text, settings_section


@settings_section("detection.freeze")
class FreezeConfig:
    """The ``[detection.freeze]`` settings, shared by the two freeze rules: each reason's scope."""

    user_scope_reasons: tuple[Text, ...]
    product_scope_reasons: tuple[Text, ...]
    unknown_reason_scope: Scope

    @pydantic.model_validator(mode="after")
    def _one_scope_each(self) -> FreezeConfig:
        both = sorted(set(self.user_scope_reasons) & set(self.product_scope_reasons))
        if both:
            raise ValueError(f"reason {both[0]!r} is in both user_scope_reasons and "
                             "product_scope_reasons; a reason has one scope")
        return self

    def scope(self, reason: str | None) -> Scope:
        """The scope of one freeze reason (``None``/empty counts as unknown).

        >>> freeze = FreezeConfig()
        >>> freeze.scope("fraud"), freeze.scope("overdue"), freeze.scope(None)
        ('user', 'product', 'user')
        """
        if reason in self.user_scope_reasons:
            return "user"
        if reason in self.product_scope_reasons:
            return "product"
        return self.unknown_reason_scope


__all__ = [
    "FreezeConfig", "FreezeRule", "reason_phrase", "reason_strength", "scope_expr", "user_scope",
]


def scope_expr(reason: pl.Expr, config: FreezeConfig) -> pl.Expr:
    """``"user"``/``"product"`` for a reason column, as :meth:`FreezeConfig.scope` does.

    A null reason is unknown, so it gets ``config.unknown_reason_scope``.

    Examples
    --------
    >>> frame = pl.DataFrame({"r": ["fraud", "overdue", None]})
    >>> frame.select(scope_expr(pl.col("r"), FreezeConfig())).to_series().to_list()
    ['user', 'product', 'user']
    """
    return (
        pl.when(reason.is_in(list(config.user_scope_reasons)))
        .then(pl.lit("user"))
        .when(reason.is_in(list(config.product_scope_reasons)))
        .then(pl.lit("product"))
        .otherwise(pl.lit(config.unknown_reason_scope))
    )


def user_scope(reason: pl.Expr, config: FreezeConfig) -> pl.Expr:
    """THE freeze rules' predicate: the freeze reason is of user scope."""
    return scope_expr(reason, config) == "user"


def reason_phrase(reason: str | None, config: FreezeConfig) -> str:
    """How an explanation names a user-scope freeze reason."""
    if reason is None or reason == "":
        return "with no recorded reason (counted as user scope)"
    if reason in config.user_scope_reasons:
        return f"for {reason}"
    return f"for {reason!r} (an unlisted reason, counted as user scope)"


def reason_strength(reasons: Iterable[str | None], config: FreezeConfig) -> float:
    """1.0 when a listed user-scope reason is involved, 0.75 when only unlisted/missing ones."""
    return 1.0 if any(r in config.user_scope_reasons for r in reasons) else 0.75


class FreezeRule(Rule):
    """A rule of ``[detection.freeze]`` whose frame's ``reason_column`` must be of user
    scope (its predicate, :func:`user_scope`)."""

    section = "freeze"
    config_class = FreezeConfig
    reason_column: ClassVar[str]
    # both freeze rules' findings in one section of the page, by amount at risk
    report_section = ReportSection(
        "inconsistencies", "Cross-product inconsistencies", "Cross-product inconsistencies",
        lead=("<p>{{ d.count }} finding(s): a user stopped in one product for a user-scope "
              "reason but still able to draw in the other kind of product. Drawable amount at "
              "risk: <b>{{ cell(d.total) }}</b> CNY <span class=\"muted\">({{ "
              "definitions.drawable_at_risk }}; a row's amount is that finding's own, so a user "
              "with both kinds of finding is in two rows but in the total once)</span>.</p>"),
        columns=(("user", "users"), ("type", "type"), ("severity", "severity"),
                 ("drawable at risk (CNY)", "at_risk"), ("exposure (CNY)", "exposure"),
                 ("explanation", "explanation")),
        sort="at_risk")

    def qualify(self, frame: pl.DataFrame, config: FreezeConfig) -> pl.DataFrame:
        """The rows whose freeze reason is of user scope."""
        return frame.filter(user_scope(pl.col(self.reason_column), config))
