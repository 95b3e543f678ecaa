"""Findings assembled as frames of JSON lines (:mod:`xpg.queries.lines`) against the Python
assembly of each rule, the oracle: the same document byte for byte, the same findings.

On the frozen baseline's generated data (seeds 7, 11, 3 in the test id), on hand-made
data whose ids need escaping, and on the formatting helpers' edge cases.
"""

from __future__ import annotations

import json
import math
import random
import sys

import polars as pl
import pytest
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.queries.detections import run_detections
from xpg.queries.findings import Finding, FindingSequence, FindingsReport
from xpg.queries.lines import json_string, json_string_list, rounded_texts
from xpg.queries.polars_hooks import PolarsHooks

from xpg.settings import DetectionConfig, load_settings
from xpg.synthetic import generate


def _both(dataset, config: DetectionConfig | None = None):
    config = config or load_settings(environ={}).detection
    hooks = PolarsHooks(dataset)
    fast = run_detections(hooks, config, AS_OF, frames=True)
    slow = run_detections(hooks, config, AS_OF, frames=False)
    return fast, slow


def _same(fast: FindingsReport, slow: FindingsReport) -> None:
    assert isinstance(fast.findings, FindingSequence)
    assert fast.document() == slow.document()
    assert fast.summary == slow.summary
    assert fast.to_dict() == slow.to_dict()
    assert list(fast.findings) == list(slow.findings)  # Finding.from_dict of each line


@pytest.mark.parametrize("seed", [7, 11, 3])
def test_generated_data_gives_the_python_assemblys_document(seed):
    synthetic = generate(600, seed)
    fast, slow = _both(synthetic.dataset())
    assert any(f.type == "multi_lending" for f in slow.findings)
    _same(fast, slow)


def test_other_thresholds_give_the_python_assemblys_document():
    config = load_settings(environ={}, overrides={
        "detection.multi_lending.min_open_lenders": 2,
        "detection.multi_lending.short_window_days": 1,
    }).detection
    fast, slow = _both(generate(400, 5).dataset(), config)
    _same(fast, slow)


ODD = ['u"quote', "u\\back", "u\nnew\tline", "u\x01\x1f", "usé €😀", "u plain"]


def test_ids_that_need_escaping_are_escaped_as_the_json_encoder_does():
    b = Builder()
    for i, u in enumerate(ODD):
        multi_lender(b, u, prefix=f'L"{i}\\')
    fast, slow = _both(b.build())
    assert len(slow.findings) == len(ODD)
    _same(fast, slow)


def test_an_empty_run_is_the_same_document():
    b = Builder()
    b.account("a1", "u1", "huabei")
    fast, slow = _both(b.build())
    assert not slow.findings
    assert fast.document() == slow.document()


def test_json_string_matches_the_encoder_on_every_control_character():
    rng = random.Random(20261202)
    alphabet = [chr(i) for i in range(40)] + ['"', "\\", "/", "é", "\u2028", "😀", "a"]
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
              for _ in range(2000)]
    out = pl.DataFrame({"s": values}).select(json_string(pl.col("s"))).to_series().to_list()
    assert out == [json.dumps(v, ensure_ascii=False) for v in values]
    lists = [values[i:i + 3] for i in range(0, 60, 3)] + [[]]
    out = (pl.DataFrame({"s": lists}, schema={"s": pl.List(pl.String)})
           .select(json_string_list(pl.col("s"))).to_series().to_list())
    assert out == [json.dumps(v, ensure_ascii=False) for v in lists]


@pytest.mark.parametrize("digits", [2, 4])
def test_rounded_texts_are_pythons_repr_of_the_rounded_value(digits):
    rng = random.Random(digits)
    values = [round(rng.uniform(-1e6, 1e7), digits) for _ in range(20000)]
    values += [round(rng.uniform(0, 1), digits) for _ in range(20000)]
    values += [rng.uniform(0, 1e4) for _ in range(5000)]  # not rounded yet
    values += [0.0, -0.0, 1e-05, 0.005, 0.015, 2.675, 1e13, 9.99e12, 1e16, 1e20, -1e-9,
               0.1 + 0.2, math.inf, -math.inf, math.nan, 10**digits - 0.5]
    out = rounded_texts(pl.Series(values, dtype=pl.Float64), digits).to_list()
    assert out == [json.dumps(round(v, digits)) for v in values]


def test_a_finding_sequence_makes_only_the_parts_asked_for():
    b = Builder()
    multi_lender(b, "u1")
    b.account("a1", "u2", "huabei", limit=10_000, outstanding=2_000)
    fast, slow = _both(b.build())
    seq = fast.findings
    (part,) = [frame for _, _, frame in seq.parts() if frame is not None]
    assert part.height == 1
    assert fast.of_type("ring") == ()
    assert seq.parts()[0][1] is None  # not made by of_type of another type
    made = seq[0]
    assert isinstance(made, Finding) and seq[0] is made and seq[:1] == (made,)
    assert seq == slow.findings and slow.findings == tuple(seq)
    assert fast.by_id(made.id) == made


def test_the_command_in_its_own_process_writes_the_whole_document_and_exits_0(tmp_path):
    """``xpg detect`` freezes the objects left at exit (``freeze_at_exit``): the process
    still exits 0 with its file and its stdout whole, as the in-process run writes them."""
    from processes import run_in_group
    from test_cli_detect import write

    b = Builder()
    for u in ODD:
        multi_lender(b, u)
    b.account("a1", "u1", "huabei")
    dataset = b.build()
    folder = write(dataset, tmp_path / "data")
    fast, _ = _both(dataset)
    expected = fast.document()
    out = tmp_path / "f.json"
    cmd = [sys.executable, "-c", "import sys; from xpg.cli import main; sys.exit(main())",
           "detect", "--data", str(folder),
           "--as-of", AS_OF.isoformat()]
    written = run_in_group([*cmd, "--out", str(out)], timeout=120)
    assert written.returncode == 0, written.stderr
    assert out.read_text(encoding="utf-8") == expected
    printed = run_in_group(cmd, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == expected
