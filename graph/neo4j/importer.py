"""Fast first load: the offline importer (``neo4j-admin database import full``).

Into an **empty** database of the throwaway server ``scripts/neo4j-local`` runs (the
only kind xpg can stop): :func:`write_import_files` writes the node and relationship
files of a dataset with Polars, from the same load plan as the Cypher path
(:func:`~xpg.graph.neo4j.write.write_plan`), so the graph is the same: labels, keys,
properties and their types, the load number (``1``) on everything;
:func:`offline_import` then has the server stop its database, run the importer in
the server's JVM and start the database again, creates the constraints and indexes and
writes the ``XpgMeta`` bookkeeping node as a first Cypher load would. Servers xpg cannot
stop keep the Cypher load.

Each file's header names the columns with their types (``user_id:string``,
``credit_score:long``, ``registered_at:localdatetime``); the label or relationship type
is given with the file (``--nodes=User=users.csv``). An empty field is no property, as a
null is in the Cypher load. Nodes are numbered 0, 1, ... across all files (``:ID``, the
store's own node ids: ``--id-type=actual``) and relationships name those numbers
(``:START_ID``, ``:END_ID``), so the importer maps no id.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from xpg.graph.backend import LoadStats
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.delta import HASH_VERSION, hashed_plan
from xpg.graph.neo4j.statements import statement
from xpg.graph.neo4j.write import NODE_KEYS, WriteStep, wire
from xpg.loaders.dataset import Dataset

from xpg.errors import BackendError, InputError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import Neo4jConfig

__all__ = [
    "LOCAL_SCRIPT",
    "ImportFiles",
    "local_state",
    "offline_import",
    "write_import_files",
]

LOCAL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "neo4j-local"
"""The script that runs xpg's own throwaway server (present in a source checkout)."""

LOAD = 1
"""The load number of a first load (``begin_load`` on an empty database)."""

_KEYS: Mapping[str, tuple[str, ...]] = {**NODE_KEYS, "AccountEvent": ("key",)}

# relationships a node step writes besides its nodes: (type, start, end), where a
# look-up parameter names the other end and None the step's own node
_NODE_EDGES: Mapping[str, tuple[tuple[str, str | None, str | None], ...]] = {
    "accounts": (("HAS_ACCOUNT", "u", None), ("IN_PRODUCT", None, "p")),
    "account_events": (("HAD_EVENT", "a", None),),
}


def _import_type(name: str, dtype: pl.DataType) -> str:
    """The importer's type for a column of ``dtype``."""
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Null):
        return "string"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    if isinstance(dtype, pl.Datetime):
        return "localdatetime"
    if isinstance(dtype, pl.Date):
        return "date"
    raise InputError(
        f"column {name!r} ({dtype}) cannot go through the offline import (lists, times and "
        "durations are not written there): use the Cypher load instead"
    )


@dataclass
class ImportFiles:
    """The files of one import: ``(label or type, path)`` each, and what they hold."""

    nodes: list[tuple[str, Path]] = field(default_factory=list)
    relationships: list[tuple[str, Path]] = field(default_factory=list)
    node_count: int = 0
    relationship_count: int = 0
    multiline: bool = False

    def arguments(self) -> list[str]:
        """The importer's options for these files.

        ``--id-type=actual``: the files number the nodes 0, 1, ... themselves (the store's
        own node ids), so the importer maps no id at all (with string ids, looking up both
        ends of every relationship in its id map was most of its time).
        """
        args = [f"--nodes={label}={path}" for label, path in self.nodes]
        args += [f"--relationships={kind}={path}" for kind, path in self.relationships]
        args += ["--id-type=actual", "--bad-tolerance=0", "--skip-bad-relationships=false"]
        if self.multiline:
            args.append("--multiline-fields=true")
        return args


def _has_newline(frame: pl.DataFrame) -> bool:
    text = [c for c, t in frame.schema.items() if isinstance(t, pl.String)]
    if not text:
        return False
    found = frame.select(pl.any_horizontal(pl.col(text).str.contains("[\r\n]").any()))
    return bool(found.item())


def _write(frame: pl.DataFrame, path: Path, files: ImportFiles) -> None:
    files.multiline = files.multiline or _has_newline(frame)
    frame.write_csv(path, null_value="")


def _properties(step: WriteStep, own: Mapping[str, str] | None) -> tuple[pl.DataFrame, dict]:
    """The step's stored columns (renamed to their properties, extras added) and dtypes."""
    rows = step.rows.drop(list(step.drop))
    types = {c: t for c, t in step.types.items() if c in rows.columns}
    if step.extras is not None:
        extra = step.extras.select(pl.col("extra").struct.unnest())
        types |= dict(extra.schema)
        rows = pl.concat([rows, wire(extra)], how="horizontal")
    rename = dict(own or {})
    rows = rows.rename(rename)
    return rows, {rename.get(c, c): t for c, t in types.items()}


def _typed(frame: pl.DataFrame, types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Columns named ``name:type`` for the header, the load number added."""
    named = {c: f"{c}:{_import_type(c, types[c])}" for c in frame.columns}
    return frame.rename(named).with_columns(pl.lit(LOAD, pl.Int64).alias("load:long"))


def _node_ids(
    step: WriteStep,
    label: str,
    columns: Mapping[str, str],
    numbered: Mapping[str, pl.DataFrame],
) -> pl.Series:
    """The node id of each row's ``label`` node, found by its key ``columns`` (a join).

    ``numbered[label]`` holds the label's key properties and ``node``, its nodes' ids.
    A row whose node the load does not write is refused (the importer would refuse it
    with less to say).
    """
    keys = list(columns)
    known = numbered[label].rename({key: column for column, key in columns.items()})
    ids = step.rows.select(keys).join(known, on=keys, how="left", maintain_order="left")
    missing = ids.with_row_index("line").filter(pl.col("node").is_null())
    if missing.height:
        first = missing.row(0, named=True)
        raise InputError(
            f"{step.title}: row {first['line'] + 1} names a {label} no table holds "
            f"({', '.join(f'{c}={first[c]!r}' for c in keys)}): it cannot be imported"
        )
    return ids["node"]


def write_import_files(dataset: Dataset | Sequence[WriteStep], folder: Path) -> ImportFiles:
    """Write the importer's node and relationship files of ``dataset`` into ``folder``.

    ``dataset`` may also be its load plan (:func:`~xpg.graph.neo4j.write.write_plan`).
    Every node gets an integer id, 0, 1, ... over all labels (``:ID``), which the
    relationship files name (``:START_ID``, ``:END_ID``): each relationship step joins
    its rows' keys to the ids of the nodes they name. The ids are the store's node ids
    (``--id-type=actual``); they are not properties: the keys stay the string properties
    they are in a Cypher load.

    Examples
    --------
    >>> import polars as pl, tempfile
    >>> from xpg.loaders.schema import TABLES
    >>> ds = Dataset(
    ...     users=pl.DataFrame({"user_id": ["u1", "u2"]}).with_columns(
    ...         registered_at=pl.lit(None, pl.Datetime("us")), credit_score=pl.lit(7)),
    ...     products=TABLES["products"].empty(), accounts=TABLES["accounts"].empty(),
    ...     devices=pl.DataFrame({"user_id": ["u1", "u2"], "device_id": ["d", "d"],
    ...                           "first_seen": [None] * 2, "last_seen": [None] * 2}),
    ...     external_loans=TABLES["external_loans"].empty())
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = write_import_files(ds, folder)
    >>> files.node_count, files.relationship_count
    (3, 2)
    >>> print(files.nodes[0][1].read_text().splitlines()[0])
    :ID,user_id:string,registered_at:localdatetime,credit_score:long,row_key:long,row_hash:long,load:long
    >>> [line.split(",")[:2] for line in (folder / "used.csv").read_text().splitlines()]
    [[':START_ID', ':END_ID'], ['0', '2'], ['1', '2']]
    """
    plan = hashed_plan(dataset) if isinstance(dataset, Dataset) else list(dataset)
    files = ImportFiles()
    numbered: dict[str, pl.DataFrame] = {}  # label -> its key properties and node ids
    for step in plan:
        if not step.rows.height:
            continue
        if step.nodes:
            label = step.empty_when
            own = dict(step.returns or {c: c for c in _KEYS[label]})
            ids = pl.int_range(files.node_count, files.node_count + step.rows.height,
                               dtype=pl.Int64, eager=True).alias("node")  # fmt: skip
            numbered[label] = pl.concat(
                [step.rows.select(pl.col(c).alias(k) for c, k in own.items()), ids.to_frame()],
                how="horizontal",
            )
            props, types = _properties(step, own)
            nodes = pl.concat([ids.alias(":ID").to_frame(), _typed(props, types)],
                              how="horizontal")  # fmt: skip
            path = folder / f"{step.name}.csv"
            _write(nodes, path, files)
            files.nodes.append((label, path))
            files.node_count += nodes.height
            for kind, start, end in _NODE_EDGES.get(step.name, ()):
                ends = []
                for side, param in ((":START_ID", start), (":END_ID", end)):
                    if param is None:
                        ends.append(ids.alias(side))
                    else:
                        other, columns = step.lookups[param]
                        ends.append(_node_ids(step, other, columns, numbered).alias(side))
                rels = pl.DataFrame(ends).with_columns(pl.lit(LOAD, pl.Int64).alias("load:long"))
                path = folder / f"{step.name}_{kind.lower()}.csv"
                _write(rels, path, files)
                files.relationships.append((kind, path))
                files.relationship_count += rels.height
        else:
            (start, start_cols), (end, end_cols) = step.lookups.values()
            props, types = _properties(step, None)
            ends = pl.DataFrame(
                [
                    _node_ids(step, start, start_cols, numbered).alias(":START_ID"),
                    _node_ids(step, end, end_cols, numbered).alias(":END_ID"),
                ]
            )
            rels = pl.concat([ends, _typed(props, types)], how="horizontal")
            path = folder / f"{step.name}.csv"
            _write(rels, path, files)
            files.relationships.append((step.empty_when, path))
            files.relationship_count += rels.height
    return files


def local_state(state: Path | None = None) -> Path:
    """The state folder of xpg's own server: ``state``, ``XPG_NEO4J_STATE``, or ``.neo4j/``."""
    if state is not None:
        return state
    return Path(os.environ.get("XPG_NEO4J_STATE") or LOCAL_SCRIPT.parent.parent / ".neo4j")


def _own_server(config: Neo4jConfig, state: Path) -> None:
    """Refuse unless ``config`` names the running server of ``scripts/neo4j-local`` in ``state``."""
    if not LOCAL_SCRIPT.exists():
        raise InputError(
            "the offline import runs only with xpg's own Neo4j (scripts/neo4j-local, in a source "
            "checkout): use the Cypher load instead"
        )
    env_file = state / "env"
    pid_file = state / "pid"
    env: dict[str, str] = {}
    if env_file.exists() and pid_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
    running = False
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 0)
            running = True
        except (OSError, ValueError):
            running = False
    if not running or env.get("NEO4J_URI") != config.uri:
        raise InputError(
            f"Neo4j at {config.redacted_uri} is not the throwaway server xpg runs from {state} "
            "(scripts/neo4j-local start): xpg can stop only that one for an offline import; "
            "other servers take the Cypher load"
        )
    if config.database != "neo4j":
        raise InputError(
            f"the offline import writes the database 'neo4j' of xpg's own server, not "
            f"{config.database!r}"
        )


def offline_import(
    dataset: Dataset,
    config: Neo4jConfig,
    *,
    state: Path | None = None,
    progress: Progress | None = None,
) -> LoadStats:
    """First load of ``dataset`` through the offline importer into xpg's own, empty server.

    The server of ``scripts/neo4j-local`` (state folder :func:`local_state`) stops its
    database, imports in its own JVM, and starts it again on the same port and password;
    then the constraints and indexes are created and the load marked complete
    (``XpgMeta``, load 1), as the Cypher load does.

    Raises
    ------
    InputError
        When the server is not xpg's own, or its database is not empty.
    BackendError
        When the importer or the restarted server fails.
    """
    from xpg.graph.neo4j.backend import Neo4jBackend

    progress = progress or NO_PROGRESS
    start = time.perf_counter()
    folder_state = local_state(state)
    _own_server(config, folder_state)
    with Neo4jBackend(config) as backend:
        held = backend.run("MATCH (n) RETURN count(n) AS n", QueryMode.READ)[0]["n"]
    if held:
        raise InputError(
            f"the database {config.database!r} at {config.redacted_uri} holds {held:,} nodes: "
            "the offline import is for a first load into an empty database; later snapshots "
            "go through the Cypher load, which updates it"
        )
    with tempfile.TemporaryDirectory(prefix="xpg-import-") as tmp:
        with progress.step("Writing the import files") as advance:
            files = write_import_files(dataset, Path(tmp))
            advance(1)
        with progress.step("Importing offline (the database is stopped)") as advance:
            done = subprocess.run(
                [str(LOCAL_SCRIPT), "import", "--state", str(folder_state), "--",
                 *files.arguments()],
                capture_output=True,
                text=True,
                check=False,
            )
            advance(1)
    if done.returncode != 0:
        raise BackendError(
            f"the offline import into {config.redacted_uri} failed:\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )
    with Neo4jBackend(config) as backend:
        with progress.step("Constraints and indexes (built over the imported nodes)") as advance:
            backend.ensure_schema()
            advance(1)
        begun = backend.run(
            statement("load", "begin_load"), QueryMode.WRITE, now=dt.datetime.now(dt.UTC)
        )
        load = int(begun[0]["load"])
        if load != LOAD:
            raise BackendError(f"the imported database already had a load ({load - 1})")
        backend.finish_load(dataset, load, row_hash=HASH_VERSION, mode="full")
    return LoadStats(
        nodes=files.node_count,
        relationships=files.relationship_count,
        seconds=time.perf_counter() - start,
    )
