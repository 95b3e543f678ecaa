"""Files saved the way people save them, and damaged ones, through `xpg validate`/`xpg detect`:
each either loads as its clean twin does or is refused with a row error (exit 2), never a
traceback (exit 1)."""

from __future__ import annotations

import json

import pytest
from loaders_fixtures import VALID, write_csv

from xpg.cli import main


def test_trailing_blank_lines_are_not_rows(tmp_path, capsys):
    # an editor or Excel leaves an empty last line (``\n\n``, or ``\r\n`` after a CRLF file):
    # it holds no record, so it is no row with an empty user_id
    data = write_csv(tmp_path / "data", users=VALID["users"] + "\n\n",
                     accounts=VALID["accounts"].replace("\n", "\r\n") + "\r\n")
    assert main(["validate", "--data", str(data), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tables"]["users"] == 3 and doc["tables"]["accounts"] == 3
    assert doc["warnings"] == []


def test_a_blank_line_inside_a_table_keeps_the_line_numbers(tmp_path, capsys):
    users = VALID["users"].replace("u1,2026-01-01,700\n", "u1,2026-01-01,700\n\n,,\n")
    data = write_csv(tmp_path / "data", users=users.replace("u3,,", "u3,,x"))
    assert main(["validate", "--data", str(data), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    # the blank line 3 and the record of empty fields on line 4 are no rows; u3 is on line 6
    assert [(f["row"], f["column"], f["rule"]) for f in doc["failures"]] == [
        (6, "credit_score", "invalid_type")]
    assert doc["tables"]["users"] == 3


def test_an_amount_too_large_to_add_up_is_a_row_error(tmp_path, capsys):
    # 1e308 is a float, but the exposure sums amounts in millionths of a yuan in 64-bit
    # integers: it crashed detect (exit 1, a traceback); a huge value is a broken export
    accounts = VALID["accounts"].replace("a1,u1,huabei,5000,", "a1,u1,huabei,1e308,")
    data = write_csv(tmp_path / "data", accounts=accounts)
    assert main(["detect", "--data", str(data), "--out", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err
    assert "accounts (amount_too_large 1)" in err
    assert ("accounts row 2 column credit_limit value '1e308': [amount_too_large] "
            "credit_limit must be at most 10,000,000,000") in err
    assert "Traceback" not in err and not (tmp_path / "f.json").exists()


def test_the_largest_amount_allowed_still_adds_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "states"))
    accounts = VALID["accounts"].replace("a1,u1,huabei,5000,", "a1,u1,huabei,10000000000,")
    loans = VALID["external_loans"].replace("u1,L1,2025-06-01,10000,8000,",
                                            "u1,L1,2025-06-01,10000000000,10000000000,")
    data = write_csv(tmp_path / "data", accounts=accounts, external_loans=loans)
    assert main(["validate", "--data", str(data)]) == 0
    capsys.readouterr()
    assert main(["query", "user", "u1", "--data", str(data), "--format", "json",
                 "--as-of", "2026-01-06"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["exposure"]["total"] == 10_000_000_000 + 1200.5 + 10_000_000_000 - 1200.5


def _findings_doc(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "states"))
    data = write_csv(tmp_path / "data")
    out = tmp_path / "findings.json"
    assert main(["detect", "--data", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    return data, json.loads(out.read_text())


def test_a_hand_edited_findings_document_is_refused_not_a_traceback(tmp_path, monkeypatch,
                                                                    capsys):
    data, doc = _findings_doc(tmp_path, monkeypatch, capsys)
    assert doc["findings"], "the fixture has findings"
    edits = {
        "exposure_text": lambda f: f["exposure"].update(total="lots"),  # was exit 1
        "severity": lambda f: f.update(severity="apocalyptic"),         # was used as written
        "users_text": lambda f: f.update(users=f["users"][0]),          # was read per letter
        "score_nan": lambda f: f.update(score=float("nan")),
        "exposure_null": lambda f: f.update(exposure=None),
    }
    for name, edit in edits.items():
        edited = json.loads(json.dumps(doc))
        edit(edited["findings"][0])
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(edited))
        user = doc["findings"][0]["users"][0]
        code = main(["query", "user", user, "--data", str(data), "--findings", str(path)])
        err = capsys.readouterr().err
        assert code == 2, (name, code, err[-300:])
        assert f"{path} is not a findings document: finding 1 ({doc['findings'][0]['id']})" \
            in err, (name, err)
        assert "Traceback" not in err


def test_a_findings_document_saved_with_a_bom_is_read(tmp_path, monkeypatch, capsys):
    data, doc = _findings_doc(tmp_path, monkeypatch, capsys)
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())  # Windows Notepad's UTF-8
    user = doc["findings"][0]["users"][0]
    assert main(["query", "user", user, "--data", str(data), "--findings", str(path)]) == 0


def test_a_state_that_cannot_be_written_is_a_warning_naming_the_path(tmp_path, monkeypatch,
                                                                      capsys):
    # a full disk under state.dir said "no stored state kept for cold queries (None: None)"
    import xpg.api
    from xpg.errors import StorageError

    def full(self, *a, **k):
        raise StorageError(f"{tmp_path}/states/x: no space left on the device",
                           path=tmp_path / "states/x", errno=28)

    monkeypatch.setattr(xpg.api.Session, "keep_state", full)
    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "states"))
    data = write_csv(tmp_path / "data")
    assert main(["detect", "--data", str(data), "--out", str(tmp_path / "f.json")]) == 0
    err = capsys.readouterr().err
    assert ("warning: no stored state kept for cold queries "
            f"({tmp_path}/states/x: no space left on the device)") in err
    assert "None" not in err


def test_a_full_disk_under_the_case_store_is_a_storage_error(tmp_path, monkeypatch):
    # SQLite's "database or disk is full" was a BackendError (exit 3, "backend unavailable")
    import sqlite3

    from xpg.cases.sqlite import SqliteCaseStore
    from xpg.cli.errors import exit_code
    from xpg.errors import StorageError

    real = sqlite3.connect

    class Full:
        def __init__(self, *a, **k):
            self.db = real(*a, **k)

        def execute(self, sql, *a):
            if sql.startswith("CREATE TABLE"):
                e = sqlite3.OperationalError("database or disk is full")
                e.sqlite_errorcode = sqlite3.SQLITE_FULL
                raise e
            return self.db.execute(sql, *a)

        def close(self):
            self.db.close()

    monkeypatch.setattr(sqlite3, "connect", Full)
    with pytest.raises(StorageError) as info:
        SqliteCaseStore(tmp_path / "reports" / "cases.sqlite")
    assert exit_code(info.value) == 8
    assert str(info.value).startswith(f"{tmp_path}/reports/cases.sqlite: no space left")


def test_an_export_to_a_full_disk_is_a_storage_error(tmp_path, monkeypatch, capsys):
    # --export on a full disk exited 2 ("bad input") with "[Errno 28] ..."
    import errno
    import pathlib

    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "states"))
    data = write_csv(tmp_path / "data")
    real = pathlib.Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".json.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    out = tmp_path / "x.json"
    assert main(["query", "user", "u1", "--data", str(data), "--export", str(out)]) == 8
    err = capsys.readouterr().err
    assert f"{out}: no space left on the device" in err
    assert not out.exists() and not (tmp_path / ".x.json.tmp").exists()
