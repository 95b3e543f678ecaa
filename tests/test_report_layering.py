"""The report is handed data: nothing under xpg/report imports the API or a backend, and
a report is composed and written from a ReportInputs made by hand."""

from __future__ import annotations

import ast
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
from investigation_data import AS_OF, dataset, findings
from xpg.queries.exposure import user_exposure

import xpg.report
from xpg.report import ReportInputs, compose, write_report
from xpg.report.html import render

FORBIDDEN = ("xpg.api", "xpg.graph", "xpg.gather", "xpg.serve", "xpg.cli")
REPORT_DIR = Path(xpg.report.__file__).parent


def forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def imported_names(path: Path) -> set[str]:
    """Every module an import statement in the file names, at any depth (functions and
    ``if TYPE_CHECKING:`` blocks too); ``from xpg import api`` counts as ``xpg.api``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_no_report_module_names_the_api_or_a_backend():
    modules = sorted(REPORT_DIR.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "inputs.py", "compose.py", "writer.py",
                                         "html.py", "svg.py"}
    bad = {p.name: sorted(n for n in imported_names(p) if forbidden(n)) for p in modules}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_checker_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from xpg import api\n    from xpg.graph.neo4j import X\n")
    assert sorted(n for n in imported_names(module) if forbidden(n)) == [
        "xpg.api", "xpg.graph.neo4j", "xpg.graph.neo4j.X"]


# xpg/__init__.py is the library's front door and imports xpg.api; stand in an empty
# package for it so that only what xpg.report itself pulls in gets imported.
PROBE = """
import importlib, importlib.util, json, sys, types
spec = importlib.util.find_spec("xpg")
root = types.ModuleType("xpg")
root.__path__ = list(spec.submodule_search_locations)
root.__spec__ = spec
sys.modules["xpg"] = root
for name in ("xpg.report", "xpg.report.inputs", "xpg.report.compose", "xpg.report.writer"):
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("xpg."))))
"""


def test_importing_the_report_loads_neither_the_api_nor_a_backend():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True, timeout=120)
    loaded = json.loads(done.stdout)
    assert "xpg.report.writer" in loaded and "xpg.queries.findings" in loaded  # it did import
    assert [m for m in loaded if forbidden(m)] == []


def plain_inputs() -> ReportInputs:
    """Inputs made by hand from the fixture's tables and findings: no session, no backend."""
    ds = dataset()
    return ReportInputs(
        as_of=AS_OF, findings=findings(), exposure=user_exposure(ds, AS_OF), rings=(),
        open_lenders=pl.DataFrame({"user_id": ["u1", "u2"], "n": [5, 1]}),
        users=ds.users.height, min_open_lenders=4, data_source="by hand", backend="none",
    )


def test_a_report_is_written_from_plain_inputs(tmp_path):
    r = write_report(plain_inputs(), tmp_path)
    assert r.folder == tmp_path / "2026-11-20" and r.diff is None
    assert json.loads((r.folder / "findings.json").read_text()) == findings().to_dict()
    manifest = json.loads((r.folder / "manifest.json").read_text())
    assert (manifest["data"], manifest["backend"]) == ("by hand", "none")
    assert "by hand" in (r.folder / "index.html").read_text()


def test_compose_is_pure():
    inputs, at = plain_inputs(), dt.datetime(2026, 11, 21, 6, 0)
    one, two = compose(inputs, generated_at=at), compose(inputs, generated_at=at)
    assert one.files == two.files and one.summary == two.summary
    assert one.tables.keys() == two.tables.keys() == {"findings", "finding_users", "exposure"}
    assert all(one.tables[k].equals(two.tables[k]) for k in one.tables)
    assert render(one.page) == render(two.page)
    # the lenders-per-user chart: 2 users borrow (at 5 lenders and at 1), the rest at none
    assert dict(one.page.lenders_per_user)["5"] == 1.0
    assert dict(one.page.lenders_per_user)["0"] == inputs.users - 2
