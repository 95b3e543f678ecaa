"""Bounded input (issue 18 item 4): field size, id length, rows per table and the memory a
load needs, each refused with a message that names the setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from loaders_fixtures import VALID, failure_keys, write_csv
from xpg.loaders import load_dataset, validate_dataset
from xpg.loaders.read import TableFile
from xpg.loaders.sources import PEAK_MEMORY_FACTOR, check_memory, estimate_peak, scan_bounds

from xpg.cli import main
from xpg.errors import InputError, ValidationError
from xpg.settings import load_settings

_CHUNK = b"x" * (1 << 20)


def _stream_field(path: Path, header: bytes, size: int) -> None:
    """A file whose second line is one field of ``size`` bytes, written 1 MiB at a time."""
    with open(path, "wb") as fh:
        fh.write(header + b"\n")
        left = size
        while left:
            n = min(left, len(_CHUNK))
            fh.write(_CHUNK[:n])
            left -= n
        fh.write(b"\n")


_CHILD = r"""
import json, re, sys
from pathlib import Path
from xpg.loaders import validate_dataset
v = validate_dataset(sys.argv[1])
print(json.dumps({"valid": v.valid, "keys": v.failures.select("table", "row", "rule").rows(),
                  "message": v.failures["message"][0],
                  # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's
                  # resident size across exec, a large test worker's included)
                  "peak": int(re.search(r"VmHWM:\s+(\d+) kB",
                                        Path("/proc/self/status").read_text())[1]) * 1024}))
"""


def test_a_2_gb_field_is_refused_without_holding_it(tmp_path):
    data = write_csv(tmp_path / "data")
    users = data / "users.csv"
    _stream_field(users, b"user_id", 2 << 30)  # 2 GiB on disk, never in this process
    assert users.stat().st_size > 2 << 30
    out = subprocess.run([sys.executable, "-c", _CHILD, str(data)], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    got = json.loads(out.strip().splitlines()[-1])
    users.unlink()
    assert not got["valid"]
    assert got["keys"][0] == ["users", 2, "unreadable_file"]
    assert got["message"].startswith("users.csv cannot be read as CSV: line 2 has a field of "
                                     "more than 1,048,576 bytes (load.max_field_bytes)")
    assert got["peak"] < 600 << 20  # the process, Polars included: far below the field


def test_a_field_over_a_configured_limit_in_any_column(tmp_path):
    data = write_csv(tmp_path / "data")
    long_name = "n" * 5000
    (data / "products.csv").write_text(f"product_id,kind,name\nhuabei,consumption,{long_name}\n"
                                       "jiebei,loan,\n")
    settings = load_settings(environ={}, overrides={"load.max_field_bytes": 4096})
    v = validate_dataset(data, settings)
    assert failure_keys(v.failures) == [("products", 2, None, "n" * 60 + "...",
                                         "unreadable_file")]
    assert validate_dataset(data).valid  # the default (1 MiB) lets it through


@pytest.mark.parametrize("size, where", [
    (1 << 20, None),  # exactly the limit
    ((1 << 20) + 1, 2),  # one byte more
])
def test_the_field_limit_at_its_boundary_across_chunks(tmp_path, size, where):
    path = tmp_path / "users.csv"
    # the field starts late in the first 16 MiB chunk and ends in the second
    with open(path, "wb") as fh:
        fh.write(b"user_id,note\n")
        for i in range(15):
            fh.write(b"u%d,%s\n" % (i, b"y" * ((1 << 20) - 10)))
        fh.write(b"u99,")
        fh.write(b"z" * size)
        fh.write(b"\n")
    tf = TableFile("users", path, "csv", max_field_bytes=1 << 20)
    problem = scan_bounds(tf)
    if where is None:
        assert problem is None
    else:
        assert problem is not None and problem.line == 17


def test_an_id_longer_than_256_characters_is_a_row_error(tmp_path):
    long_id = "u" * 257
    data = write_csv(tmp_path / "data", users=VALID["users"] + f"{long_id},,\n")
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    assert failure_keys(info.value.failures) == [("users", 5, "user_id", "u" * 100, "too_long")]
    assert info.value.failures["message"][0] == (
        "user_id is 257 characters long, more than load.max_id_length (256); an id that long "
        "is a broken export (the value is shown cut)")
    ok = write_csv(tmp_path / "ok", users=VALID["users"] + f"{'u' * 256},,\n")
    assert load_dataset(ok).dataset.users.height == 4  # 256: allowed
    quarantined = load_dataset(data, quarantine=tmp_path / "q")
    assert quarantined.rejected == 1 and long_id not in quarantined.dataset.users["user_id"]


def test_rows_per_table_are_bounded(tmp_path, capsys):
    data = write_csv(tmp_path / "data")
    cfg = tmp_path / "rows.toml"
    cfg.write_text("[load.per_table.users]\nmax_rows = 2\n")
    assert main(["validate", "--data", str(data), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert ("users.csv cannot be read as CSV: it holds 3 rows, more than load.max_rows "
            "(2); raise it (for this table only: [load.per_table.users] max_rows = 3)") in err
    users = pl.read_csv(data / "users.csv", infer_schema=False)
    (data / "users.csv").unlink()
    users.write_parquet(data / "users.parquet")  # counted from its metadata
    assert main(["validate", "--data", str(data), "--config", str(cfg)]) == 2
    assert "holds 3 rows, more than load.max_rows (2)" in capsys.readouterr().err


def test_a_load_is_refused_when_its_estimate_exceeds_the_cap(tmp_path, capsys):
    data = write_csv(tmp_path / "data")
    pad = "".join(f"u{i},,\n" for i in range(4, 40_000))
    (data / "users.csv").write_text(VALID["users"] + pad)  # about 300 KB: 1.2 MB estimated
    cfg = tmp_path / "cap.toml"
    cfg.write_text("[load]\nmax_memory_mb = 1\n")
    assert main(["validate", "--data", str(data), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "loading this data needs about 1 MB" in err
    assert "more than load.max_memory_mb (1 MB): nothing was read" in err


def test_the_estimate_and_the_memory_available(tmp_path):
    data = write_csv(tmp_path / "data")
    from xpg.loaders.sources import discover

    found = discover(data)
    size = sum(p.stat().st_size for p in data.glob("*.csv"))
    assert estimate_peak(found.found, found.sources) == int(size * PEAK_MEMORY_FACTOR["csv"])
    check_memory(found.found, found.sources, 0, available=10 * size)  # enough
    with pytest.raises(InputError, match=r"more than the memory available \(0 MB\)"):
        check_memory(found.found, found.sources, 0, available=size)
