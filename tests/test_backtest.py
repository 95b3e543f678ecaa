"""`xpg backtest`: stored nights re-run under candidate settings, per rule gained and lost,
and of those with decisions the confirmed frauds and false positives."""

from __future__ import annotations

import json

import pytest
from investigation_data import RING, write_dataset
from xpg.queries.findings import stable_id

from xpg.backtest import backtest
from xpg.cli import main
from xpg.errors import InputError
from xpg.settings import load_settings

RING_ID = stable_id("ring", list(RING))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest")
    data = write_dataset(root / "data")
    out = root / "reports"
    for day in ("2026-11-19", "2026-11-20"):
        assert main(["report", "--data", str(data), "--out", str(out), "--as-of", day,
                     "--previous", "auto", "--quiet"]) == 0
    assert main(["case", "decide", RING_ID, "--outcome", "false_positive", "--by", "alice",
                 "--reports", str(out)]) == 0
    ml = json.loads((out / "2026-11-20" / "findings.json").read_text())["findings"]
    u1 = next(f["id"] for f in ml if f["type"] == "multi_lending" and f["users"] == ["u1"])
    assert main(["case", "decide", u1, "--outcome", "confirmed_fraud", "--by", "alice",
                 "--reports", str(out)]) == 0
    return out


def test_a_stricter_ring_rule_loses_the_false_positive_ring(reports, tmp_path):
    cand = tmp_path / "cand.toml"
    cand.write_text("[detection.ring]\nmin_users = 5\n")
    result = backtest(reports, load_settings([cand]))
    assert result.nights == ("2026-11-19", "2026-11-20")
    assert result.rules == {"ring": {"gained": 0, "lost": 2, "confirmed_gained": 0,
                                     "confirmed_lost": 0, "false_positive_gained": 0,
                                     "false_positive_lost": 2}}
    assert backtest(reports, load_settings([cand]), nights=1).nights == ("2026-11-20",)


def test_a_stricter_multi_lending_rule_loses_a_confirmed_fraud(reports, tmp_path, capsys):
    cand = tmp_path / "cand.toml"
    cand.write_text("[detection.multi_lending]\nmin_open_lenders = 5\n")
    assert main(["backtest", "--config", str(cand), "--reports", str(reports), "--nights",
                 "1", "--json"]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    assert rules["multi_lending"]["lost"] >= 1 and rules["multi_lending"]["confirmed_lost"] == 1


def test_same_settings_change_nothing(reports):
    assert backtest(reports, load_settings()).rules == {}


def test_no_reports_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no report folder"):
        backtest(tmp_path, load_settings())
