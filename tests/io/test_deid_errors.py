"""Bad input and a full disk: one line ``error: <file>: <problem>``, exit 2, and no output at all."""

import errno
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medmllm.io.writers import write_xray_dicom


def good(path):
    return write_xray_dicom(np.linspace(0, 1, 64 * 64).reshape(64, 64), path)


def header_end(data: bytes) -> int:
    """Offset of the first byte after the file meta group (preamble + DICM + group 0002)."""
    group_length = struct.unpack("<I", data[132 + 8:132 + 12])[0]
    return 132 + 12 + group_length


def make_bad(kind, path):
    data = good(path).read_bytes()
    if kind == "cut_in_pixels":
        data = data[:-1000]
    elif kind == "cut_in_header":
        data = data[:header_end(data) + 60]
    elif kind == "header_only":
        data = data[:header_end(data)]
    elif kind == "random_after_magic":
        data = b"\0" * 128 + b"DICM" + np.random.default_rng(len(str(path))).bytes(3000)
    elif kind == "cut_jpeg2000":
        from pydicom.data import get_testdata_file

        data = Path(get_testdata_file("RG1_J2KI.dcm")).read_bytes()[:-3000]
    path.write_bytes(data)
    return path


def leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def one_error_line(r, where):
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}: "), r.err
    return lines[0]


@pytest.mark.parametrize("kind, problem", [
    ("cut_in_pixels", "truncated DICOM file (pixel data is"), ("cut_in_header", ""),
    ("header_only", "DICOM header only"), ("random_after_magic", ""), ("cut_jpeg2000", "truncated DICOM file"),
])
@pytest.mark.parametrize("out_name", ["out.dcm", "out", "out.zip"])
def test_bad_dicom_refused_nothing_written(cli, tmp_path, kind, problem, out_name):
    src_dir = tmp_path / "study"
    src_dir.mkdir()
    good(src_dir / "a.dcm")
    bad = make_bad(kind, src_dir / "b.dcm")
    good(src_dir / "c.dcm")
    src = bad if out_name == "out.dcm" else src_dir
    line = one_error_line(cli("deid", src, tmp_path / out_name), bad)
    assert problem in line and "Traceback" not in line and "internal" not in line
    assert leftovers(tmp_path, {"study"}) == []  # no output, no temporary file or folder
    zin = tmp_path / "in.zip"  # the same file inside a zip: named by the zip and the member
    with zipfile.ZipFile(zin, "w") as zf:
        for f in sorted(src_dir.iterdir()):
            zf.write(f, f"DOE/{f.name}")
    line = one_error_line(cli("deid", zin, tmp_path / out_name), f"{zin}: DOE/b.dcm")
    assert problem in line and leftovers(tmp_path, {"study", "in.zip"}) == []


def test_mutated_files_end_in_success_or_one_line(cli, tmp_path):
    """Bytes flipped anywhere in the header: never an internal error, never a partial output."""
    data = bytearray(good(tmp_path / "x.dcm").read_bytes())
    rng = np.random.default_rng(7)
    end = header_end(bytes(data)) + 400
    codes = []
    for i in range(40):
        mutated = bytearray(data)
        for pos in rng.integers(132, end, size=4):
            mutated[pos] = int(rng.integers(0, 256))
        src, out = tmp_path / f"m{i}.dcm", tmp_path / f"o{i}.dcm"
        src.write_bytes(bytes(mutated))
        r = cli("deid", src, out)
        codes.append(r.code)
        if r.code == 2:
            one_error_line(r, src)
            assert not out.exists()
        else:
            assert r.code == 0, r
            with warnings.catch_warnings():  # a mutated character set is kept as it was: pydicom warns
                warnings.simplefilter("ignore")
                assert pydicom.dcmread(out).PatientIdentityRemoved == "YES"
    assert codes.count(2) >= 5 and codes.count(0) >= 5  # both outcomes happen: the corpus tests both


@pytest.mark.parametrize("out_name, fail_at", [("out.dcm", 1), ("out", 2), ("out.zip", 2)])
def test_full_disk_is_one_line_and_leaves_old_output(cli, tmp_path, monkeypatch, out_name, fail_at):
    src_dir = tmp_path / "study"
    src_dir.mkdir()
    for name in "abc":
        good(src_dir / f"{name}.dcm")
    out = tmp_path / out_name
    src = src_dir / "a.dcm" if out_name == "out.dcm" else src_dir
    assert cli("deid", src, out).code == 0
    before = out.read_bytes() if out.is_file() else sorted(p.read_bytes() for p in out.iterdir())
    calls = {"n": 0}

    def full(original):
        def write(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] >= fail_at:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(*args, **kwargs)
        return write

    monkeypatch.setattr(Path, "write_bytes", full(Path.write_bytes))
    monkeypatch.setattr(zipfile.ZipFile, "writestr", full(zipfile.ZipFile.writestr))
    r = cli("deid", src, out, "--overwrite")
    line = one_error_line(r, out)
    assert line == f"error: {out}: no space left on device; nothing was written"
    monkeypatch.undo()
    after = out.read_bytes() if out.is_file() else sorted(p.read_bytes() for p in out.iterdir())
    assert after == before and leftovers(tmp_path, {"study", out_name}) == []
