"""The three public layouts of docs/configuration.md, each loaded by configuration alone
(tests/examples/): bureau tradelines, an identity graph without products, a bank's sample
graph without dates; and the messages that point at the cause of a mapping mistake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from loaders_fixtures import failure_keys, write_csv
from xpg.loaders import load_dataset, validate_dataset

from xpg.cli import main
from xpg.errors import ConfigError, ValidationError
from xpg.settings import load_settings

EXAMPLES = Path(__file__).parent / "examples"
BUREAU = EXAMPLES / "bureau_tradelines"
IDENTITY = EXAMPLES / "identity_graph"
BANK = EXAMPLES / "bank_dateless"


def _settings(toml: Path, **overrides):
    return load_settings([toml], environ={}, overrides=overrides)


def _detect(data: Path, config: Path, capsys, *extra: str) -> tuple[int, dict | None, str]:
    code = main(["detect", "--data", str(data), "--config", str(config), "--format", "json",
                 *extra])
    out = capsys.readouterr()
    return code, json.loads(out.out) if code == 0 else None, out.err


# -- bureau tradelines ------------------------------------------------------------------------


def test_bureau_tradelines_load_without_quarantine_every_applicant_kept():
    result = load_dataset(BUREAU, _settings(BUREAU / "bureau_tradelines.toml"))
    ds = result.dataset
    assert result.rejected == 0
    applicants = pl.read_csv(BUREAU / "applicants.csv", infer_schema=False)["SK_ID_CURR"]
    assert sorted(ds.users["user_id"]) == sorted(applicants)  # with or without a bureau record
    assert {"100010", "100012"} <= set(ds.users["user_id"])  # no bureau record at all
    # cash and revolving told apart: products, kinds, and what each account owes
    assert dict(ds.products.select("product_id", "kind").iter_rows()) == {
        "Cash loans": "loan", "Revolving loans": "consumption"}
    accounts = {r["account_id"]: r for r in ds.accounts.iter_rows(named=True)}
    assert accounts["100002"]["user_id"] == "100002"  # one column feeds two
    assert accounts["100002"]["outstanding"] == 406597.5 == accounts["100002"]["credit_limit"]
    assert accounts["100004"]["outstanding"] == 0.0  # revolving
    assert accounts["100004"]["credit_limit"] == 135000.0
    # negative debts clipped, blank debts nothing owed, days before the application date
    loans = ds.external_loans
    assert loans["outstanding"].min() == 0.0
    by_id = {r["lender_id"]: r for r in loans.iter_rows(named=True)}
    assert by_id["5885878"]["outstanding"] == 0.0  # -3.06
    assert by_id["5224665"]["outstanding"] == 0.0  # -7650.0
    assert by_id["5885880"]["outstanding"] == 0.0  # blank
    assert by_id["6158905"]["outstanding"] == 7997.14
    assert str(by_id["6158904"]["opened_at"]) == "2026-08-09"  # -103 days before 2026-11-20
    assert by_id["6158907"]["status"] == "overdue"  # active with days overdue
    assert by_id["5972023"]["status"] == "written_off" and by_id["5972025"]["status"] == "closed"
    assert ds.devices.is_empty() and "devices" not in ds.present


@pytest.mark.parametrize("lenders, users", [
    (3, ["100002", "100003", "100007", "100009"]),
    (4, ["100002", "100003", "100007"]),
    (5, ["100002", "100007"]),
])
def test_bureau_tradelines_counts_at_each_threshold(tmp_path, capsys, lenders, users):
    threshold = tmp_path / "threshold.toml"
    threshold.write_text(f"[detection.multi_lending]\nmin_open_lenders = {lenders}\n")
    code = main(["detect", "--data", str(BUREAU), "--config",
                 str(BUREAU / "bureau_tradelines.toml"), "--config", str(threshold),
                 "--as-of", "2026-11-20", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert sorted(f["users"][0] for f in doc["findings"] if f["type"] == "multi_lending") == users


def test_bureau_query_errors_name_the_setting_and_the_files(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(BUREAU, data)
    (data / "bureau.csv").rename(data / "tradelines.csv")
    v = validate_dataset(data, _settings(BUREAU / "bureau_tradelines.toml"))
    users = v.failures.filter(pl.col("table") == "users")
    (message,) = users["message"].to_list()
    assert message.startswith("users cannot be made: load.query.users failed:")
    assert "the files it can read: applicants, tradelines" in message
    assert v.dataset is None


def test_an_expression_over_a_missing_column_names_the_key(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(BUREAU, data)
    text = (data / "bureau.csv").read_text().replace("AMT_CREDIT_SUM_DEBT", "DEBT")
    (data / "bureau.csv").write_text(text)
    v = validate_dataset(data, _settings(BUREAU / "bureau_tradelines.toml"))
    (message,) = v.failures.filter(pl.col("table") == "external_loans")["message"].to_list()
    assert message.startswith("load.mapping.external_loans.expr.outstanding cannot be computed "
                              "from bureau.csv")
    assert "DEBT" in message


def test_a_bad_expression_is_refused_when_settings_are_read(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[load.mapping.accounts]\nexpr = { outstanding = "GREATEST(" }\n')
    with pytest.raises(ConfigError, match=r"^load\.mapping\.accounts\.expr\.outstanding: not a "
                                          r"SQL expression"):
        load_dataset(write_csv(tmp_path / "d"), _settings(bad))


# -- identity graph without products ----------------------------------------------------------


def test_identity_graph_without_products_is_refused_naming_allow_empty(capsys):
    code = main(["detect", "--data", str(IDENTITY), "--format", "json"])
    err = capsys.readouterr().err
    assert code == 2
    assert 'set load.allow_empty = ["products"]' in err
    assert 'set load.allow_empty = ["accounts"]' in err


def test_identity_graph_without_products_finds_rings_and_multi_lending(capsys):
    code, doc, err = _detect(IDENTITY, IDENTITY / "identity_graph.toml", capsys)
    assert code == 0, err
    assert "products.csv has a header and no rows: products is loaded empty (load.allow_empty" \
        in err or "empty_table x2" in err
    found = sorted((f["type"], tuple(f["users"])) for f in doc["findings"])
    assert found == [
        ("multi_lending", ("p-001",)), ("multi_lending", ("p-002",)),
        ("multi_lending", ("p-003",)), ("multi_lending", ("p-004",)),
        ("ring", ("p-001", "p-002", "p-003")),  # a device (p-001, p-002), a phone (p-002, p-003)
    ]
    assert doc["as_of"] == "2026-11-19"  # the latest date in the data


def test_allow_empty_also_lets_a_table_be_absent(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(IDENTITY, data)
    (data / "products.csv").unlink()
    (data / "accounts.csv").unlink()
    ds = load_dataset(data, _settings(IDENTITY / "identity_graph.toml")).dataset
    assert ds.products.is_empty() and ds.accounts.is_empty()
    assert "products" not in ds.present
    # an account referring to a product that is not there is still an error
    (data / "accounts.csv").write_text("account_id,user_id,product_id,credit_limit,outstanding,"
                                       "status\na1,p-001,huabei,100,0,active\n")
    with pytest.raises(ValidationError) as info:
        load_dataset(data, _settings(IDENTITY / "identity_graph.toml"))
    assert failure_keys(info.value.failures) == [
        ("accounts", 2, "product_id", "huabei", "unknown_reference")]


# -- a bank's sample graph without dates ------------------------------------------------------


def test_bank_without_dates_needs_as_of(capsys):
    code, _, err = _detect(BANK, BANK / "bank_dateless.toml", capsys)
    assert code == 2
    assert "cannot infer the run date: the data has no dates; give --as-of" in err


def test_bank_without_dates_detects_with_as_of(capsys):
    code, doc, err = _detect(BANK, BANK / "bank_dateless.toml", capsys, "--as-of", "2026-11-20")
    assert code == 0, err
    assert "warning: the run date" not in err
    assert doc["as_of"] == "2026-11-20"
    found = sorted((f["type"], tuple(f["users"])) for f in doc["findings"])
    # a card frozen for fraud beside a drawable loan; a loan frozen for security beside a
    # card; H0002, whose card can still draw, shares its phone (written another way) with
    # H0001, frozen for fraud: linked_risk (contract v3)
    assert found == [("freeze_inconsistency", ("H0001",)), ("freeze_inconsistency", ("H0004",)),
                     ("linked_risk", ("H0002",))]
    assert doc["summary"]["users"] == 6


def test_bank_without_dates_reports_with_as_of(tmp_path, capsys):
    out = tmp_path / "reports"
    code = main(["report", "--data", str(BANK), "--config", str(BANK / "bank_dateless.toml"),
                 "--as-of", "2026-11-20", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (out / "2026-11-20").is_dir()
    assert "cannot infer the run date" not in err


def test_bank_identifiers_come_from_three_files():
    ds = load_dataset(BANK, _settings(BANK / "bank_dateless.toml")).dataset
    kinds = ds.identifiers.group_by("kind").len().sort("kind")
    assert dict(kinds.iter_rows()) == {"address": 5, "id_number": 6, "phone": 5}
    assert dict(ds.accounts.group_by("product_id").len().iter_rows()) == {"card": 6, "loan": 5}
    assert ds.latest_date() is None


# -- messages that point at the cause ---------------------------------------------------------


def test_a_rename_conflict_is_named(tmp_path):
    data = write_csv(tmp_path / "d", account_events=None)
    accounts = pl.read_csv(data / "accounts.csv", infer_schema=False)
    accounts = accounts.drop("account_id").rename({"user_id": "cust_no"})
    accounts.unique("cust_no", keep="first", maintain_order=True).write_csv(data / "accounts.csv")
    overrides = {"load.mapping": {"shared": {"rename": {"cust_no": "user_id"}},
                                  "accounts": {"rename": {"cust_no": "account_id"}}}}
    with pytest.raises(ValidationError) as info:
        load_dataset(data, load_settings(environ={}, overrides=overrides))
    (message,) = info.value.failures["message"].to_list()
    assert message == (
        "required column user_id is missing: rename conflict: load.mapping.accounts.rename.cust_no "
        "renames cust_no onto 'account_id', overriding load.mapping.shared.rename.cust_no (onto "
        "'user_id'); for one column that feeds both, write rename = { cust_no = "
        '["user_id", "account_id"] }')
    overrides["load.mapping"]["accounts"]["rename"]["cust_no"] = ["user_id", "account_id"]
    ds = load_dataset(data, load_settings(environ={}, overrides=overrides)).dataset
    assert ds.accounts["account_id"].to_list() == ds.accounts["user_id"].to_list()


def test_a_value_map_keyed_by_the_exports_column_name_is_accepted(tmp_path):
    data = write_csv(tmp_path / "d")
    loans = pl.read_csv(data / "external_loans.csv", infer_schema=False)
    loans = loans.rename({"status": "acct_state"}).with_columns(
        pl.col("acct_state").replace({"open": "Active"}))
    loans.write_csv(data / "external_loans.csv")
    overrides = {"load.mapping": {"external_loans": {
        "rename": {"acct_state": "status"}, "values": {"acct_state": {"Active": "open"}}}}}
    ds = load_dataset(data, load_settings(environ={}, overrides=overrides)).dataset
    assert set(ds.external_loans["status"]) <= {"open", "overdue", "closed", "written_off"}
    assert "open" in set(ds.external_loans["status"])


def test_structural_errors_come_first_and_are_never_cut(tmp_path, capsys):
    rows = "".join(f"a{i},u1,huabei,-5,0,active\n" for i in range(40))
    data = write_csv(tmp_path / "d", accounts="account_id,user_id,product_id,credit_limit,"
                     "outstanding,status\n" + rows, devices=None)
    assert main(["validate", "--data", str(data), "--config", str(_cap(tmp_path, 5))]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("  ")]
    assert lines[0].startswith("  devices: [missing_table] required table devices is missing")


def _cap(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "cap.toml"
    path.write_text(f"[load]\nmax_errors = {n}\n")
    return path


@pytest.mark.parametrize("heading, toml", [
    ("### Worked example: bureau tradelines", BUREAU / "bureau_tradelines.toml"),
    ("### Worked example: an identity graph without products", IDENTITY / "identity_graph.toml"),
    ("### Worked example: a bank's sample graph without dates", BANK / "bank_dateless.toml"),
])
def test_the_worked_examples_in_the_docs_are_the_tested_files(heading, toml):
    import tomllib

    doc = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    section = doc.split(heading, 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert tomllib.loads(block) == tomllib.loads(toml.read_text())


def test_a_query_tables_errors_name_the_query_and_its_row(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(BANK, data)
    cards = (data / "cards.csv").read_text().replace("C-1002,H0002,15000", "C-1002,H0002,-15000")
    (data / "cards.csv").write_text(cards)
    with pytest.raises(ValidationError) as info:
        load_dataset(data, _settings(BANK / "bank_dateless.toml"))
    (row,) = info.value.failures.rows(named=True)
    assert (row["table"], row["column"], row["value"], row["rule"]) == (
        "accounts", "credit_limit", "-15000", "negative_amount")
    # a UNION ALL has no set order: the row is where the result holds it
    assert row["message"] == (f"credit_limit must be >= 0 (row {row['row'] - 1} of the result "
                              "of load.query.accounts)")


def test_columns_an_expression_reads_are_no_unknown_columns():
    result = load_dataset(BUREAU, _settings(BUREAU / "bureau_tradelines.toml"))
    messages = result.warnings.filter(pl.col("rule") == "unknown_column")["message"].to_list()
    assert messages == [
        "4 columns are not in the contract of accounts (CODE_GENDER, AMT_INCOME_TOTAL, "
        "AMT_ANNUITY, DAYS_REGISTRATION); they are kept as properties",
        "2 columns are not in the contract of external_loans (CREDIT_CURRENCY, CREDIT_TYPE); "
        "they are kept as properties"]
    assert "AMT_CREDIT" in result.dataset.accounts.columns  # still kept as a property
