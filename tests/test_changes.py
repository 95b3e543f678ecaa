"""Change sets (loaders/changes.py): the format the nightly run reads instead of hashing
the whole snapshot, its refusals, and the run from one (tests/test_nightly.py compares the
findings for every kind of change)."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from nightly_runs import run_nightly
from typer.testing import CliRunner
from xpg.loaders.changes import change_set_between, read_change_set, write_change_set

import xpg.api as api
from xpg.cli import app
from xpg.errors import InputError
from xpg.settings import Settings


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from xpg.synthetic import write

    folder = tmp_path_factory.mktemp("changes") / "base"
    write(folder, 1500, 7)
    (folder / "truth.json").unlink()
    return folder


def _after(base, root):
    """``base`` with one user's balance changed, one user gone and one new user."""
    tables = {p.stem: pl.read_parquet(p) for p in base.glob("*.parquet")}
    users = tables["users"].get_column("user_id").sort()
    changed, gone = users[10], users[20]
    accounts = tables["accounts"]
    tables["accounts"] = accounts.with_columns(
        pl.when(pl.col("user_id") == changed).then(pl.col("outstanding") + 1)
        .otherwise(pl.col("outstanding")).alias("outstanding"))
    gone_accounts = accounts.filter(pl.col("user_id") == gone).get_column("account_id")
    for name in ("users", "accounts", "devices", "identifiers", "external_loans",
                 "applications"):
        tables[name] = tables[name].filter(pl.col("user_id") != gone)
    tables["account_events"] = tables["account_events"].filter(
        ~pl.col("account_id").is_in(gone_accounts.implode()))
    tables["users"] = pl.concat([tables["users"], tables["users"].head(1).with_columns(
        pl.lit("u_new").alias("user_id"))])
    out = root / "after"
    out.mkdir()
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    return out, changed, gone


def test_a_change_set_names_the_changed_new_and_removed_users(base, tmp_path):
    after, changed, gone = _after(base, tmp_path)
    n = change_set_between(base, after, tmp_path / "changes")
    c = read_change_set(tmp_path / "changes")
    assert sorted(c.users.to_list()) == sorted([changed, "u_new"])
    assert c.removed.to_list() == [gone] and n == 3
    assert set(c.tables["accounts"].get_column("user_id").to_list()) <= {changed, "u_new"}


def test_the_nightly_run_from_a_change_set_reads_only_it_and_matches_a_full_run(base, tmp_path):
    after, _, _ = _after(base, tmp_path)
    change_set_between(base, after, tmp_path / "changes")
    state = tmp_path / "state"
    run_nightly(base, Settings(), state)
    result = run_nightly(after, Settings(), state, changes=tmp_path / "changes")
    assert result.incremental and result.reason is None and result.changed_users == 3
    with api.open(data=after) as s:
        assert result.text() == s.detect().document()


def _set(tmp_path, **tables):
    folder = tmp_path / "c"
    shutil.rmtree(folder, ignore_errors=True)
    removed = tables.pop("removed", [])
    write_change_set(folder, tables, removed)
    return folder


@pytest.mark.parametrize("tables, says", [
    ({"users": pl.DataFrame({"user_id": ["u1", "u1"]})}, "names user 'u1' twice"),
    ({"users": pl.DataFrame({"user_id": ["u1"]}),
      "devices": pl.DataFrame({"user_id": ["u2"], "device_id": ["d"]})},
     "devices of .* has rows of user 'u2', who is not in its users"),
    ({"users": pl.DataFrame({"user_id": ["u1"]}), "removed": ["u1"]},
     "user 'u1' is both in users and in removed_users"),
    ({"users": pl.DataFrame({"id": ["u1"]})}, "has no column 'user_id'"),
    ({"users": pl.DataFrame({"user_id": ["u1"]}),
      "accounts": pl.DataFrame({"user_id": ["u1"], "account_id": ["a1"]}),
      "account_events": pl.DataFrame({"account_id": ["a9"]})},
     "events of account 'a9', which is not in its accounts"),
])
def test_malformed_change_sets_are_refused_naming_the_file(tmp_path, tables, says):
    with pytest.raises(InputError, match=says):
        read_change_set(_set(tmp_path, **tables))


def test_a_folder_without_its_manifest_or_of_another_version_is_refused(tmp_path):
    folder = _set(tmp_path, users=pl.DataFrame({"user_id": ["u1"]}))
    (folder / "changes.json").write_text(json.dumps({"format": "xpg-changes", "version": 9}))
    with pytest.raises(InputError, match="this xpg reads"):
        read_change_set(folder)
    (folder / "changes.json").unlink()
    with pytest.raises(InputError, match=r"changes\.json is missing"):
        read_change_set(folder)


def test_a_shared_table_change_makes_the_run_hash_the_snapshot_saying_why(base, tmp_path):
    after, _, _ = _after(base, tmp_path)
    products = pl.read_parquet(after / "products.parquet")
    products.with_columns(pl.col("name") + " (new)").write_parquet(after / "products.parquet")
    change_set_between(base, after, tmp_path / "changes")
    state = tmp_path / "state"
    run_nightly(base, Settings(), state)
    result = run_nightly(after, Settings(), state, changes=tmp_path / "changes")
    assert result.incremental and "change set not used: products changed" in result.reason
    with api.open(data=after) as s:
        assert result.text() == s.detect().document()


def test_cli_detect_with_changes(base, tmp_path):
    after, _, _ = _after(base, tmp_path)
    change_set_between(base, after, tmp_path / "changes")
    runner = CliRunner()
    state = tmp_path / "state"
    first = runner.invoke(app, ["detect", "--data", str(base), "--incremental", str(state),
                                "--out", str(tmp_path / "a.json")])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["detect", "--data", str(after), "--incremental", str(state),
                                 "--changes", str(tmp_path / "changes"),
                                 "--out", str(tmp_path / "b.json")])
    assert second.exit_code == 0 and "incremental from" in second.output, second.output
    assert "3 users recomputed" in second.output
    with api.open(data=after) as s:
        assert (tmp_path / "b.json").read_text() == s.detect().document()


def test_cli_refuses_changes_without_a_state_and_a_malformed_change_set(base, tmp_path, capsys):
    from xpg.cli import main

    assert main(["detect", "--data", str(base), "--changes", str(tmp_path)]) == 2
    assert "give --incremental" in capsys.readouterr().err
    state = tmp_path / "state"
    assert main(["detect", "--data", str(base), "--incremental", str(state),
                 "--out", str(tmp_path / "a.json")]) == 0
    capsys.readouterr()
    assert main(["detect", "--data", str(base), "--incremental", str(state),
                 "--changes", str(tmp_path)]) == 2
    assert "changes.json is missing" in capsys.readouterr().err
