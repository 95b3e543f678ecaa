"""The Spark backend: the same findings as in memory, ids included; its components
against networkx; Parquet read by Spark itself through ``xpg detect --data URI``.

Every case runs on the test session's one local SparkSession (tests/spark_session.py).
The fast cases always run; those marked ``slow`` (the whole grid of configurations and
dates, generated data, more random graphs) run in CI. The per-rule cases of
tests/test_detect_*.py run on Spark too, through ``@on_backends()`` (slow).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import networkx as nx
import pytest
from test_cli_detect import write
from test_parity import _configs, kitchen_sink
from xpg.graph import open_backend
from xpg.graph.memory import MemoryBackend
from xpg.loaders import load_dataset

from xpg.cli import main
from xpg.errors import BackendError
from xpg.settings import DetectionConfig, load_settings
from xpg.synthetic import generate

pytestmark = pytest.mark.spark


def _same_findings(spark_backend, dataset, configs, dates) -> int:
    memory = MemoryBackend()
    memory.load(dataset)
    spark_backend.load(dataset)
    compared = 0
    for config in configs:
        for as_of in dates:
            expected = memory.detect(config, as_of=as_of).to_dict()
            assert spark_backend.detect(config, as_of=as_of).to_dict() == expected, (as_of, config)
            compared += len(expected["findings"])
    return compared


def test_kitchen_sink_same_findings(spark_backend):
    """Every rule near its boundaries, one detection: the fast case."""
    assert _same_findings(spark_backend, kitchen_sink(), [DetectionConfig()], [None]) > 10
    assert spark_backend.hooks.ring_passes >= 1  # log-round components ran


@pytest.mark.slow
def test_kitchen_sink_every_config_and_date(spark_backend):
    from detect_fixtures import day

    # the data's latest date, a date a few days before it (the windows' edges move) and one
    # past the 20- and 30-day windows; each extra date costs about 7 s of Spark here
    dates = [None, day(-3), day(-25)]
    assert _same_findings(spark_backend, kitchen_sink(), _configs(), dates) > 40


@pytest.mark.slow
# one generated size: the mixed-shape case below is generated too (1,000 users at seed 3
# cost 20-25 s more of the suite's 15 minutes for no rule the other cases miss)
@pytest.mark.parametrize(("users", "seed"), [(300, 1)])
def test_generated_data_same_findings(spark_backend, users, seed):
    dataset = generate(users, seed).dataset()
    latest = dataset.latest_date()
    assert latest is not None
    dates = [None, latest - dt.timedelta(days=20)]
    assert _same_findings(spark_backend, dataset, _configs()[:2], dates) > 20


# CI only: test_spark_lake.py's report from a Spark run reads the same generated Parquet
# through a URI and compares its findings with memory's
@pytest.mark.slow
def test_detect_reads_parquet_with_spark(spark, tmp_path, capsys, monkeypatch):
    """``--data file://...``: the tables are read (and checked) by Spark, not loaded by
    Polars. Generated data: it passes the loader's checks (the kitchen sink's identifiers,
    never loaded, do not, and Spark refuses them as the loader does)."""
    dataset = generate(300, 1).dataset()
    folder = write(dataset, tmp_path / "data")
    monkeypatch.setenv("XPG_BACKEND", "spark")
    assert main(["detect", "--data", folder.resolve().as_uri()]) == 0
    memory = MemoryBackend()
    memory.load(load_dataset(folder).dataset)  # as the loader reads the same files
    assert json.loads(capsys.readouterr().out) == memory.detect(DetectionConfig()).to_dict()
    assert spark.sparkContext._jsc is not None  # the session it found was left running


def test_a_uri_is_for_the_spark_backend_only(tmp_path, capsys):
    assert main(["detect", "--data", "s3a://bucket/tables"]) != 0
    assert "the spark backend reads URIs" in capsys.readouterr().err


def test_a_missing_required_table_under_a_uri(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XPG_BACKEND", "spark")
    assert main(["detect", "--data", (tmp_path / "none").as_uri()]) != 0
    assert "no users.parquet" in capsys.readouterr().err


def test_spark_settings():
    settings = load_settings(environ={"XPG_SPARK_MASTER": "spark://head:7077"},
                             overrides={"backend": "spark", "spark.shuffle_partitions": 64})
    assert (settings.spark.master, settings.spark.shuffle_partitions) == ("spark://head:7077", 64)
    assert settings.spark.driver_memory == "2g" and dict(settings.spark.conf) == {}
    assert open_backend(settings).name == "spark"  # nothing started yet


def test_detect_before_load_is_a_backend_error():
    backend = open_backend(load_settings(environ={}, overrides={"backend": "spark"}))
    with pytest.raises(BackendError, match="holds no data"):
        backend.detect(DetectionConfig())


def test_a_jvm_failure_is_one_line_with_its_cause_and_the_setting_to_change():
    """A Spark job's error carries its whole Java stack trace: the message keeps its first
    line and root cause, and an out-of-memory failure names the setting that gives more."""
    backend = open_backend(load_settings(environ={}, overrides={"backend": "spark"}))
    jvm = RuntimeError("An error occurred while calling o8911.collectToPython.\n"
                       ": org.apache.spark.SparkException: Job aborted due to stage failure\n"
                       "\tat org.apache.spark.X.y(X.scala:1)\n"
                       "Caused by: org.apache.spark.SparkException: Could not allocate memory "
                       "to grow BytesToBytesMap.\n\tat z\n")
    with pytest.raises(BackendError) as info, backend.failures("read the data"):
        raise jvm
    message = str(info.value)
    assert "\n" not in message and "\tat" not in message
    assert message.startswith("spark backend failed to read the data: An error occurred")
    assert "(Caused by: org.apache.spark.SparkException: Could not allocate memory" in message
    assert message.endswith('[spark] driver_memory = "4g"; on a cluster, e.g. [spark.conf] '
                            '"spark.executor.memory" = "8g")')
    with pytest.raises(BackendError) as info, backend.failures("detect"):
        raise RuntimeError("the master is gone")
    assert str(info.value) == "spark backend failed to detect: the master is gone"


def test_broadcast_joins_only_on_measured_sizes_unless_configured():
    from xpg.graph.spark.session import session_conf

    from xpg.settings import SparkConfig

    conf = session_conf(SparkConfig())
    assert conf["spark.sql.autoBroadcastJoinThreshold"] == "-1"
    assert conf["spark.sql.adaptive.autoBroadcastJoinThreshold"] == "10MB"
    mine = session_conf(SparkConfig(conf={"spark.sql.autoBroadcastJoinThreshold": "50MB"}))
    assert mine["spark.sql.autoBroadcastJoinThreshold"] == "50MB"


# -- connected components against networkx ------------------------------------------


def _random_links(seed: int, users: int, nodes: int, edges: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    kinds = ("device", "phone")
    return [
        (f"u{rng.randrange(users):04d}", kinds[j % 2], f"n{j}")
        for j in (rng.randrange(nodes) for _ in range(edges))
    ]


def _oracle(links: list[tuple[str, str, str]]) -> dict[str, str]:
    graph = nx.Graph()
    graph.add_edges_from((u, (k, v)) for u, k, v in links)
    labels: dict[str, str] = {}
    for part in nx.connected_components(graph):
        users = [n for n in part if isinstance(n, str)]
        labels.update(dict.fromkeys(users, min(users)))
    return labels


def _check_components(spark, seed: int, users: int, nodes: int, edges: int,
                      algorithm: str = "log_round") -> None:
    from xpg.graph.spark import components

    links = _random_links(seed, users, nodes, edges)
    frame = spark.createDataFrame(links, "user_id string, kind string, value string")
    result = getattr(components, f"{algorithm}_components")(frame)
    got = {r["user_id"]: r["label"] for r in result.labels.collect()}
    assert got == _oracle(links)


@pytest.mark.parametrize("seed", [1], ids=lambda s: f"seed{s}")
def test_components_match_networkx(spark, seed):
    _check_components(spark, seed, users=60, nodes=50, edges=70)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["log_round", "min_label"])
@pytest.mark.parametrize("seed", range(2, 9), ids=lambda s: f"seed{s}")
def test_components_match_networkx_more_graphs(spark, seed, algorithm):
    rng = random.Random(seed)
    users = rng.choice([20, 200, 500])
    edges = rng.randint(users // 2, users * 2)
    _check_components(spark, seed, users=users, nodes=users, edges=edges, algorithm=algorithm)


def _chain(spark, users: int):
    """u0 - n0 - u1 - n1 - ... - u(users-1): one component of diameter ``users``, made
    in Spark (no rows through the driver)."""
    from pyspark.sql import functions as F

    steps = spark.range(users - 1)
    name = lambda i: F.format_string("u%07d", i)  # noqa: E731
    node = F.format_string("n%d", F.col("id"))
    return steps.select(name(F.col("id")).alias("user_id"), F.lit("device").alias("kind"),
                        node.alias("value")).union(
        steps.select(name(F.col("id") + 1).alias("user_id"), F.lit("device").alias("kind"),
                     node.alias("value")))


@pytest.mark.slow
def test_a_long_chain_needs_one_pass_per_link(spark):
    """Min-label propagation moves labels one user a pass along u0 - n0 - u1 - ... - u9."""
    from xpg.graph.spark.components import min_label_components

    result = min_label_components(_chain(spark, 10))
    assert {r["label"] for r in result.labels.collect()} == {"u0000000"}
    assert result.passes == 10  # nine to carry u0 to u9, one that lowers nothing
    with pytest.raises(BackendError, match="did not converge"):
        min_label_components(_chain(spark, 10), max_passes=3)


def test_a_short_chain_in_log_rounds(spark):
    """Large-star/small-star: rounds grow with log2 of the vertices, not the diameter."""
    from xpg.graph.spark.components import log_round_components

    result = log_round_components(_chain(spark, 64))
    assert {r["label"] for r in result.labels.collect()} == {"u0000000"}
    assert result.rounds <= math.ceil(math.log2(2 * 64)) + 2
    assert result.edges[-1] == 2 * 64 - 2  # a star: every vertex but the root, one edge
    assert all(b is None or b > 0 for b in result.shuffle_bytes)
    with pytest.raises(BackendError, match="did not converge"):
        log_round_components(_chain(spark, 64), max_rounds=2)


@pytest.mark.slow
def test_a_100k_user_chain_in_log_rounds(spark):
    """The issue's bound: a 100,000-user chain (199,999 vertices with its devices) in
    at most log2(vertices) + 2 rounds, where propagation would need 100,000 passes."""
    from xpg.graph.spark.components import log_round_components

    users = 100_000
    result = log_round_components(_chain(spark, users))
    labels = result.labels.groupBy("label").count().collect()
    assert [(r["label"], r["count"]) for r in labels] == [("u0000000", users)]
    assert result.rounds <= math.ceil(math.log2(2 * users - 1)) + 2, result.rounds


@pytest.mark.slow
def test_mixed_shape_cores_same_findings(spark_backend):
    """Contract v2 on a platform-shaped graph: the multi-lending cores of its giant group
    come out of Spark's kept links (form ring_core_links) as they do in memory."""
    import dataclasses

    synthetic = generate(2_000, 5, shape="mixed")
    as_of = dt.date.fromisoformat(synthetic.truth["as_of"])
    small = dataclasses.replace(DetectionConfig(), ring=dataclasses.replace(
        DetectionConfig().ring, max_group_users=3))
    assert _same_findings(spark_backend, synthetic.dataset(), [DetectionConfig(), small],
                          [as_of]) > 20
    memory = MemoryBackend()
    memory.load(synthetic.dataset())
    found = memory.detect(small, as_of=as_of).findings
    assert any(f.evidence.get("core") for f in found)
