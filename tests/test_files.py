"""medmllm.files: writes appear whole or not at all, a full disk is one clear error."""

import errno
import os

import pytest

from medmllm.errors import InputError
from medmllm.files import COMPLETE, atomic_dir, atomic_write_text, atomic_write_with, is_complete


def _disk_full(tmp):
    with open(tmp, "wb") as f:
        f.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(os.listdir(target.parent)) == ["a.txt"]


def test_full_disk_keeps_the_old_file_and_says_so(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("precious")
    with pytest.raises(InputError) as e:
        atomic_write_with(target, _disk_full)
    assert str(e.value) == f"{target}: no space left on device; nothing was written"
    assert target.read_text() == "precious"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_dir_marks_complete_and_cleans_up_on_error(tmp_path):
    final = tmp_path / "export"
    with atomic_dir(final, info={"steps": 3}) as tmp:
        (tmp / "w.bin").write_bytes(b"x")
    assert is_complete(final) and '"steps": 3' in (final / COMPLETE).read_text()
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "w.bin").write_bytes(b"new")
            raise RuntimeError("boom")
    assert (final / "w.bin").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == ["export"]
    with pytest.raises(InputError, match="no space left"):
        with atomic_dir(final) as tmp:
            _disk_full(tmp / "w.bin")
    assert (final / "w.bin").read_bytes() == b"x" and sorted(os.listdir(tmp_path)) == ["export"]
