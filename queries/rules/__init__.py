"""The detection rules: one module per rule, and the registry that runs them.

Each rule is a module of this package defining ``RULE``, an instance of
:class:`~xpg.queries.rules.base.Rule`: its settings section and config class (the
settings' ``[detection]`` is assembled from the registry: :func:`sections`),
its frame schemas and forms (Polars, and the name of its Cypher statement), its
one threshold predicate and its assembly into findings. The registry, in
contract order, drives :func:`xpg.queries.detections.run_detections`, the
finding types (:func:`finding_types`) and the progress steps
(:func:`detection_steps`).

Importing this package is cheap (no Polars): the rule modules load on first use.

Examples
--------
>>> finding_types()[:2]
('multi_lending', 'ring')
>>> detection_steps()[-2:]
('exposure', 'assembly')
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from xpg.settings import use_detection_sections

if TYPE_CHECKING:
    from xpg.queries.frames import Schema
    from xpg.queries.rules.base import Rule

__all__ = [
    "BUILTIN_RULES",
    "FINDING_TYPES",
    "detection_steps",
    "finding_types",
    "frame_schema",
    "group_types",
    "member_types",
    "of_type",
    "register",
    "rule",
    "rules",
    "screening_levels",
    "sections",
    "unregister",
]

BUILTIN_RULES: tuple[str, ...] = (
    "multi_lending",
    "ring",
    "freeze_inconsistency",
    "restored_after_freeze",
    "limit_divergence",
    "linked_risk",
    "lender_velocity",
)
"""The data contract's rules, in contract order (each is ``xpg.queries.rules.<name>``)."""

FINDING_TYPES: tuple[str, ...] = BUILTIN_RULES
"""The data contract's finding types (the built-in rules'; the registry's, a rule added
with :func:`register` included, are :func:`finding_types`)."""

_registry: dict[str, Rule] = {}
_loaded = False


def _rules() -> dict[str, Rule]:
    global _loaded
    if not _loaded:
        builtin = {}
        for name in BUILTIN_RULES:
            module = importlib.import_module(f"xpg.queries.rules.{name}")
            builtin[name] = module.RULE
        # rules registered before the first use come after the built-in ones
        extra = dict(_registry)
        _registry.clear()
        _registry.update(builtin)
        _registry.update(extra)
        _loaded = True
    return _registry


def rules() -> tuple[Rule, ...]:
    """The registered rules, in the order they run and their findings sort."""
    return tuple(_rules().values())


def rule(name: str) -> Rule:
    """The registered rule ``name`` (:class:`KeyError` when there is none)."""
    return _rules()[name]


def sections() -> Mapping[str, type]:
    """Each registered rule's settings section (``[detection.<section>]``) and its config
    class, in registry order: what :class:`~xpg.settings.DetectionConfig` is assembled from.

    >>> list(sections())
    ['multi_lending', 'ring', 'freeze', 'limit_divergence', 'linked_risk', 'lender_velocity']
    """
    return {r.section: r.config_class for r in _rules().values()}


use_detection_sections(sections)


def register(new: Rule) -> Rule:
    """Add a rule after the registered ones; returns it (so it can decorate-assign).
    Its settings section becomes a table of ``[detection]`` (settings loaded after this).

    Raises
    ------
    ValueError
        When a rule of that name is registered already, a rule it runs after is not, or
        its section is another rule's with another config class.
    """
    registry = _rules()
    if new.name in registry:
        raise ValueError(f"a rule named {new.name!r} is registered already")
    owner = next((r for r in registry.values() if r.section == new.section), None)
    if owner is not None and owner.config_class is not new.config_class:
        raise ValueError(f"section {new.section!r} of rule {new.name!r} is rule "
                         f"{owner.name!r}'s, with config class {owner.config_class.__name__}")
    missing = [n for n in new.after if n not in registry]
    if missing:
        raise ValueError(f"rule {new.name!r} runs after unregistered rules {missing}")
    registry[new.name] = new
    return new


def unregister(name: str) -> None:
    """Remove the rule ``name`` (:class:`KeyError` when there is none)."""
    registry = _rules()
    needed = [r.name for r in registry.values() if name in r.after]
    if needed:
        raise ValueError(f"rules {needed} run after {name!r}: unregister them first")
    del registry[name]


def finding_types() -> tuple[str, ...]:
    """The finding types of the registered rules (one per rule, its name), in order."""
    return tuple(_rules())


def of_type(finding_type: str) -> Rule | None:
    """The registered rule whose findings are of ``finding_type`` (None: none is, a type of
    an older report)."""
    return _rules().get(finding_type)


def group_types() -> tuple[str, ...]:
    """The finding types whose findings are groups of users (:attr:`Rule.groups
    <xpg.queries.rules.base.Rule.groups>`: the rings), in registry order.

    >>> group_types()
    ('ring',)
    """
    return tuple(r.name for r in _rules().values() if r.groups)


def member_types() -> tuple[str, ...]:
    """The finding types that mark a group's members (each group rule's
    :attr:`~xpg.queries.rules.base.Rule.member_rule`), in registry order.

    >>> member_types()
    ('multi_lending',)
    """
    return tuple(dict.fromkeys(r.member_rule for r in _rules().values()
                               if r.groups and r.member_rule))


def screening_levels() -> dict[str, str]:
    """Finding type -> the verdict a finding of it on a linked user gives an applicant
    (:attr:`~xpg.queries.rules.base.Rule.screening`), for the rules that declare one.

    >>> screening_levels()["ring"], sorted(screening_levels())[:2]
    ('high', ['freeze_inconsistency', 'lender_velocity'])
    """
    return {r.name: r.screening for r in _rules().values() if r.screening is not None}


def detection_steps() -> tuple[str, ...]:
    """The progress steps (and ``timings`` keys) of a detection run: one per rule, then
    ``exposure`` and ``assembly``."""
    return (*_rules(), "exposure", "assembly")


def frame_schema(name: str) -> Schema:
    """The schema of the detection frame ``name`` (a form of a registered rule, or
    ``exposure``)."""
    from xpg.queries.frames import EXPOSURE_SCHEMA

    if name == "exposure":
        return EXPOSURE_SCHEMA
    for r in rules():
        for form in r.forms:
            if form.name == name:
                return form.schema
    raise KeyError(f"no detection frame {name!r}")
