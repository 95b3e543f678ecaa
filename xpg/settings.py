"""Typed, strict settings, validated by pydantic.

Every default lives in one place, the packaged ``config/defaults.toml``: each
section below takes its field defaults from that file's table of the same
name, so ``RingConfig()`` and the file agree by construction.

Precedence, highest first: explicit overrides (CLI flags) > environment >
user TOML files (``--config``, later files layered over earlier ones) > the
packaged defaults; pydantic-settings layers them (:func:`xpg.settings_files.layered`),
this module validates the result (:func:`load_settings`). The model, its sections and
their defaults, is :mod:`xpg.settings_model`, the value types :mod:`xpg.settings_types`;
their names are importable from here. The ``[detection]`` section is assembled from the
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

import os
from collections.abc import Mapping
from typing import Any

import pydantic

from xpg.errors import ConfigError
from xpg.settings_files import ConfigFiles, _as_paths, _leaves, _read_toml, key_source, layered
from xpg.settings_model import (
    _ADAPTER,
    DEFAULTS,
    CasesConfig,
    DetectionConfig,
    LoadConfig,
    Neo4jConfig,
    PrivacyConfig,
    ReportConfig,
    Settings,
    SparkConfig,
    StateConfig,
    _detection_sections,
    config_key,
    detection_sections,
    redact_url,
    settings_section,
    use_detection_sections,
)
from xpg.settings_types import (
    Amount,
    AtLeastTwo,
    Backend,
    Count,
    Fraction,
    IdentifierKind,
    Scope,
    Seconds,
    Share,
    Text,
    _describe,
)

__all__ = [
    "DEFAULTS",
    "Amount",
    "AtLeastTwo",
    "Backend",
    "CasesConfig",
    "Count",
    "DetectionConfig",
    "Fraction",
    "IdentifierKind",
    "LoadConfig",
    "Neo4jConfig",
    "PrivacyConfig",
    "ReportConfig",
    "Scope",
    "Seconds",
    "Settings",
    "Share",
    "SparkConfig",
    "StateConfig",
    "Text",
    "config_key",
    "detection_sections",
    "key_source",
    "load_settings",
    "redact_url",
    "settings_section",
    "use_detection_sections",
]


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
