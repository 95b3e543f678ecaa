"""What a detection rule is: :class:`Rule`, the base every rule module instantiates.

A rule holds, in one place: the settings section it reads (``section``, an
attribute of :class:`~xpg.settings.DetectionConfig`) and that section's class
(``config_class``); its frames (``forms``: schema, Polars form, Cypher statement
name and parameters); its one threshold predicate (:meth:`Rule.qualify`: the
backends' forms may pre-filter with parameters the rule derives from its
settings, but only the predicate decides); and its assembly into findings
(:meth:`Rule.assemble`).

:func:`xpg.queries.detections.run_detections` runs every registered rule's
:meth:`Rule.detect`, gathers the users of their results for one exposure
lookup, then assembles.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import polars as pl
from xpg.queries.assembly import ExposureIndex
from xpg.queries.findings import Finding
from xpg.queries.frames import DetectionHooks, Form

from xpg.settings import DetectionConfig

__all__ = ["ReportSection", "Rule", "Total"]


@dataclass(frozen=True)
class Total:
    """A figure a rule adds to the findings' summary (``summary[key]``): the sum of its
    findings' amounts at risk, to cents (``of="at_risk"``), or the number of users they
    name (``of="users"``).

    >>> Total("ring_members", "users").total([3, 4])
    7
    """

    key: str
    of: Literal["at_risk", "users"]

    def of_frame(self, frame: pl.DataFrame) -> list[Any]:
        """The values of a frame of findings (:data:`xpg.queries.lines.FINDING_FRAME`)."""
        if self.of == "at_risk":
            return [x or 0.0 for x in frame.get_column("at_risk").to_list()]
        return [int(frame.get_column("users").list.len().sum())]

    def of_finding(self, finding: Finding) -> Any:
        """The value of one finding."""
        if self.of == "at_risk":
            return finding.exposure.at_risk or 0.0
        return len(finding.users)

    def total(self, values: list[Any]) -> Any:
        """The figure of the values (in document order: the same float sum every time)."""
        return round(sum(values), 2) if self.of == "at_risk" else int(sum(values))


@dataclass(frozen=True)
class ReportSection:
    """A rule's section of the report page (:mod:`xpg.report.html` draws one per section
    the registered rules declare, in registry order; rules declaring sections of the same
    ``anchor`` share one, the first one's words and columns).

    ``anchor`` is the section's ``id`` (and link), ``nav`` its name in the page's
    navigation, ``heading`` its title; ``lead`` a paragraph above its table: Jinja source
    (autoescaped) given ``d`` (``count``: the findings, ``total``: their drawable amount at
    risk as a figure cell, ``exposure``) and ``definitions`` (:func:`~xpg.queries.totals.
    definitions`), where ``cell`` draws a figure. ``columns`` are ``(header, field)`` pairs
    over each finding, ``field`` one of :data:`FIELDS`; the rows are sorted by ``sort``
    (``at_risk`` or ``exposure``, largest first, then by id), the first ``limit`` shown.
    ``gallery``: instead of a table, the drawn groups of the top findings (each with its
    members, shared links and lenders: the ring rule's gallery).

    >>> ReportSection("big", "Big", "Big limits").columns[0]
    ('user', 'users')
    """

    anchor: str
    nav: str
    heading: str
    lead: str = "<p>{{ d.count }} finding(s).</p>"
    columns: tuple[tuple[str, str], ...] = (
        ("user", "users"), ("severity", "severity"), ("exposure (CNY)", "exposure"),
        ("explanation", "explanation"))
    sort: Literal["at_risk", "exposure"] = "exposure"
    limit: int = 50
    gallery: bool = False

    FIELDS: ClassVar[tuple[str, ...]] = (
        "id", "users", "type", "severity", "score", "at_risk", "exposure", "explanation")
    """The fields a column may show."""

    def __post_init__(self) -> None:
        unknown = [f for _, f in self.columns if f not in self.FIELDS]
        if unknown:
            raise ValueError(f"report section {self.anchor!r}: unknown column fields {unknown}; "
                             f"known: {list(self.FIELDS)}")
        if self.limit < 1:
            raise ValueError(f"report section {self.anchor!r}: limit must be at least 1")


class Rule(ABC):
    """One detection rule (subclass it, then instantiate it as a module's ``RULE``).

    Attributes
    ----------
    name
        The finding type and the progress step.
    section
        The attribute of :class:`~xpg.settings.DetectionConfig` holding its settings
        (and the ``[detection.<section>]`` table of a config file).
    config_class
        The class of that section (its defaults when the section is absent).
    forms
        Its detection frames.
    after
        Rules whose results :meth:`detect` reads (``earlier``); they run first.
    incremental
        Which changes reach it, for the nightly run (:mod:`xpg.graph.nightly.run`): ``"user"``,
        a user's findings depend only on that user's own rows, the shared tables
        (products, lenders) and the run date, so the rule runs again on the changed
        users alone and the other users' findings are kept; ``"graph"``, it depends on
        the users' link graph (the ring rule: the nightly run's graph stage);
        ``"neighbours"``, a user's findings depend on its own rows and those of the users
        sharing a kept node of the ring's graph with it (``linked_risk``): the nightly run
        runs it again on the users its graph stage reaches (every user of a group a change
        reaches) and keeps the others' findings; ``None``
        (the default), not declared: a nightly run with such a rule registered is a
        full run (its reason says so).
    at_risk_evidence
        The key of its findings' evidence listing the drawable accounts it puts at risk
        (rows with ``account_id`` and ``drawable``), counted once each in the report's
        drawable-at-risk figure (:mod:`xpg.queries.totals`); None: it names none.
    totals
        The figures it adds to the findings' summary (:class:`Total`; the summary lists
        every rule's by key, after the figures every run has).
    report_section
        Its section of the report page (:class:`ReportSection`); None: its findings are in
        the page's overall tables only.
    groups
        Whether each finding is a group of users acting together (the ring rule's): it
        names two members or more, its id is carried from night to night by member
        overlap (:mod:`xpg.queries.diff`), the report counts and draws it as a ring, and
        ``xpg query ring`` answers for it (:func:`~xpg.queries.rules.group_types`).
    member_rule
        For a group rule: the rule whose findings mark its members (the ring's
        multi-lending members: each member's flag in ``xpg query ring``, the
        multi-lenders of ``xpg query group``, the diff's reasons
        ``fewer_multi_lenders``/``more_multi_lenders``); None: none.
    change_reasons
        How :mod:`xpg.queries.reasons` explains a change of its findings between two
        nights: ``"members"``, a group's members moved (links, members of
        :attr:`member_rule`, a core); ``"loans"``, the open loans at its lenders and its
        application windows; ``"window"``, its events fell out of its window or changed
        again; None (the default): an account's status, the severity or the exposure.
    screening
        The verdict a finding of this rule on a user linked to an applicant gives the
        screening (:mod:`xpg.queries.screen`): ``"high"`` or ``"elevated"``; None (the
        default): it does not count.
    """

    name: ClassVar[str]
    section: ClassVar[str]
    config_class: ClassVar[type]
    forms: ClassVar[tuple[Form, ...]]
    after: ClassVar[tuple[str, ...]] = ()
    incremental: ClassVar[Literal["user", "graph", "neighbours"] | None] = None
    at_risk_evidence: ClassVar[str | None] = None
    totals: ClassVar[tuple[Total, ...]] = ()
    report_section: ClassVar[ReportSection | None] = None
    groups: ClassVar[bool] = False
    member_rule: ClassVar[str | None] = None
    change_reasons: ClassVar[Literal["members", "loans", "window"] | None] = None
    screening: ClassVar[Literal["high", "elevated"] | None] = None

    def settings(self, detection: DetectionConfig) -> Any:
        """This rule's section of ``detection`` (its class's defaults when absent)."""
        section = getattr(detection, self.section, None)
        return self.config_class() if section is None else section

    def form(self, name: str) -> Form:
        """The form named ``name``."""
        return next(f for f in self.forms if f.name == name)

    def detect(
        self, hooks: DetectionHooks, config: Any, as_of: dt.date, earlier: Mapping[str, Any]
    ) -> Any:
        """The rule's result as of ``as_of``: by default, its one frame as the backend
        computes it, kept where :meth:`qualify` holds."""
        (form,) = self.forms
        return self.qualify(form.conform(hooks.compute(form, config, as_of)), config)

    def qualify(self, frame: pl.DataFrame, config: Any) -> pl.DataFrame:
        """The rows of ``frame`` that meet the rule's thresholds (default: all)."""
        return frame

    def users(self, result: Any) -> pl.DataFrame:
        """The users the result names (``user_id``), for the exposure lookup."""
        return result.select("user_id")

    @abstractmethod
    def assemble(self, result: Any, exposure: ExposureIndex, config: Any) -> list[Finding]:
        """The findings of ``result``."""

    def assemble_frame(self, result: Any, exposure: ExposureIndex, config: Any
                       ) -> pl.DataFrame | None:
        """The findings of ``result`` as one frame (:data:`xpg.queries.lines.FINDING_FRAME`,
        any row order), or None (the default) to use :meth:`assemble`.

        A rule with many findings gives this fast form; :meth:`assemble` stays its oracle:
        ``Finding.from_dict(json.loads(line))`` of each row must be the finding
        :meth:`assemble` makes, and ``line`` its JSON (``tests/test_detect_frames.py``).
        """
        return None
