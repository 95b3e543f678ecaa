"""The stored state's frames derived from what the run already holds, against the Python
construction they replace (the oracle): the findings frames from the report's JSON lines
and index frame, the link rows from one sort and merged runs.

On generated data (frames and objects, with a nightly ring lineage) and on link rows that
repeat a (user, node) with and without a first date.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import polars as pl
import pytest
from detect_fixtures import AS_OF
from xpg.queries.detections import run_detections
from xpg.queries.findings import FindingSequence, encode_finding, findings_document
from xpg.queries.investigate.sources import DEVICE, MemorySource
from xpg.queries.investigate.state import CHECKSUM, _findings_frames
from xpg.queries.polars_hooks import PolarsHooks

from xpg.settings import load_settings
from xpg.synthetic import generate


def _oracle(report):
    """The state's findings frames as the Python loop made them before."""
    fs = list(report.findings)
    detected = []
    for f in fs:
        lineage = f.evidence.get("lineage") if isinstance(f.evidence, Mapping) else None
        ok = isinstance(lineage, Mapping) and lineage.get("detected_id")
        detected.append(str(lineage["detected_id"]) if ok else None)
    found = pl.DataFrame(
        {"id": [f.id for f in fs], "rank": list(range(len(fs))), "type": [f.type for f in fs],
         "severity": [f.severity for f in fs], "members": [len(f.users) for f in fs],
         "detected_id": detected,
         "doc": [json.dumps(f.to_dict(), ensure_ascii=False) for f in fs]},
        schema={"id": pl.String, "rank": pl.Int64, "type": pl.String, "severity": pl.String,
                "members": pl.Int64, "detected_id": pl.String, "doc": pl.String},
    ).sort("id")
    members = pl.DataFrame(
        {"user_id": [u for f in fs for u in f.users],
         "rank": [i for i, f in enumerate(fs) for _ in f.users],
         "pos": [j for f in fs for j in range(len(f.users))],
         "finding_id": [f.id for f in fs for _ in f.users],
         "type": [f.type for f in fs for _ in f.users]},
        schema={"user_id": pl.String, "rank": pl.Int64, "pos": pl.Int64,
                "finding_id": pl.String, "type": pl.String},
    ).sort("user_id", "rank")
    return found, members


@pytest.fixture(scope="module")
def dataset():
    return generate(600, 7).dataset()


@pytest.mark.parametrize("frames", [True, False], ids=["frames", "objects"])
def test_findings_frames_equal_the_python_loop(dataset, frames):
    config = load_settings(environ={}).detection
    report = run_detections(PolarsHooks(dataset), config, AS_OF, frames=frames)
    assert len(report.findings) > 0
    if frames:
        assert isinstance(report.findings, FindingSequence)
        assert any(f is not None for _, _, f in report.findings.parts())
    want, got = _oracle(report), _findings_frames(report)
    assert got[0].equals(want[0]) and got[1].equals(want[1])
    # a nightly report's rings carry the id the detection gave
    carried = tuple(
        dataclasses.replace(f, id=f"c-{f.id}", evidence={**f.evidence, "lineage": {
            "detected_id": f.id}}) if f.type == "ring" else f for f in report.findings)
    night = dataclasses.replace(report, findings=carried)
    want, got = _oracle(night), _findings_frames(night)
    assert got[0].equals(want[0]) and got[1].equals(want[1])
    assert got[0].get_column("detected_id").drop_nulls().len() == sum(
        f.type == "ring" for f in carried)


def test_lines_are_encoded_once_and_match_the_encoder(dataset):
    config = load_settings(environ={}).detection
    report = run_detections(PolarsHooks(dataset), config, AS_OF)
    first = report.lines()
    first.append("not a finding")  # a copy: the report's lines are not changed
    again = report.lines()
    assert again == [encode_finding(f) for f in report.findings]
    assert report.document() == findings_document(report.as_of, again, report.summary)
    assert report.head() == {k: v for k, v in report.to_dict().items() if k != "findings"}
    empty = dataclasses.replace(report, findings=())
    assert empty.index_frame().height == 0 and _findings_frames(empty)[1].height == 0


def _link_rows_oracle(ds):
    rows = pl.concat([
        ds.devices.select("user_id", pl.lit(DEVICE, dtype=pl.String).alias("kind"),
                          pl.col("device_id").alias("value"), "first_seen", "last_seen"),
        ds.identifiers.select("user_id", "kind", "value", "first_seen", "last_seen"),
    ], how="vertical_relaxed")
    return rows.group_by("user_id", "kind", "value").agg(
        pl.when(pl.col("first_seen").null_count() > 0).then(None)
        .otherwise(pl.col("first_seen").min()).alias("first_seen"),
        pl.col("last_seen").max(),
    ).sort("user_id", "kind", "value")


def test_link_rows_equal_the_hash_group_by(dataset):
    source = MemorySource(dataset)
    assert source._links_by_user.frame.equals(_link_rows_oracle(dataset))
    # repeated (user, node) pairs, one of them without a first date
    ids = dataset.identifiers
    repeated = pl.concat([ids, ids.head(40).with_columns(pl.lit(None).alias("first_seen")),
                          ids.slice(100, 30)])
    again = dataclasses.replace(dataset, identifiers=repeated)
    got = MemorySource(again)._links_by_user.frame
    assert got.equals(_link_rows_oracle(again))
    assert got.height == _link_rows_oracle(dataset).height
    undated = got.join(ids.head(40).select("user_id", "kind", "value"),
                       on=["user_id", "kind", "value"], how="semi")
    assert undated.height > 0 and undated.get_column("first_seen").null_count() == undated.height
    nodes = MemorySource(again)._links_by_node.frame
    want = got.select((pl.col("kind") + "\x1f" + pl.col("value")).alias("node"), "kind",
                      "value", "user_id", "first_seen").sort("node", "user_id")
    assert nodes.equals(want)


@pytest.fixture(scope="module")
def mixed():
    return generate(2000, 4, shape="mixed").dataset()


@pytest.mark.parametrize(("shape", "seed"), [("islands", 7), ("islands", 11), ("mixed", 4)],
                         ids=["islands-seed7", "islands-seed11", "mixed-seed4"])
@pytest.mark.parametrize(("kinds", "hub_max", "days_back"), [
    (("device", "phone", "bank_card", "id_number"), 20, 0),
    (("device", "phone", "bank_card", "id_number"), 2, 0),
    (("device",), 3, 0),
    (("device", "phone", "bank_card", "id_number", "ip", "email", "address"), 20, 200),
    (("device", "phone"), 1, 0),
], ids=["default", "hub2", "devices-hub3", "all-kinds-earlier", "hub1"])
def test_groups_from_the_link_graph_equal_those_from_link_rows(
        dataset, mixed, shape, seed, kinds, hub_max, days_back):
    """The state's groups from the kept links' components equal the string path's
    (:func:`~xpg.queries.investigate.group.group_labels` over the sorted link rows)."""
    import datetime as dt

    from xpg.queries.investigate.group import group_labels

    from xpg.linkgraph.links import Links

    ds = mixed if shape == "mixed" else dataset if seed == 7 else generate(600, seed).dataset()
    as_of = AS_OF - dt.timedelta(days=days_back)
    source = MemorySource(ds)
    assert source.linked_groups(as_of, kinds, hub_max) is None
    want = group_labels(source._links_by_user.frame.lazy(), as_of, kinds, hub_max).sort(
        "user_id")
    got = MemorySource(ds, Links(ds)).linked_groups(as_of, kinds, hub_max)
    assert got.equals(want)
    if hub_max > 1:
        assert want.height > 0
    else:
        assert want.height == 0
    # the stored table by group is a stable sort of the table by user
    assert got.sort("group", maintain_order=True).equals(want.sort("group", "user_id"))


@pytest.mark.parametrize("kinds", [("device", "phone", "ip", "ipx", "ip6"), ("dev", "de\x01v", "d"),
                                   ("a", "a\x1fb", "")],
                         ids=["prefix-kinds", "control-char-kind", "separator-in-kind"])
@pytest.mark.parametrize("seed", [3, 8], ids=["seed3", "seed8"])
def test_link_rows_by_node_equal_one_sort_on_the_node_key(kinds, seed):
    """The rows by node, sorted kind by kind, equal one stable sort on the node key (what
    the state wrote before), also where the per-kind path does not hold and falls back."""
    import random

    from xpg.queries.investigate.sources import _by_node

    rnd = random.Random(seed)
    values = ["b", "b\x1fa", "ab", "", "a", "\x1fb", "bb", "é", "e\u0301", "中", "ÿ", "\U0001f600"]
    rows = {(f"u{rnd.randrange(50):02d}", rnd.choice(kinds), rnd.choice(values))
            for _ in range(400)}
    links = pl.DataFrame(sorted(rows), schema=["user_id", "kind", "value"], orient="row"
                         ).with_columns(pl.lit(None, dtype=pl.Datetime("us")).alias("first_seen"))
    want = links.select((pl.col("kind") + "\x1f" + pl.col("value")).alias("node"), "kind",
                        "value", "user_id", "first_seen").sort("node", maintain_order=True)
    assert _by_node(links).equals(want)
    with_null = links.with_columns(pl.when(pl.col("value") == "ab").then(None)
                                   .otherwise(pl.col("value")).alias("value"))
    want = with_null.select((pl.col("kind") + "\x1f" + pl.col("value")).alias("node"), "kind",
                            "value", "user_id", "first_seen").sort("node", maintain_order=True)
    assert _by_node(with_null).equals(want)
    assert _by_node(links.clear()).equals(want.clear())


@pytest.mark.parametrize("seed", [7, 12], ids=["seed7", "seed12"])
def test_link_rows_merged_runs_keep_nulls_as_the_group_by(seed):
    """Repeated (user, node) rows merged by integer reductions: a run whose rows all lack
    ``last_seen`` keeps it null, one row lacking ``first_seen`` makes it null, and the
    latest ``last_seen`` and earliest ``first_seen`` win otherwise (the oracle: the hash
    group-by)."""
    ds = generate(600, seed).dataset()
    ids = ds.identifiers
    undated = ids.slice(10, 25).with_columns(pl.lit(None).alias("last_seen"))
    repeated = pl.concat([
        ids.slice(0, 10), undated, ids.slice(35),
        undated,  # every row of these runs lacks last_seen
        ids.slice(50, 20).with_columns(pl.lit(None).alias("first_seen")),
        ids.slice(80, 20).with_columns(pl.col("last_seen").dt.offset_by("3d"),
                                       pl.col("first_seen").dt.offset_by("-2d")),
    ])
    again = dataclasses.replace(ds, identifiers=repeated)
    got = MemorySource(again)._links_by_user.frame
    want = _link_rows_oracle(again)
    assert got.equals(want)
    merged = got.join(undated.select("user_id", "kind", "value"),
                      on=["user_id", "kind", "value"], how="semi")
    assert merged.height == 25 and merged.get_column("last_seen").null_count() == 25


def test_loans_by_lender_equal_the_three_key_sort(dataset):
    """The loans by lender, re-sorted stably on the lender from the loans by user, are the
    three-key sort of the loans (lender, user, opened_at), rows of equal keys in the loans
    by user's order; also with repeated loans and a loan without a lender."""
    from xpg.queries.investigate.sources import conform

    loans = dataset.external_loans
    repeated = pl.concat([loans, loans.head(25).with_columns(pl.col("amount") + 1),
                          loans.slice(40, 1).with_columns(pl.lit(None, dtype=pl.String)
                                                          .alias("lender_id"))])
    for ds in (dataset, dataclasses.replace(dataset, external_loans=repeated)):
        source = MemorySource(ds)
        got = source._loans_by_lender.frame
        keys = ["lender_id", "user_id", "opened_at"]
        want = conform("loans", ds.external_loans).sort(keys, maintain_order=True)
        assert got.select(keys).equals(want.select(keys))
        assert got.sort(got.columns).equals(want.sort(want.columns))
        assert got.equals(source._loans_by_user.frame.sort("lender_id", maintain_order=True))
        assert source.lender_loans(got.get_column("lender_id").drop_nulls()[0], AS_OF).height


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A generated data folder and the state of its run, written with every sorted table
    kept and again freeing each once written."""
    import xpg.api as api
    from xpg.synthetic import write

    root = tmp_path_factory.mktemp("written")
    write(root / "data", 800, 7)
    with api.open(data=root / "data") as s:
        s.findings()
        kept = s.write_state(root / "kept")
        before = {t for t in MemorySource.SORTED_TABLES if t in s.source.__dict__}
        released = s.write_state(root / "released", release=True)
        after = {t for t in MemorySource.SORTED_TABLES if t in s.source.__dict__}
        again = s.source._links_by_node.frame  # built again on use
        yield kept, released, before, after, again


def test_the_checksums_taken_while_writing_are_the_files(written):
    """The manifest's sizes and SHA-256s, taken from each file's bytes as it was written,
    are those of the folder's files read back (the same names, in the same order)."""
    from xpg.queries.investigate.state import file_checksums

    for st in written[:2]:
        files = st.manifest["files"]
        assert list(files) == list(file_checksums(st.path))
        assert files == file_checksums(st.path)
        st.verify()


def test_a_file_written_without_its_hash_is_hashed_from_disk(tmp_path):
    """A file of the state written without noting its hash (a table added to the writer
    as a plain write) is read back and hashed: the checksums are those of the files."""
    from xpg.queries.investigate.state import _write_parquet, _write_parts, file_checksums

    frame = pl.DataFrame({"user_id": [f"u{i:05d}" for i in range(40_000)]})
    hashes: dict = {}
    _write_parts(frame, tmp_path, "noted", "user_id", hashes)
    _write_parquet(frame.head(5), tmp_path / "plain.parquet")
    assert (tmp_path / "plain.parquet") not in hashes and len(hashes) == 2
    assert file_checksums(tmp_path, hashes=hashes) == file_checksums(tmp_path)


def test_a_state_written_freeing_its_tables_is_the_same_state(written):
    """Freeing each sorted table once written (what `xpg detect` and `xpg report` do)
    changes no byte of the state, holds none of them after, and a later lookup builds
    them again (the same rows)."""
    kept, released, before, after, again = written
    assert {k: v[CHECKSUM] for k, v in kept.manifest["files"].items()} == {
        k: v[CHECKSUM] for k, v in released.manifest["files"].items()}
    assert kept.manifest["parts"] == released.manifest["parts"]
    assert before >= {"_users", "_links_by_user", "_links_by_node", "_loans_by_lender"}
    assert not after & set(MemorySource.SORTED_TABLES) - {"_events_by_user"}
    stored = pl.concat([pl.read_parquet(p) for p in released.parts("links_by_node")])
    assert again.equals(stored)


def test_forget_names_only_sorted_tables(dataset):
    source = MemorySource(dataset)
    assert source._users.frame.height
    source.forget("_users", "_accounts")  # one built, one not: both fine
    assert "_users" not in source.__dict__
    with pytest.raises(ValueError, match="not a sorted table"):
        source.forget("dataset")
