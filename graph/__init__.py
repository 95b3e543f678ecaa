"""The exposure graph: the backend interface and its in-memory, Neo4j and Spark backends.

:func:`open_backend` picks one from the settings. Backends are imported lazily:
choosing ``memory`` never imports the Neo4j driver, and importing this package
stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xpg.graph.backend import Backend

    from xpg.settings import Settings

__all__ = ["open_backend"]


def open_backend(settings: Settings, *, read_only: bool = False) -> Backend:
    """A fresh, empty backend of the kind ``settings.backend`` names.

    ``"memory"`` gives a :class:`~xpg.graph.memory.MemoryBackend`; ``"neo4j"`` a
    :class:`~xpg.graph.neo4j.Neo4jBackend` built from ``settings.neo4j``; ``"spark"`` a
    :class:`~xpg.graph.spark.backend.SparkBackend` built from ``settings.spark``. With
    ``read_only`` the backend never writes (see :class:`~xpg.graph.backend.Backend`).

    Examples
    --------
    >>> from xpg.settings import Settings
    >>> open_backend(Settings()).name
    'memory'
    """
    if settings.backend == "memory":
        from xpg.graph.memory import MemoryBackend

        return MemoryBackend(read_only=read_only)
    from xpg.errors import BackendError, ConfigError

    if settings.backend == "neo4j":
        try:
            from xpg.graph.neo4j import Neo4jBackend
        except ImportError as e:
            raise BackendError(f"the neo4j backend cannot be loaded: {e}") from e
        return Neo4jBackend(settings.neo4j, read_only=read_only)
    if settings.backend == "spark":
        from xpg.graph.spark.backend import SparkBackend

        return SparkBackend(settings.spark, read_only=read_only,  # pyspark: on first load
                            load=settings.load)

    raise ConfigError(f"unknown backend {settings.backend!r}; choose memory, neo4j or spark")
