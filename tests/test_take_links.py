"""A session that only detects (``xpg detect``): the in-memory backend builds its link graph
while the tables load and the device and identifier rows are let go
(``load_dataset(take_links=...)``, ``xpg.open(investigate=False)``).

The findings, the run date, the failures and the quarantine must be those of a full load.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from loaders_fixtures import VALID, write_csv
from xpg.graph.memory import MemoryBackend
from xpg.loaders import load_dataset, validate_dataset

import xpg
from xpg.errors import BackendError, ValidationError
from xpg.linkgraph.links import Links
from xpg.synthetic.generator import write


def _json(report) -> str:
    return json.dumps(report.to_dict(), sort_keys=True)


@pytest.mark.parametrize("seed", [5, 23], ids=lambda s: f"seed{s}")
def test_detect_only_gives_the_findings_of_a_full_load(tmp_path, seed):
    data = tmp_path / "data"
    write(data, users=600, seed=seed)
    with xpg.open(data=data) as full, xpg.open(data=data, investigate=False) as lean:
        assert lean.dataset.released == {"devices", "identifiers"}
        assert lean.dataset.devices.height == lean.dataset.identifiers.height == 0
        assert full.dataset.released == frozenset()
        assert lean.dataset.latest_date() == full.dataset.latest_date()
        assert _json(lean.detect()) == _json(full.detect())
        with pytest.raises(BackendError, match="let go once the graph was built"):
            lean.backend.subgraph([full.dataset.users["user_id"][0]])


def test_the_links_taken_equal_the_links_of_the_dataset(tmp_path):
    data = tmp_path / "data"
    write(data, users=400, seed=3)
    backend = MemoryBackend()
    lean = load_dataset(data, take_links=backend.take_links()).dataset
    taken = backend._taken
    whole = Links(load_dataset(data).dataset)
    assert taken is not None and lean.released == {"devices", "identifiers"}
    assert taken.nodes.equals(whole.nodes)
    for a, b in ((taken._user, whole._user), (taken._node, whole._node),
                 (taken._first, whole._first)):
        assert np.array_equal(a, b)


def test_the_latest_date_of_the_released_tables_is_kept(tmp_path):
    devices = VALID["devices"] + "u3,d3,2026-03-01T00:00:00,2026-03-09T00:00:00\n"
    data = write_csv(tmp_path / "data", devices=devices)
    full = load_dataset(data).dataset
    lean = load_dataset(data, take_links=lambda tables: True).dataset
    assert str(full.latest_date()) == "2026-03-09"
    assert lean.latest_date() == full.latest_date()
    assert lean.released_latest is not None


def test_errors_keep_the_tables_and_say_the_same(tmp_path):
    identifiers = VALID["identifiers"] + "u9,phone,13800000001,,\n"  # an unknown user
    data = write_csv(tmp_path / "data", identifiers=identifiers)
    called = []
    lean = validate_dataset(data, take_links=lambda tables: called.append(1) or True)
    full = validate_dataset(data)
    assert not called and lean.dataset is None
    assert lean.failures.equals(full.failures) and lean.rows == full.rows
    with pytest.raises(ValidationError):
        load_dataset(data, take_links=lambda tables: True)


def test_a_quarantine_is_the_same_with_the_rows_taken(tmp_path):
    identifiers = VALID["identifiers"] + "u9,phone,13800000001,,\n"
    data = write_csv(tmp_path / "data", identifiers=identifiers)
    backend = MemoryBackend()
    lean = load_dataset(data, quarantine=tmp_path / "q1", take_links=backend.take_links())
    full = load_dataset(data, quarantine=tmp_path / "q2")
    assert lean.rejected == full.rejected == 1
    assert lean.failures.equals(full.failures)
    for name in ("summary.json",):
        assert (tmp_path / "q1" / name).read_text().replace("q1", "q") == (
            tmp_path / "q2" / name).read_text().replace("q2", "q")
    assert backend._taken is not None and backend._taken.n_edges == Links(full.dataset).n_edges


def test_a_dataset_without_its_link_rows_needs_the_links_taken(tmp_path):
    data = write_csv(tmp_path / "data")
    lean = load_dataset(data, take_links=lambda tables: True).dataset
    with pytest.raises(BackendError, match="to build its graph"):
        MemoryBackend().load(lean)
