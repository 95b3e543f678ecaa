"""The Spark backend on a real standalone cluster: a master and two workers, each its own
JVM on loopback, started by ``scripts/spark-cluster`` from the installed pyspark.

``xpg detect --backend spark`` runs in a subprocess (one process holds one SparkContext,
and the suite's own is local) against the cluster's master, on a local folder (Polars
loads and normalizes, Spark detects) and on a ``file://`` URI (the executors read the
Parquet themselves); its findings must be the memory backend's, ids included. The
cluster costs about a minute to start and each run a driver of its own, so every case
here is slow: CI runs them (``CI=true``), a plain ``make test`` deselects them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loaders_fixtures import write_csv
from test_cli_detect import write
from xpg.graph.memory import MemoryBackend
from xpg.loaders import load_dataset

from xpg.settings import DetectionConfig
from xpg.synthetic import generate

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
XPG = Path(sys.executable).with_name("xpg")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A master and two one-core workers on loopback, for this module."""
    state = tmp_path_factory.mktemp("spark-cluster")
    script = ROOT / "scripts" / "spark-cluster"
    env = {**os.environ, "PYTHON": sys.executable}
    started = subprocess.run(
        [str(script), "start", "--state", str(state), "--workers", "2", "--memory", "1g",
         "--watch-pid", str(os.getpid())],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert started.returncode == 0, started.stderr
    master = started.stdout.strip().split("=", 1)[1]
    try:
        yield {"master": master, "ui": (state / "ui").read_text().strip()}
    finally:
        subprocess.run([str(script), "stop", "--state", str(state)], env=env, timeout=120)


def _cluster_detect(cluster: dict[str, str], data: str) -> dict:
    env = {**os.environ, "XPG_SPARK_MASTER": cluster["master"], "XPG_BACKEND": "spark",
           "PYSPARK_PYTHON": sys.executable}
    run = subprocess.run([str(XPG), "detect", "--data", data, "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=1500)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _memory(dataset) -> dict:
    memory = MemoryBackend()
    memory.load(dataset)
    return memory.detect(DetectionConfig()).to_dict()


def _applications(cluster: dict[str, str]) -> int:
    with urllib.request.urlopen(cluster["ui"] + "/json/", timeout=10) as answer:
        page = json.load(answer)
    assert sum(w["state"] == "ALIVE" for w in page["workers"]) == 2
    return len(page.get("completedapps", [])) + len(page.get("activeapps", []))


@pytest.mark.parametrize(
    ("shape", "users", "seed"), [("islands", 300, 1), ("mixed", 2_000, 5)],
    ids=["islands-seed1", "mixed-seed5"],
)
def test_cluster_same_findings_as_memory(cluster, tmp_path, shape, users, seed):
    dataset = generate(users, seed, shape=shape).dataset()
    folder = write(dataset, tmp_path / "data")
    before = _applications(cluster)
    assert _cluster_detect(cluster, str(folder)) == _memory(dataset)
    assert _applications(cluster) == before + 1  # it ran on the cluster, not locally


def test_cluster_reads_a_uri(cluster, tmp_path):
    """The executors read the Parquet themselves (no table passes through the driver).

    Under a URI the tables are validated and normalized as a local folder is, so the data
    must be valid: the kitchen sink's placeholder identifiers ('p1', 'bc') are not."""
    dataset = generate(300, 2, shape="islands").dataset()
    folder = write(dataset, tmp_path / "data")
    assert _cluster_detect(cluster, folder.resolve().as_uri()) == _memory(dataset)


def test_cluster_one_phone_written_three_ways(cluster, tmp_path):
    """A local folder is normalized by the loader before Spark sees it: one phone written
    three ways links three users on the cluster as in memory."""
    identifiers = (
        "user_id,kind,value,first_seen,last_seen\n"
        'u1,phone,"+86 138-0013-8000",,\n'
        'u2,phone,"0086 138 0013 8000",,\n'
        "u3,phone, 13800138000 ,,\n"
    )
    folder = write_csv(tmp_path / "data", identifiers=identifiers)
    dataset = load_dataset(folder).dataset
    assert _cluster_detect(cluster, str(folder)) == _memory(dataset)
