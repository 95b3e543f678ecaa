"""The Python API: xpg.open, the session's calls, and the runnable example of docs/api.md."""

from __future__ import annotations

import dataclasses
import json
import re
import runpy
import tempfile
from pathlib import Path

import pytest
from decorator import on_backends
from investigation_data import AS_OF, RING, dataset, findings, write_dataset
from xpg.graph.memory import MemoryBackend
from xpg.queries.findings import FindingsReport, stable_id

import xpg
from xpg.errors import InputError, NotFoundError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_exports():
    for name in ("open", "Session", "read_findings", "FindingsReport", "NotFoundError"):
        assert name in xpg.__all__ and hasattr(xpg, name)


def test_open_from_a_directory_and_from_a_dataset(tmp_path):
    folder = write_dataset(tmp_path / "csv", fmt="csv")
    with xpg.open(data=folder) as a, xpg.open(dataset=dataset()) as b:
        assert a.findings(AS_OF).to_dict()["findings"] == b.findings(AS_OF).to_dict()["findings"]
        assert a.backend.name == "memory"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"data": "x", "dataset": "y"}, "not both"), ({}, "only the Neo4j backend")],
)
def test_open_needs_one_source(kwargs, message):
    with pytest.raises(InputError, match=message):
        xpg.open(**kwargs)


def test_open_missing_directory(tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        xpg.open(data=tmp_path / "nope")


def test_findings_are_cached_per_date_and_the_default_date():
    with xpg.open(dataset=dataset()) as s:
        assert s.as_of == dataset().latest_date()
        assert s.findings() is s.findings(s.as_of)
        assert s.findings("2026-11-20") is s.findings(AS_OF)
        assert s.findings(AS_OF).as_of == AS_OF
        with pytest.raises(InputError, match="not a date"):
            s.findings("11/20/2026")
    with xpg.open(dataset=dataset(), as_of=AS_OF) as s:
        assert s.as_of == AS_OF and s.findings().as_of == AS_OF


def test_results_are_frozen_and_json_ready():
    with xpg.open(dataset=dataset(), as_of=AS_OF) as s:
        ring = s.ring(stable_id("ring", list(RING)))
        with pytest.raises(dataclasses.FrozenInstanceError):
            ring.id = "other"  # type: ignore[misc]
        for result in (s.findings(), ring, s.user("u1"), s.path("u1", "u4"), s.lender("L1")):
            doc = result.to_dict()
            assert json.loads(json.dumps(doc)) == doc


def test_exposure_frame():
    with xpg.open(dataset=dataset(), as_of=AS_OF) as s:
        e = s.exposure()
        row = e.filter(e["user_id"] == "u2").row(0, named=True)
        assert (row["internal_limit"], row["drawable"], row["total"]) == (3000.0, 0.0, 5800.0)


def test_given_findings_are_used_not_recomputed(tmp_path):
    report = findings()
    fake = dataclasses.replace(report, findings=report.findings[:1])
    with xpg.open(dataset=dataset(), findings=fake) as s:
        assert s.findings() is fake and s.as_of == AS_OF
        with pytest.raises(NotFoundError):
            s.ring(stable_id("ring", list(RING)))  # not among the given findings
    (tmp_path / "findings.json").write_text(report.to_json())
    with xpg.open(dataset=dataset(), findings=tmp_path) as s:  # a report folder
        assert s.findings().to_dict() == report.to_dict()
    assert xpg.read_findings(tmp_path / "findings.json").to_dict() == report.to_dict()


def test_closed_session_refuses():
    s = xpg.open(dataset=dataset())
    s.close()
    s.close()  # idempotent
    with pytest.raises(InputError, match="closed"):
        s.findings()
    with pytest.raises(InputError, match="closed"):
        s.user("u1")


def test_unknown_ids_are_not_found_errors_and_key_errors():
    with xpg.open(dataset=dataset()) as s:
        for call in (lambda: s.user("zz"), lambda: s.ring("ring-zz"),
                     lambda: s.path("u1", "zz"), lambda: s.lender("zz")):
            with pytest.raises(KeyError):
                call()


def test_report_through_the_session(tmp_path):
    with xpg.open(dataset=dataset(), as_of=AS_OF) as s:
        r = s.report(tmp_path)
    assert r.folder.name == "2026-11-20" and (r.folder / "index.html").exists()
    assert isinstance(r.findings, FindingsReport)


def test_the_docs_example_runs(tmp_path, capsys, monkeypatch):
    example = DOCS.read_text().split("## A runnable example", 1)[1]
    block = re.findall(r"```python\n(.*?)```", example, re.S)[0]
    script = tmp_path / "example.py"
    script.write_text(block)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's mkdtemp
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "2026-11-20 {'multi_lending':" in out
    assert re.search(r"ring ring-[0-9a-f]{12}: \d+ members", out)
    assert "path: " in out and "flagged users owe" in out


@on_backends()
def test_same_answers_on_every_backend(backend, tmp_path):
    """A session over a backend object: findings, views and the report as in memory."""
    ring_id = stable_id("ring", list(RING))
    with xpg.open(dataset=dataset(), as_of=AS_OF) as ref:
        want = [ref.findings().to_dict(), ref.user("u1", hops=2).to_dict(),
                ref.ring(ring_id).to_dict(), ref.path("u5", "u1", via_lenders=True).to_dict(),
                ref.lender("L2").to_dict()]
    with xpg.open(dataset=dataset(), backend=backend, as_of=AS_OF) as s:
        got = [s.findings().to_dict(), s.user("u1", hops=2).to_dict(), s.ring(ring_id).to_dict(),
               s.path("u5", "u1", via_lenders=True).to_dict(), s.lender("L2").to_dict()]
        assert got == want
        r = s.report(tmp_path)
    doc = json.loads((r.folder / "findings.json").read_text())
    assert doc["findings"] == want[0]["findings"]
    assert f'id="{ring_id}"' in (r.folder / "index.html").read_text()


@on_backends("neo4j")
def test_neo4j_answers_from_the_graph_already_loaded(backend):
    backend.load(dataset())
    ring_id = stable_id("ring", list(RING))
    with xpg.open(dataset=dataset(), as_of=AS_OF) as ref:
        want = (ref.findings().to_dict(), ref.ring(ring_id).to_dict())
        exposure = ref.exposure(AS_OF).sort("user_id")
    with xpg.open(backend=backend) as s:  # no tables: the database's last load
        assert s.as_of == dataset().latest_date()
        assert (s.findings(AS_OF).to_dict(), s.ring(ring_id, as_of=AS_OF).to_dict()) == want
        # the tables, when asked for, are the graph read back
        assert s.exposure(AS_OF).sort("user_id").equals(exposure)
        assert s.dataset.users.height == dataset().users.height


class _CountingBackend(MemoryBackend):
    """A memory backend that counts its closes (and can fail to load)."""

    def __init__(self, fail_load: Exception | None = None):
        super().__init__()
        self.fail_load = fail_load
        self.closed = 0

    def _load(self, dataset, progress=None):
        if self.fail_load is not None:
            raise self.fail_load
        return super()._load(dataset, progress)

    def close(self):
        self.closed += 1
        super().close()


def test_a_backend_the_caller_made_is_not_closed_by_the_session():
    mine = _CountingBackend()
    with xpg.open(dataset=dataset(), backend=mine, as_of=AS_OF) as s:
        assert s.findings().as_of == AS_OF
    assert mine.closed == 0
    # still usable after the session: the caller closes it
    with xpg.open(dataset=dataset(), backend=mine, as_of=AS_OF) as s:
        assert s.findings().findings
    assert mine.closed == 0


@pytest.mark.parametrize("error", [InputError("bad rows"), RuntimeError("disk on fire")])
def test_a_backend_the_caller_made_is_not_closed_when_loading_fails(error):
    mine = _CountingBackend(fail_load=error)
    with pytest.raises(type(error)):
        xpg.open(dataset=dataset(), backend=mine)
    assert mine.closed == 0


def test_a_backend_open_made_is_closed_with_the_session(monkeypatch):
    made: list[_CountingBackend] = []

    def fake_open_backend(settings, *, read_only=False):
        made.append(_CountingBackend())
        return made[-1]

    monkeypatch.setattr("xpg.graph.open_backend", fake_open_backend)
    with xpg.open(dataset=dataset(), backend="memory"):
        pass
    assert [b.closed for b in made] == [1]


def test_a_backend_open_made_is_closed_when_loading_fails(monkeypatch):
    made: list[_CountingBackend] = []

    def fake_open_backend(settings, *, read_only=False):
        made.append(_CountingBackend(fail_load=InputError("bad rows")))
        return made[-1]

    monkeypatch.setattr("xpg.graph.open_backend", fake_open_backend)
    with pytest.raises(InputError, match="bad rows"):
        xpg.open(dataset=dataset())
    assert [b.closed for b in made] == [1]


def test_the_api_and_the_cli_never_ask_a_backend_its_name():
    """Backends differ by their hooks and attributes (read_only, keeps_data, label), never
    by a name comparison or an optional hook probed with getattr."""
    root = Path(xpg.__file__).parent
    for path in [root / "api.py", *sorted((root / "cli").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"backend_?\.name\b", text), path
        assert not re.search(r"getattr\(\s*(self\.|session\.)?backend", text), path
