"""Where settings come from, layered by pydantic-settings: the TOML files (reading,
flattening to dotted keys, which file of several sets a key), the environment variables
and the flags, highest first flag > environment > files (later over earlier) >
``config/defaults.toml`` (:func:`layered`; :mod:`xpg.settings` validates the result)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from xpg.errors import ConfigError

__all__ = ["ConfigFiles", "key_source", "layered"]


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; an empty table is a leaf of its own."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set one leaf of ``tree``; a value where a table is needed is replaced by the table."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    if not (value == {} and isinstance(node.get(leaf), dict)):  # an empty table adds nothing
        node[leaf] = value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e


ConfigFiles = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def _as_paths(config_file: ConfigFiles) -> list[Path]:
    if config_file is None:
        return []
    if isinstance(config_file, str | os.PathLike):
        return [Path(config_file)]
    return [Path(p) for p in config_file]


def key_source(config_file: ConfigFiles, dotted: str) -> Path | None:
    """The last of the TOML files that sets ``dotted`` (a key in it, inside it or above it).

    Used to name the file behind an error found after loading (``load.mapping`` is
    checked against the data contract by the loaders).
    """
    for path in reversed(_as_paths(config_file)):
        for key in _leaves(_read_toml(path)):
            if key == dotted or key.startswith(f"{dotted}.") or dotted.startswith(f"{key}."):
                return path
    return None


class _Tree(PydanticBaseSettingsSource):
    """A source of dotted keys (the environment's variables, the flags) as a nested tree."""

    def __init__(self, settings_cls: type[BaseSettings], leaves: Mapping[str, Any]):
        super().__init__(settings_cls)
        self.tree: dict[str, Any] = {}
        for dotted, value in leaves.items():
            _set_dotted(self.tree, dotted, value)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.tree.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.tree


def layered(files: Sequence[Path], environment: Mapping[str, Any],
            flags: Mapping[str, Any]) -> dict[str, Any]:
    """The settings tree, layered by pydantic-settings: ``flags`` (dotted keys) over
    ``environment`` (dotted keys, from the variables read) over the TOML ``files``
    (deep-merged, later over earlier); a key none sets keeps its default (the sections'
    defaults are ``config/defaults.toml``'s).

    Examples
    --------
    >>> layered([], {"neo4j.user": "env", "backend": "neo4j"}, {"neo4j.user": "flag"})
    {'neo4j': {'user': 'flag'}, 'backend': 'neo4j'}
    """
    for path in files:
        _read_toml(path)  # a missing, unreadable or invalid file is an error, named

    class Layers(BaseSettings):
        model_config = SettingsConfigDict(extra="allow")

        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                       **defaults: PydanticBaseSettingsSource,
                                       ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (_Tree(settings_cls, flags), _Tree(settings_cls, environment),
                    TomlConfigSettingsSource(settings_cls, toml_file=list(files),
                                             deep_merge=True))

    return Layers().model_dump()
