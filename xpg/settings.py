"""Typed, strict settings, validated by pydantic.

Every default lives in one place, the packaged ``config/defaults.toml``: each
section below takes its field defaults from that file's table of the same
name, so ``RingConfig()`` and the file agree by construction.

Precedence, highest first: explicit overrides (CLI flags) > environment >
user TOML files (``--config``, later files layered over earlier ones) > the
packaged defaults; pydantic-settings layers them (:func:`xpg.settings_files.layered`),
this module validates the result. The ``[detection]`` section is assembled from the
rule registry (:class:`DetectionConfig`): each rule module defines its config class
with :func:`settings_section`. Unknown keys, wrong types and out-of-range values (a window
of 0 days, a share above 1, an identifier kind in capitals, a freeze reason in
both scopes) raise :class:`~xpg.errors.ConfigError` naming the file (or the
environment variable), the dotted key, the value and what is allowed. Every
section checks itself when made, so a config built in code (``RingConfig(...)``,
``dataclasses.replace``) is refused the same way.
Secrets (the Neo4j password) come only from the environment; URLs are
redacted before they are logged (:func:`redact_url`).

The sections are frozen pydantic dataclasses: immutable values passed down
explicitly (there is no global mutable configuration), still standard
dataclasses (``dataclasses.fields``/``replace`` work, and ``replace`` validates).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from importlib import resources
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Strict,
    StrictBool,
    StrictInt,
    ValidationInfo,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from xpg.errors import ConfigError
from xpg.settings_files import ConfigFiles, _as_paths, _leaves, _read_toml, key_source, layered

__all__ = [
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
    "key_source",
    "load_settings",
    "redact_url",
    "settings_section",
    "use_detection_sections",
]

_T = TypeVar("_T")
Backend = Literal["memory", "neo4j", "spark"]
Scope = Literal["user", "product"]


def _read_defaults() -> dict[str, Any]:
    text = resources.files("xpg.config").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


DEFAULTS: Mapping[str, Any] = _read_defaults()
"""The packaged ``config/defaults.toml`` as read: the one source of every default."""


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


# -- loading ----------------------------------------------------------------------------------

# environment variable -> dotted key
ENVIRONMENT = {
    "XPG_BACKEND": "backend",
    "NEO4J_URI": "neo4j.uri",
    "NEO4J_USER": "neo4j.user",
    "NEO4J_USERNAME": "neo4j.user",
    "NEO4J_DATABASE": "neo4j.database",
    "XPG_NEO4J_BATCH_SIZE": "neo4j.batch_size",
    "XPG_NEO4J_DETECTION": "neo4j.detection",
    "XPG_NEO4J_LOAD_MODE": "neo4j.load_mode",
    "XPG_NEO4J_LOCK_WAIT_S": "neo4j.lock_wait_s",
    "XPG_NEO4J_LOCK_STALE_S": "neo4j.lock_stale_s",
    "XPG_NEO4J_CONNECT_RETRIES": "neo4j.connect_retries",
    "XPG_NEO4J_RETRY_WINDOW_S": "neo4j.retry_window_s",
    "NEO4J_PASSWORD": "neo4j.password",  # the only places a secret comes from
    "XPG_PSEUDONYM_KEY": "privacy.pseudonym_key",
    "XPG_SPARK_MASTER": "spark.master",
    "XPG_STATE_DIR": "state.dir",
    "XPG_SPARK_LOG_LEVEL": "spark.log_level",
}
SECRET_KEYS = {"neo4j.password", "privacy.pseudonym_key"}


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


def load_settings(
    config_file: ConfigFiles = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, TOML files, the environment and overrides.

    ``config_file`` is one path or a sequence of them: later files are layered
    over earlier ones key by key (a column-mapping file, then a thresholds file).
    ``overrides`` maps dotted keys (``"detection.ring.hub_max_users"``) to values;
    ``None`` values are ignored, so CLI flags that were not given can be passed as-is.

    Examples
    --------
    >>> s = load_settings(environ={}, overrides={"detection.ring.hub_max_users": 50})
    >>> s.detection.ring.hub_max_users, s.backend
    (50, 'memory')
    >>> load_settings(environ={"XPG_NEO4J_BATCH_SIZE": "0"})
    Traceback (most recent call last):
    ...
    xpg.errors.ConfigError: neo4j.batch_size: must be >= 1, got 0 (from XPG_NEO4J_BATCH_SIZE)
    """
    env = os.environ if environ is None else environ
    files = _as_paths(config_file)
    origin: dict[str, str] = {}  # dotted key -> where its value came from (for errors)
    for path in files:
        for dotted in _leaves(_read_toml(path)):
            if dotted in SECRET_KEYS:
                var = next(v for v, k in ENVIRONMENT.items() if k == dotted)
                raise ConfigError(f"{path}: {dotted} must not be stored in a file; "
                                  f"set the {var} environment variable")
            origin[dotted] = str(path)
    environment: dict[str, str] = {}
    for var, dotted in ENVIRONMENT.items():
        if env.get(var):
            environment[dotted] = env[var]
            origin[dotted] = f"${var}"
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    origin.update(dict.fromkeys(flags, ""))
    tree = layered(files, environment, flags)  # pydantic-settings: flag > env > files

    def source(key: str) -> str | None:
        """The file or variable that set ``key`` (or the last one inside it, for a section)."""
        inside = [w for k, w in origin.items() if k == key or k.startswith(f"{key}.")]
        above = [w for k, w in origin.items() if key.startswith(f"{k}.")]
        return (inside or above or [None])[-1]

    def located(text: str, key: str) -> str:
        where = source(key)
        if where and where.startswith("$"):
            return f"{text} (from {where[1:]})"
        return f"{where}: {text}" if where else text

    context = {"text": True}
    detection = tree.get("detection", {})
    if isinstance(detection, Mapping):  # its sections are the registered rules'
        try:
            tree["detection"] = DetectionConfig._made(_detection_sections(detection, context))
        except ConfigError as e:
            raise ConfigError(located(str(e), e.key or "detection"), key=e.key) from e
    try:
        return _ADAPTER.validate_python(tree, context=context)
    except pydantic.ValidationError as e:
        text, key = _describe(e, Settings)
        raise ConfigError(located(text, key)) from e
