"""Whole-or-nothing folders and files, with the permissions of anything newly made."""

from __future__ import annotations

import os
import stat

import pytest

from xpg.atomic import staging, write_text_atomic


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_staged_folder_has_the_permissions_of_a_new_folder(tmp_path, umask):
    target = tmp_path / "out"
    with staging(target) as tmp:
        assert mode(tmp) == 0o777 & ~umask  # not mkdtemp's 0o700
        (tmp / "a.txt").write_text("a")
    assert mode(target) == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failed_staging_leaves_the_target_alone(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staging(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("half way")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_write_text_atomic_has_the_permissions_of_a_new_file(tmp_path, umask):
    path = tmp_path / "findings.json"
    write_text_atomic(path, "{}\n")
    assert path.read_text() == "{}\n"
    assert mode(path) == 0o666 & ~umask  # not mkstemp's 0o600


def test_write_text_atomic_replaces_and_writes_the_text_as_given(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("old and longer\n")
    write_text_atomic(path, "a\r\nb")  # no newline added, none translated
    assert path.read_bytes() == b"a\r\nb"
    write_text_atomic(path, "é", encoding="utf-8")
    assert path.read_bytes() == "é".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_write_text_atomic_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "half \udcff")  # fails while writing
    assert path.read_text() == "old"
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path / "folder", "x")  # fails at the rename
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "missing" / "t.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "t.txt"]
