"""The value types of a setting (a strict number in its range, text, an identifier kind,
a frozen table) and the sentence a refused value becomes: :func:`_describe` turns
pydantic's first error into a :class:`~xpg.errors.ConfigError` message naming the dotted
key, the value and what is allowed. :mod:`xpg.settings_model` builds the sections from
them; rule modules take them from :mod:`xpg.settings`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BeforeValidator, Strict, ValidationInfo

__all__ = [
    "Amount",
    "AtLeastTwo",
    "Backend",
    "Count",
    "Fraction",
    "IdentifierKind",
    "Scope",
    "Seconds",
    "Share",
    "Text",
]

Backend = Literal["memory", "neo4j", "spark"]
Scope = Literal["user", "product"]


# -- field types ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Range:
    """The values a numeric setting may take: ``low`` <= v (``<`` when ``open_low``) <= ``high``.

    >>> _Range(0, 1, open_low=True)(0.5), str(_Range(2))
    (0.5, '>= 2')
    """

    low: float
    high: float | None = None
    open_low: bool = False

    def __call__(self, value: float) -> float:
        above = value > self.low if self.open_low else value >= self.low
        if not (above and (self.high is None or value <= self.high)):
            raise ValueError(f"must be {self}, got {value!r}")
        return value

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"


def _from_text(kind: type[int] | type[float]) -> Callable[[Any, ValidationInfo], Any]:
    """Numbers written as text (environment, flags, a quoted TOML value) are converted,
    but only while :func:`load_settings` validates; a section made in code gets the type
    it was given checked strictly."""

    def convert(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and (info.context or {}).get("text"):
            try:
                return kind(value.strip())
            except ValueError:
                return value  # refused by the strict type check, with the value shown
        return value

    return convert


def _number(kind: type[int] | type[float], low: float, high: float | None = None, *,
            open_low: bool = False) -> Any:
    """A strict ``int``/``float`` setting whose value must lie in a :class:`_Range`."""
    return Annotated[Annotated[kind, Strict()], BeforeValidator(_from_text(kind)),
                     AfterValidator(_Range(low, high, open_low))]


Count = _number(int, 1)
Seconds = _number(int, 0)
AtLeastTwo = _number(int, 2)
Share = _number(float, 0, 1)
Fraction = _number(float, 0, 1, open_low=True)
Amount = _number(float, 0)
Text = Annotated[str, Strict()]


def _kind(kind: str) -> str:
    if not kind.strip():
        raise ValueError(f"expected a non-empty kind, got {kind!r}")
    if kind != kind.strip().lower():
        raise ValueError(f"{kind!r} must be lower case, as the kinds in the identifiers "
                         f"table are; did you mean {kind.strip().lower()!r}?")
    return kind


IdentifierKind = Annotated[Text, AfterValidator(_kind)]


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(
        {k: _frozen_mapping(v) if isinstance(v, Mapping) else v for k, v in value.items()})


# -- errors -----------------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "expected an integer", "int_parsing": "expected an integer",
    "float_type": "expected a number", "float_parsing": "expected a number",
    "string_type": "expected a string",
    "tuple_type": "expected a list", "list_type": "expected a list",
    "dataclass_type": "expected a table", "dict_type": "expected a table",
    "mapping_type": "expected a table",
}


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out


def _known_fields(root: Any, loc: Sequence[str | int]) -> list[str]:
    """The keys the section at ``loc`` knows (``root`` is the class validated)."""
    section: Any = root
    for part in loc:
        hints = {f.name: f for f in dataclasses.fields(section)}
        section = hints[str(part)].default_factory  # type: ignore[assignment]
    return sorted(f.name for f in dataclasses.fields(section))


def _describe(error: pydantic.ValidationError, root: Any, base: str = "") -> tuple[str, str]:
    """The first problem pydantic found as a sentence naming the key, the value and what is
    allowed; and the dotted key (``root`` is the class validated, at ``base``)."""
    first = error.errors(include_url=False)[0]
    loc, kind, value = tuple(first["loc"]), first["type"], first.get("input")
    key = ".".join(filter(None, [base, _dotted(loc)]))
    if kind == "unexpected_keyword_argument":
        return f"unknown setting {key}; known here: {_known_fields(root, loc[:-1])}", key
    if kind == "literal_error":
        return f"{key}: {value!r} is not one of {first['ctx']['expected']}", key
    if kind in _EXPECTED:
        return f"{key}: {_EXPECTED[kind]}, got {value!r}", key
    if kind == "value_error":
        return f"{key}: {first['ctx']['error']}", key
    return f"{key}: {first['msg']}, got {value!r}", key


