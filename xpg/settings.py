"""Typed, strict settings.

Precedence, highest first: explicit overrides (CLI flags) > environment >
user TOML file (``--config``) > the packaged ``config/defaults.toml``.
Unknown keys, wrong types and out-of-range values (a window of 0 days, a
share above 1, an identifier kind in capitals, a freeze reason in both
scopes) raise :class:`~xpg.errors.ConfigError` naming the key; the detection
and load sections check themselves when made, so a config built in code is
refused the same way.
Secrets (the Neo4j password) come only from the environment; URLs are
redacted before they are logged (:func:`redact_url`).

The settings are immutable values passed down explicitly: there is no global
mutable configuration.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from xpg.errors import ConfigError

__all__ = [
    "DetectionConfig",
    "FreezeConfig",
    "LimitDivergenceConfig",
    "LoadConfig",
    "MultiLendingConfig",
    "Neo4jConfig",
    "RingConfig",
    "Settings",
    "load_settings",
    "redact_url",
]

Backend = Literal["memory", "neo4j"]
Scope = Literal["user", "product"]


@dataclass(frozen=True)
class _Range:
    """The values a numeric setting may take: ``low`` <= v (``<`` when ``open_low``) <= ``high``."""

    low: float
    high: float | None = None
    open_low: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return above and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"


def _ranged(default: float, low: float, high: float | None = None, *,
            open_low: bool = False) -> Any:
    """A dataclass field whose value must lie in a :class:`_Range` (checked by :func:`_check`)."""
    return field(default=default, metadata={"range": _Range(low, high, open_low)})


def _check(config: Any) -> None:
    """Refuse a settings section whose numbers are out of range (ConfigError naming the key).

    Each section names its place in the settings tree (``_key``), so the message
    names the dotted key whether the section came from a file or was made in code.
    """
    for f in dataclasses.fields(config):
        bounds = f.metadata.get("range")
        if bounds is None:
            continue
        value = getattr(config, f.name)
        where = f"{config._key}.{f.name}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if value not in bounds:
            raise ConfigError(f"{where}: must be {bounds}, got {value!r}")


@dataclass(frozen=True)
class MultiLendingConfig:
    _key: ClassVar[str] = "detection.multi_lending"

    min_open_lenders: int = _ranged(4, 1)
    short_window_days: int = _ranged(7, 1)
    short_window_lenders: int = _ranged(3, 1)
    long_window_days: int = _ranged(30, 1)
    long_window_lenders: int = _ranged(6, 1)

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class RingConfig:
    _key: ClassVar[str] = "detection.ring"

    hub_max_users: int = _ranged(20, 1)
    min_users: int = _ranged(3, 2)
    min_multi_lending_share: float = _ranged(0.5, 0, 1)
    identifier_kinds: tuple[str, ...] = ("phone", "bank_card", "id_number")

    def __post_init__(self) -> None:
        _check(self)
        where = f"{self._key}.identifier_kinds"
        if isinstance(self.identifier_kinds, str):
            raise ConfigError(f"{where}: expected a list, got {self.identifier_kinds!r}")
        for i, kind in enumerate(self.identifier_kinds):
            if not isinstance(kind, str) or not kind.strip():
                raise ConfigError(f"{where}[{i}]: expected a non-empty kind, got {kind!r}")
            if kind != kind.strip().lower():
                raise ConfigError(
                    f"{where}[{i}]: {kind!r} must be lower case, as the kinds in the "
                    f"identifiers table are; did you mean {kind.strip().lower()!r}?"
                )


@dataclass(frozen=True)
class FreezeConfig:
    _key: ClassVar[str] = "detection.freeze"

    user_scope_reasons: tuple[str, ...] = ("fraud", "security", "regulatory", "multi_lending")
    product_scope_reasons: tuple[str, ...] = (
        "overdue",
        "credit_risk",
        "customer_request",
        "system",
    )
    unknown_reason_scope: Scope = "user"

    def __post_init__(self) -> None:
        both = sorted(set(self.user_scope_reasons) & set(self.product_scope_reasons))
        if both:
            raise ConfigError(
                f"{self._key}: reason {both[0]!r} is in both user_scope_reasons and "
                "product_scope_reasons; a reason has one scope"
            )

    def scope(self, reason: str | None) -> Scope:
        """The scope of one freeze reason (``None``/empty counts as unknown)."""
        if reason in self.user_scope_reasons:
            return "user"
        if reason in self.product_scope_reasons:
            return "product"
        return self.unknown_reason_scope


@dataclass(frozen=True)
class LimitDivergenceConfig:
    _key: ClassVar[str] = "detection.limit_divergence"

    window_days: int = _ranged(30, 1)
    cut_to_at_most: float = _ranged(50.0, 0)
    cut_fraction: float = _ranged(0.8, 0, 1, open_low=True)

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class DetectionConfig:
    multi_lending: MultiLendingConfig = field(default_factory=MultiLendingConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    limit_divergence: LimitDivergenceConfig = field(default_factory=LimitDivergenceConfig)


@dataclass(frozen=True)
class LoadConfig:
    _key: ClassVar[str] = "load"

    max_errors: int = _ranged(1000, 1)
    # table -> {their column name: contract column name}
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class Neo4jConfig:
    """Where the Neo4j backend connects, and how many rows it writes per transaction.

    ``batch_size`` is range-checked when settings are built (:func:`load_settings`);
    a config made in code with a bad one is refused by the backend itself
    (:class:`~xpg.graph.neo4j.Neo4jBackend`), not here.
    """

    _key: ClassVar[str] = "neo4j"

    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    database: str = "neo4j"
    batch_size: int = _ranged(20000, 1)
    password: str | None = field(default=None, repr=False)  # environment only

    @property
    def redacted_uri(self) -> str:
        return redact_url(self.uri)


@dataclass(frozen=True)
class Settings:
    backend: Backend = "memory"
    load: LoadConfig = field(default_factory=LoadConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    neo4j: Neo4jConfig = field(default_factory=Neo4jConfig)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# environment variable -> dotted key
ENVIRONMENT = {
    "XPG_BACKEND": "backend",
    "NEO4J_URI": "neo4j.uri",
    "NEO4J_USER": "neo4j.user",
    "NEO4J_USERNAME": "neo4j.user",
    "NEO4J_DATABASE": "neo4j.database",
    "XPG_NEO4J_BATCH_SIZE": "neo4j.batch_size",
}
SECRET_KEYS = {"neo4j.password"}


def redact_url(url: str) -> str:
    """Drop any user:password from a URL before it is shown or logged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert the few safe cases."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        _key_t, val_t = typing.get_args(tp)
        return types.MappingProxyType(
            {str(k): _convert(val_t, v, f"{where}.{k}") for k, v in value.items()}
        )
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int or tp is float:
        return _number(tp, value, where)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {tp!r}")  # pragma: no cover


def _number(tp: type[int] | type[float], value: Any, where: str) -> int | float:
    """An ``int`` or ``float`` setting from TOML or a string (environment, flags).

    The type only: each field's range is checked by its section (:func:`_check`).
    """
    wanted = "an integer" if tp is int else "a number"
    if isinstance(value, str):
        try:
            value = tp(value)
        except ValueError:
            raise ConfigError(f"{where}: expected {wanted}, got {value!r}") from None
    accepted = int if tp is int else int | float
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ConfigError(f"{where}: expected {wanted}, got {value!r}")
    return tp(value)


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'settings'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown setting {'.'.join(filter(None, [where, unknown[0]]))!s}; "
            f"known here: {sorted(names)}"
        )
    kwargs = {
        k: _convert(hints[k], v, ".".join(filter(None, [where, k]))) for k, v in data.items()
    }
    built = cls(**kwargs)
    if hasattr(cls, "_key") and not hasattr(cls, "__post_init__"):
        _check(built)  # a section that does not check itself when made (Neo4jConfig)
    return built


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e


def _defaults() -> dict[str, Any]:
    text = resources.files("xpg.config").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment and overrides.

    ``overrides`` maps dotted keys (``"detection.ring.hub_max_users"``) to values;
    ``None`` values are ignored, so CLI flags that were not given can be passed as-is.

    Examples
    --------
    >>> s = load_settings(environ={}, overrides={"detection.ring.hub_max_users": 50})
    >>> s.detection.ring.hub_max_users, s.backend
    (50, 'memory')
    """
    env = os.environ if environ is None else environ
    tree = _defaults()
    if config_file is not None:
        user = _read_toml(Path(config_file))
        for secret in SECRET_KEYS:
            section, key = secret.split(".")
            if key in user.get(section, {}):
                raise ConfigError(
                    f"{config_file}: {secret} must not be stored in a file; "
                    "set the NEO4J_PASSWORD environment variable"
                )
        tree = _deep_merge(tree, user)
    for var, dotted in ENVIRONMENT.items():
        if env.get(var):
            _set_dotted(tree, dotted, env[var])
    if env.get("NEO4J_PASSWORD"):
        _set_dotted(tree, "neo4j.password", env["NEO4J_PASSWORD"])
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, dotted, value)
    return _build(Settings, tree, "")
