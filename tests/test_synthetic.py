"""The synthetic generator: determinism, the contract's schema, the truth file, sizes, writing."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from xpg.loaders.schema import TABLES

from xpg.cli import main
from xpg.errors import InputError
from xpg.synthetic import DEFAULT_AS_OF, MIN_USERS, generate, write
from xpg.synthetic.catalogue import LENDERS
from xpg.synthetic.kinds import CASE_KINDS

SMALL = 300


@pytest.fixture(scope="module")
def small():
    return generate(SMALL, seed=11)


@pytest.fixture(scope="module")
def medium():
    return generate(3_000, seed=12)


def test_same_seed_same_tables_and_truth(small):
    again = generate(SMALL, seed=11)
    for name, df in small.tables.items():
        assert df.equals(again.tables[name], null_equal=True), name
    assert again.truth == small.truth


def test_other_seed_other_data(small):
    other = generate(SMALL, seed=12)
    for name in ("users", "accounts", "devices", "identifiers", "external_loans"):
        assert not other.tables[name].equals(small.tables[name]), name
    assert other.truth["cases"] != small.truth["cases"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_written_bytes_are_identical_for_a_seed(tmp_path, fmt):
    write(tmp_path / "a", SMALL, seed=5, fmt=fmt)
    write(tmp_path / "b", SMALL, seed=5, fmt=fmt)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([f"{t}.{fmt}" for t in TABLES] + ["truth.json"])
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("name", list(TABLES))
def test_every_table_follows_the_contract(small, name):
    table = TABLES[name]
    df = small.tables[name]
    assert df.columns == list(table.column_names)
    assert df.schema == pl.Schema(table.schema)
    assert df.height > 0
    for col in table.columns:
        s = df.get_column(col.name)
        if col.required:
            assert s.null_count() == 0, col.name
        if col.values:
            assert set(s.drop_nulls().unique()) <= set(col.values), col.name
        if col.non_negative:
            assert (s.drop_nulls() >= 0).all(), col.name
        if col.kind in ("id", "string") and col.required:
            assert (s.str.len_chars() > 0).all(), col.name
    if table.key:
        assert df.select(table.key).is_duplicated().sum() == 0
    for ref in table.references:
        target = small.tables[ref.table].get_column(ref.target)
        assert df.get_column(ref.column).is_in(target.implode()).all(), ref


def test_the_lender_and_product_catalogues(small):
    products = small.tables["products"]
    assert {"huabei", "jiebei"} <= set(products["product_id"])
    assert set(products["kind"]) == {"consumption", "loan"}
    assert set(small.tables["lenders"]["type"]) == {
        "bank", "consumer_finance", "microloan", "p2p", "bnpl"
    }  # fmt: skip
    assert small.tables["lenders"].equals(LENDERS)


def test_every_date_is_on_or_before_the_run_date_and_the_latest_is_on_it(small):
    as_of = DEFAULT_AS_OF
    for name, df in small.tables.items():
        for col in TABLES[name].columns:
            if col.kind in ("date", "datetime"):
                latest = df.get_column(col.name).max()
                if latest is not None:
                    day = latest.date() if isinstance(latest, dt.datetime) else latest
                    assert day <= as_of, (name, col.name, latest)
    assert small.dataset().latest_date() == as_of


def test_another_run_date_moves_every_date():
    as_of = dt.date(2025, 3, 31)
    s = generate(SMALL, seed=3, as_of=as_of)
    assert s.truth["as_of"] == "2025-03-31"
    assert s.dataset().latest_date() == as_of


def test_realistic_amounts(medium):
    loans = medium.tables["external_loans"]
    assert loans["amount"].min() >= 1_000 and loans["amount"].max() <= 200_000
    assert (loans["outstanding"] <= loans["amount"]).all()
    assert (loans.filter(pl.col("status") == "closed")["outstanding"] == 0).all()
    planted = {u for c in medium.truth["cases"] for u in c["users"]}
    ordinary = medium.tables["accounts"].filter(~pl.col("user_id").is_in(list(planted)))
    limits = ordinary.group_by("product_id").agg(
        lo=pl.col("credit_limit").min(), hi=pl.col("credit_limit").max()
    )
    bounds = {"huabei": (500, 50_000), "jiebei": (1_000, 200_000), "beiyongjin": (500, 5_000)}
    for row in limits.iter_rows(named=True):
        lo, hi = bounds[row["product_id"]]
        assert lo <= row["lo"] and row["hi"] <= hi, row
    scores = medium.tables["users"]["credit_score"]
    assert scores.min() >= 350 and scores.max() <= 950


def test_ordinary_users_stay_under_every_threshold(medium):
    """Checked on the tables directly, independently of the detections."""
    planted = pl.Series([u for c in medium.truth["cases"] for u in c["users"]]).implode()
    t = medium.tables
    today = DEFAULT_AS_OF

    def ordinary(df):
        return df.filter(~pl.col("user_id").is_in(planted))

    live = ordinary(t["external_loans"]).filter(pl.col("status") != "closed")
    assert live.group_by("user_id").agg(pl.col("lender_id").n_unique())["lender_id"].max() <= 3
    recent = ordinary(t["applications"]).filter(
        pl.col("applied_at").dt.date() >= today - dt.timedelta(days=29)
    )
    assert recent.group_by("user_id").agg(pl.col("lender_id").n_unique())["lender_id"].max() <= 2
    # every device and identifier value of an ordinary user is theirs alone (ip/address aside)
    devices = t["devices"].group_by("device_id").agg(pl.col("user_id").n_unique().alias("n"))
    own = ordinary(t["devices"]).join(devices, on="device_id")
    assert (own["n"] == 1).all()
    default_kinds = ["phone", "bank_card", "id_number"]
    idents = t["identifiers"].filter(pl.col("kind").is_in(default_kinds))
    shared = idents.group_by("kind", "value").agg(pl.col("user_id").n_unique().alias("n"))
    assert (ordinary(idents).join(shared, on=["kind", "value"])["n"] == 1).all()
    # frozen or closed ordinary accounts: product-scope reasons only
    stopped = ordinary(t["accounts"]).filter(pl.col("status").is_in(["frozen", "closed"]))
    product_scope = ["overdue", "credit_risk", "customer_request", "system"]
    assert stopped["status_reason"].is_in(product_scope).all()


def test_truth_file_names_existing_users_and_every_kind(small):
    truth = small.truth
    assert truth["users"] == SMALL and truth["seed"] == 11 and truth["as_of"] == "2026-11-20"
    users = set(small.tables["users"]["user_id"])
    ids = [c["id"] for c in truth["cases"]]
    assert len(ids) == len(set(ids))
    kinds = {c["kind"] for c in truth["cases"]}
    assert {k.name for k in CASE_KINDS} | {"ordinary"} == kinds
    planted = set()
    for case in truth["cases"]:
        assert case["users"] == sorted(case["users"])
        assert set(case["users"]) <= users, case["id"]
        for f in case.get("findings", []):
            assert f["users"] == sorted(f["users"]) and set(f["users"]) <= set(case["users"])
        if case["expect"] is None:
            assert case["kind"] == "ordinary" or case["must_not"]
        else:
            assert case["expect"] in {f["type"] for f in case["findings"]}
        if case["expect"] == "ring":
            assert [f["users"] for f in case["findings"] if f["type"] == "ring"] == [case["users"]]
        if case["kind"] != "ring_behind_hub":  # those are members of a hub case too
            assert not planted & set(case["users"]), case["id"]
            planted |= set(case["users"])
    assert truth["planted_users"] == len(planted) < SMALL
    assert truth["cases"][0]["count"] == SMALL - len(planted)
    assert truth["rows"] == {name: df.height for name, df in small.tables.items()}


def test_planted_shapes(small):
    cases = {c["kind"]: c for c in reversed(small.truth["cases"])}
    hub20, hub21 = cases["hub_boundary_20"], cases["hub_boundary_21"]
    devices = small.tables["devices"]
    rows20 = devices.filter(pl.col("device_id") == hub20["devices"][0])
    assert rows20.height == 21 and rows20["user_id"].n_unique() == 20
    rows21 = devices.filter(pl.col("device_id") == hub21["devices"][0])
    assert rows21["user_id"].n_unique() == 21
    hub = cases["hub_device"]
    assert devices.filter(pl.col("device_id") == hub["devices"][0]).height == hub["size"] > 20
    chain = cases["ring_chain"]
    assert len(chain["devices"]) == chain["size"] - 1
    nondefault = cases["ring_via_nondefault_identifier"]
    assert nondefault["identifiers"][0]["kind"] in ("ip", "address", "email")


def test_sizes_scale(small, medium):
    assert small.tables["users"].height == SMALL and medium.tables["users"].height == 3_000
    for name in ("accounts", "devices", "identifiers", "external_loans", "applications"):
        ratio = medium.tables[name].height / small.tables[name].height
        assert 6 < ratio < 14, (name, ratio)
    rows_per_user = (medium.row_count - 83) / 3_000  # less the products and lenders
    assert 8 < rows_per_user < 16
    counts = {}
    for c in medium.truth["cases"]:
        counts[c["kind"]] = counts.get(c["kind"], 0) + 1
    assert counts["family_device"] == 30 and counts["ml_open_lenders"] == 24


def test_too_few_users_and_bad_arguments(tmp_path):
    with pytest.raises(InputError, match=f"at least {MIN_USERS}"):
        generate(MIN_USERS - 1, seed=1)
    with pytest.raises(InputError, match="seed"):
        generate(SMALL, seed=-1)
    with pytest.raises(InputError, match="parquet or csv"):
        write(tmp_path / "x", SMALL, seed=1, fmt="json")
    assert not (tmp_path / "x").exists()


def test_write_refuses_a_non_empty_folder_unless_forced(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write(out, SMALL, seed=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    write(out, SMALL, seed=1, fmt="csv", force=True)
    assert not (out / "keep.txt").exists() and (out / "users.csv").is_file()
    # nothing is left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_write_into_an_empty_folder_and_read_back(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    s = write(out, SMALL, seed=2)
    whole = generate(SMALL, seed=2)
    back = pl.read_parquet(out / "accounts.parquet")
    assert back.equals(whole.tables["accounts"], null_equal=True)
    assert s.rows == {name: df.height for name, df in whole.tables.items()}
    assert s.dataset().identifiers.equals(whole.tables["identifiers"], null_equal=True)
    write(tmp_path / "csv", SMALL, seed=2, fmt="csv")
    users = pl.read_csv(tmp_path / "csv" / "users.csv", try_parse_dates=True)
    assert users["user_id"].cast(pl.String).to_list() == whole.tables["users"]["user_id"].to_list()
    assert json.loads((out / "truth.json").read_text("utf-8")) == json.loads(json.dumps(s.truth))
    assert s.truth == whole.truth


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_in_chunks_gives_the_tables_of_one_frame(tmp_path, monkeypatch, fmt):
    """Tables longer than a chunk are formatted and written chunk by chunk: CSV keeps the bytes
    of a whole-frame write, Parquet the rows and types."""
    import xpg.synthetic.generator as generator

    whole = write(tmp_path / "whole", SMALL, seed=4, fmt=fmt)
    monkeypatch.setattr(generator, "CHUNK_ROWS", 97)
    chunked = write(tmp_path / "chunked", SMALL, seed=4, fmt=fmt)
    assert max(chunked.rows.values()) > 3 * 97
    for name in whole.rows:
        a, b = (d.folder / f"{name}.{fmt}" for d in (whole, chunked))
        if fmt == "csv":
            assert a.read_bytes() == b.read_bytes(), name
        else:
            assert pl.read_parquet(a).equals(pl.read_parquet(b), null_equal=True), name
            assert pl.read_parquet_schema(a) == pl.read_parquet_schema(b)


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "gen"
    args = ["generate", "--users", "400", "--seed", "9", "--out", str(out)]
    assert main(args) == 0
    assert "400 users" in capsys.readouterr().out
    assert (out / "truth.json").is_file() and (out / "devices.parquet").is_file()
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--force", "--format", "csv", "--as-of", "2026-01-31"]) == 0
    assert json.loads((out / "truth.json").read_text())["as_of"] == "2026-01-31"
    assert main([*args, "--force", "--format", "xml"]) == 2
    assert main([*args, "--force", "--as-of", "yesterday"]) == 2


def test_the_documentation_lists_every_case_kind():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "synthetic-data.md").read_text("utf-8")
    for kind in CASE_KINDS:
        assert f"| `{kind.name}` |" in text, kind.name
