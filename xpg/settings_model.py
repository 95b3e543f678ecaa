"""The settings model: one frozen, validated section per table of the configuration
(``[load]``, ``[neo4j]``, ``[spark]``, ``[report]``, ``[privacy]``, ``[cases]``,
``[state]``; :class:`Settings` holds them), each taking its field defaults from the
packaged ``config/defaults.toml`` (:data:`DEFAULTS`), and ``[detection]`` assembled from
the rule registry (:class:`DetectionConfig`). Where the values come from and in which
order (files, environment, flags) is :mod:`xpg.settings` (:func:`~xpg.settings.load_settings`).
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import field
from importlib import resources
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import AfterValidator, ConfigDict, StrictBool, StrictInt, ValidationInfo
from pydantic.dataclasses import dataclass as pydantic_dataclass

from xpg.errors import ConfigError
from xpg.settings_types import (
    AtLeastTwo,
    Backend,
    Count,
    Fraction,
    Seconds,
    Text,
    _describe,
    _frozen_mapping,
)

__all__ = [
    "DEFAULTS",
    "CasesConfig",
    "DetectionConfig",
    "LoadConfig",
    "Neo4jConfig",
    "PrivacyConfig",
    "ReportConfig",
    "Settings",
    "SparkConfig",
    "StateConfig",
    "config_key",
    "detection_sections",
    "redact_url",
    "settings_section",
    "use_detection_sections",
]

_T = TypeVar("_T")


def _read_defaults() -> dict[str, Any]:
    text = resources.files("xpg.config").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


DEFAULTS: Mapping[str, Any] = _read_defaults()
"""The packaged ``config/defaults.toml`` as read: the one source of every default."""


# -- sections ---------------------------------------------------------------------------------

_MODEL = ConfigDict(extra="forbid")


def _lookup(tree: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    for part in filter(None, dotted.split(".")):
        tree = tree.get(part, {})
    return tree


def _section(key: str) -> Callable[[type[_T]], type[_T]]:
    """Make ``cls`` a frozen, validated settings section whose defaults are
    ``config/defaults.toml``'s table ``key`` ("" is the top level), where it has one
    (a section without a table there gives its defaults in the class).

    Construction errors become :class:`ConfigError` naming the dotted key.
    """

    def make(cls: type[_T]) -> type[_T]:
        for name, value in _lookup(DEFAULTS, key).items():
            if name not in cls.__annotations__:
                raise TypeError(f"defaults.toml: [{key}] {name} is no field of {cls.__name__}")
            if isinstance(value, Mapping):
                if name in cls.__dict__:  # a sub-section: its own class holds its defaults
                    continue
                setattr(cls, name, field(
                    default_factory=functools.partial(_frozen_mapping, value)))
            else:
                setattr(cls, name, tuple(value) if isinstance(value, list) else value)
        cls._key = key  # type: ignore[attr-defined]
        made = pydantic_dataclass(frozen=True, config=_MODEL)(cls)
        validated_init = made.__init__

        @functools.wraps(validated_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                validated_init(self, *args, **kwargs)
            except pydantic.ValidationError as e:
                raise ConfigError(_describe(e, made, key)[0]) from e

        made.__init__ = __init__  # type: ignore[misc]
        return made

    return make


# -- the detection section: one table per registered rule section ---------------------------

SectionsSource = Callable[[], Mapping[str, type]]
_sections_source: list[SectionsSource] = []


def use_detection_sections(source: SectionsSource) -> None:
    """Say where :class:`DetectionConfig` finds its sections: ``source()`` maps each
    ``[detection.<section>]`` table to its config class. The rule registry
    (:mod:`xpg.queries.rules`) installs itself here when imported (the ``xpg`` package
    imports it), so the sections are the registered rules' sections, a rule registered
    later included. Settings hold no list of rules. The first source installed stays (a
    second copy of the registry module, as a test collector may import, changes nothing)."""
    if not _sections_source:
        _sections_source.append(source)


def detection_sections() -> Mapping[str, type]:
    """Section name -> config class, as the registered rules give them (registry order)."""
    return dict(_sections_source[0]()) if _sections_source else {}


def _validator(cls: type) -> Any:
    """The validator of a section class: its own (a :func:`settings_section` class), else
    one made for it (a plain dataclass of a rule defined elsewhere)."""
    own = getattr(cls, "__pydantic_validator__", None)
    return own if own is not None else pydantic.TypeAdapter(cls).validator


def _detection_sections(given: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Each registered section of ``given`` validated by its class (mappings), taken as is
    (instances), or its class's defaults (absent); an unknown section is refused."""
    classes = detection_sections()
    unknown = sorted(set(given) - set(classes))
    if unknown:
        key = f"detection.{unknown[0]}"
        raise ConfigError(f"unknown setting {key}; known here: {sorted(classes)}", key=key)
    out: dict[str, Any] = {}
    for name, cls in classes.items():
        value = given.get(name)
        if value is None:
            out[name] = cls()
        elif isinstance(value, cls):
            out[name] = value
        else:
            known = sorted(f.name for f in dataclasses.fields(cls))
            extra = sorted(set(value) - set(known)) if isinstance(value, Mapping) else []
            if extra:
                key = f"detection.{name}.{extra[0]}"
                raise ConfigError(f"unknown setting {key}; known here: {known}", key=key)
            try:
                out[name] = _validator(cls).validate_python(value, context=context)
            except pydantic.ValidationError as e:
                text, key = _describe(e, cls, f"detection.{name}")
                raise ConfigError(text, key=key) from e
    return out


class DetectionConfig(Mapping[str, Any]):
    """The ``[detection]`` settings: one frozen section per registered rule section
    (``detection.ring``, ``detection.freeze``, ...; :func:`detection_sections`), each
    validated by the config class its rule defines; an absent section takes its class's
    defaults, an unknown one raises :class:`~xpg.errors.ConfigError`.

    Examples
    --------
    >>> d = DetectionConfig()
    >>> d.ring.hub_max_users, "ring" in d
    (20, True)
    >>> d.replace(ring={"hub_max_users": 5}).ring.hub_max_users
    5
    >>> DetectionConfig(rings={})
    Traceback (most recent call last):
    ...
    xpg.errors.ConfigError: unknown setting detection.rings; known here: [...]
    """

    _key: ClassVar[str] = "detection"

    def __init__(self, **sections: Any) -> None:
        self.__dict__.update(_detection_sections(sections))  # vars(): the sections

    @classmethod
    def _made(cls, sections: dict[str, Any]) -> DetectionConfig:
        made = object.__new__(cls)
        made.__dict__.update(sections)
        return made

    @property
    def _sections(self) -> dict[str, Any]:
        return self.__dict__

    def __getattr__(self, name: str) -> Any:  # only for a name that is no section
        raise AttributeError(f"no detection section {name!r}; known: {sorted(self.__dict__)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __getitem__(self, name: str) -> Any:
        return self._sections[name]

    def __iter__(self) -> Any:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DetectionConfig) and self._sections == other._sections

    def __hash__(self) -> int:
        return hash(tuple(self._sections.items()))

    def __repr__(self) -> str:
        return f"DetectionConfig({', '.join(f'{k}={v!r}' for k, v in self._sections.items())})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (DetectionConfig._made, (dict(self._sections),))

    def replace(self, **changes: Any) -> DetectionConfig:
        """A copy with the sections ``changes`` names replaced (instances or mappings)."""
        return DetectionConfig(**{**self._sections, **changes})

    @property
    def __dataclass_fields__(self) -> dict[str, dataclasses.Field[Any]]:
        """One field per section, so ``dataclasses.replace``/``fields`` work on it as on
        the other sections (its fields are the registry's, so they are the instance's)."""
        out = {}
        for name in self._sections:
            f: dataclasses.Field[Any] = dataclasses.field()
            f.name, f._field_type = name, dataclasses._FIELD  # type: ignore[attr-defined]
            out[name] = f
        return out

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any, info: ValidationInfo) -> DetectionConfig:
            if isinstance(value, DetectionConfig):
                return value
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a table, got {value!r}")
            return cls._made(_detection_sections(value, info.context))

        return core_schema.with_info_plain_validator_function(validate)


ColumnMap = Annotated[Mapping[Text, Mapping[Text, Text]], AfterValidator(_frozen_mapping)]
# table (or "shared") -> kind of mapping -> column -> value; checked against the contract
# by the loaders (xpg.loaders.mapping), which know the tables
MappingTree = Annotated[Mapping[Text, Mapping[Text, Mapping[Text, Any]]],
                        AfterValidator(_frozen_mapping)]


# table -> a file-name pattern (or several), e.g. users = "users_*.csv"
FilePatterns = Annotated[Mapping[Text, Text | tuple[Text, ...]], AfterValidator(_frozen_mapping)]
# table -> a Polars SQL query over the folder's files, each registered by its file stem
Queries = Annotated[Mapping[Text, Text], AfterValidator(_frozen_mapping)]
# table -> option -> value (encoding, separator, date_format, decimal_comma, max_rows)
TableOptions = Annotated[Mapping[Text, Mapping[Text, Text | StrictBool | StrictInt]],
                         AfterValidator(_frozen_mapping)]


@_section("load")
class LoadConfig:
    _key: ClassVar[str]

    max_errors: Count
    # table -> {their column name: contract column name}
    columns: ColumnMap
    # v2: phones without a country code are read in this region (ISO 3166 code)
    default_region: Text
    # how CSV files are read; per_table: table -> {"encoding": ..., "separator": ...}
    encoding: Text
    separator: Text
    per_table: TableOptions
    # v2: renames, value maps, constants, defaults, null fills, day offsets
    mapping: MappingTree
    # v3 (docs/configuration.md, "Exports as people save them"): tables that may be absent
    # or header-only; date formats, decimal commas and header case; file-name patterns;
    # tables defined by a query over the folder's files; bounds on the input
    allow_empty: tuple[Text, ...]
    date_format: Text
    decimal_comma: StrictBool
    ignore_header_case: StrictBool
    files: FilePatterns
    query: Queries
    max_field_bytes: Count
    max_id_length: Count
    max_rows: Count
    max_memory_mb: Seconds


@_section("neo4j")
class Neo4jConfig:
    """Where the Neo4j backend connects, and how many rows it writes per transaction.

    >>> Neo4jConfig(uri="neo4j://bob:pw@db.example:7687", password="s3cret")
    Neo4jConfig(uri='neo4j://***@db.example:7687', user='neo4j', database='neo4j', batch_size=20000)
    """

    _key: ClassVar[str]

    uri: Text
    user: Text
    database: Text
    batch_size: Count
    detection: Literal["cypher", "pull"]
    load_mode: Literal["delta", "full"]
    lock_wait_s: Seconds
    lock_stale_s: Count
    connect_retries: Seconds
    retry_window_s: Seconds
    password: Text | None = field(default=None, repr=False)  # environment only

    @property
    def redacted_uri(self) -> str:
        return redact_url(self.uri)

    def __repr__(self) -> str:  # the URI redacted, the password left out
        return (f"Neo4jConfig(uri={self.redacted_uri!r}, user={self.user!r}, "
                f"database={self.database!r}, batch_size={self.batch_size!r})")


SparkConf = Annotated[Mapping[Text, Text], AfterValidator(_frozen_mapping)]


@_section("spark")
class SparkConfig:
    """Where the Spark backend runs: the master, the application name, the shuffle width,
    the driver's memory and any other ``spark.*`` setting (``conf``, strings as Spark takes
    them).

    >>> SparkConfig().master, SparkConfig(master="yarn", shuffle_partitions=400).shuffle_partitions
    ('local[2]', 400)
    """

    _key: ClassVar[str]

    master: Text
    app_name: Text
    shuffle_partitions: Count
    driver_memory: Text
    conf: SparkConf
    log_level: Literal["off", "fatal", "error", "warn", "info", "debug", "trace", "all"]


@_section("report")
class ReportConfig:
    """The nightly report's checks on its inputs, and the nights its trends cover."""

    _key: ClassVar[str]

    row_drop_warn: Fraction
    trend_nights: AtLeastTwo


MaskName = Literal["none", "last4", "prefix", "domain", "hide"]


def _over_default_masks(masks: Mapping[str, str]) -> Mapping[str, Any]:
    """A file's ``[privacy.masks]`` changes the kinds it names; the others keep their
    default mask (leaving one out never unmasks it)."""
    return _frozen_mapping({**_lookup(DEFAULTS, "privacy.masks"), **masks})


Masks = Annotated[Mapping[Text, MaskName], AfterValidator(_over_default_masks)]


def _key_long_enough(key: str | None) -> str | None:
    if key is not None and len(key) < 16:
        raise ValueError("must be at least 16 characters long (the value is not shown)")
    return key


@_section("privacy")
class PrivacyConfig:
    """Masks per identifier kind (:mod:`xpg.privacy`) and the pseudonym key.

    >>> PrivacyConfig(pseudonym_key="k" * 32)
    PrivacyConfig(masks={'phone': 'last4', 'ip': 'prefix', 'address': 'hide', \
'bank_card': 'last4', 'id_number': 'last4', 'email': 'domain'}, pseudonym_key=set)
    """

    _key: ClassVar[str]

    masks: Masks
    # environment only (XPG_PSEUDONYM_KEY)
    pseudonym_key: Annotated[Text | None, AfterValidator(_key_long_enough)] = field(
        default=None, repr=False)

    def __repr__(self) -> str:  # the key left out
        state = "set" if self.pseudonym_key else "unset"
        return f"PrivacyConfig(masks={dict(self.masks)!r}, pseudonym_key={state})"


@_section("cases")
class CasesConfig:
    """Cases and decisions (contract v3): when a decided finding is re-alerted, and
    when an open case is old enough to be listed as needing action."""

    _key: ClassVar[str]

    realert_exposure_share: Fraction
    open_age_days: Count


@_section("state")
class StateConfig:
    """Where ``xpg detect``/``xpg report`` keep the stored state that ``xpg query``/``xpg
    serve`` answer cold queries from (:mod:`xpg.queries.investigate.state`)."""

    _key: ClassVar[str]

    dir: Text
    write: bool
    keep: int


@_section("")
class Settings:
    _key: ClassVar[str]

    backend: Backend
    load: LoadConfig = field(default_factory=LoadConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    neo4j: Neo4jConfig = field(default_factory=Neo4jConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    cases: CasesConfig = field(default_factory=CasesConfig)
    state: StateConfig = field(default_factory=StateConfig)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_ADAPTER = pydantic.TypeAdapter(Settings)
settings_section = _section
"""The decorator a rule module makes its config class with (``@settings_section(
"detection.<section>")``): frozen, validated, its defaults from ``config/defaults.toml``'s
table of that key where there is one, else from the class."""


# -- keys and URLs ---------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """Drop any user:password from a URL before it is shown or logged.

    >>> redact_url("neo4j://bob:pw@db.example:7687"), redact_url("bolt://127.0.0.1:7687")
    ('neo4j://***@db.example:7687', 'bolt://127.0.0.1:7687')
    """
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


def config_key(config: Any) -> str:
    """A settings section (any of the dataclasses here) as canonical JSON: equal
    settings, equal text (what stored findings and states are keyed by).

    Examples
    --------
    >>> config_key(DetectionConfig()) == config_key(DetectionConfig())
    True
    """
    import json

    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, Mapping):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        if isinstance(x, set | frozenset):
            return sorted(plain(v) for v in x)
        return x

    return json.dumps(plain(config), sort_keys=True, default=str)


