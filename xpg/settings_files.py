"""The TOML files settings are read from: reading, flattening to dotted keys, and which
file of several sets a key (:mod:`xpg.settings` layers them)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xpg.errors import ConfigError

__all__ = ["ConfigFiles", "key_source"]


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
