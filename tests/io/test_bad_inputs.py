"""Every bad input: exit code 2 and exactly one line ``error: <path>: <problem>`` from ``medmllm inspect``."""

import os
import shutil
import stat
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file

from medmllm.io.writers import write_ct_series, write_nifti, write_png


def test_not_found(cli, assert_error, tmp_path):
    p = tmp_path / "missing.dcm"
    assert_error(cli("inspect", p), p, "file not found")


def test_empty_file(cli, assert_error, tmp_path):
    p = tmp_path / "empty.dcm"
    p.write_bytes(b"")
    assert_error(cli("inspect", p), p, "empty file")


def test_not_an_image(cli, assert_error, tmp_path):
    p = tmp_path / "notes.dcm"
    p.write_text("Patient notes, not an image\n" * 20)
    assert_error(cli("inspect", p), p, "not a medical image")


def test_dicom_without_pixel_data(cli, assert_error, tmp_path, ct_small):
    ds = pydicom.dcmread(ct_small)
    del ds.PixelData
    p = tmp_path / "nopixels.dcm"
    ds.save_as(p)
    assert_error(cli("inspect", p), p, "DICOM file without pixel data", "CT Image Storage")


@pytest.mark.parametrize("name", ["CT_small.dcm", "RG1_J2KI.dcm"])
def test_truncated_dicom(cli, assert_error, tmp_path, name):
    data = open(get_testdata_file(name), "rb").read()
    p = tmp_path / f"cut_{name}"
    p.write_bytes(data[: len(data) // 2])
    assert_error(cli("inspect", p), p, "truncated DICOM file")


def test_truncated_slice_in_series(cli, assert_error, series_dir):
    victim = sorted(series_dir.iterdir())[2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 700])
    assert_error(cli("inspect", series_dir), victim, "truncated DICOM file")


def test_truncated_nifti(cli, assert_error, tmp_path, volume):
    src = write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / "ct.nii.gz")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    assert_error(cli("inspect", src), src, "truncated or corrupt NIfTI")


def test_truncated_png(cli, assert_error, tmp_path):
    src = write_png(np.random.default_rng(0).random((64, 64)), tmp_path / "x.png")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    assert_error(cli("inspect", src), src, "truncated or corrupt PNG")


def test_4d_volume(cli, assert_error):
    p = os.path.join(data_path, "example4d.nii.gz")
    assert nib.load(p).ndim == 4
    assert_error(cli("inspect", p), p, "4D volume (shape (128, 96, 24, 2)) is not supported")


def test_nan_and_inf_values(cli, assert_error, tmp_path):
    data = np.zeros((8, 8, 4), dtype=np.float32)
    data[1, 2, 3], data[0, 0, 0] = np.nan, np.inf
    p = tmp_path / "nan.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), p)
    assert_error(cli("inspect", p), p, "non-finite values (1 NaN, 1 inf)")


def test_decoded_size_over_limit(cli, assert_error, rg1_paths):
    p = rg1_paths[0]
    assert_error(cli("inspect", p, "--max-bytes", "1M"), p, "decoded size 13.7 MiB (1955 x 1841 x 1 voxels)",
                 "over the limit of 1.0 MiB")


def test_series_size_over_limit(cli, assert_error, series_dir):
    assert_error(cli("inspect", series_dir, "--max-bytes", "64K"), series_dir, "decoded size 90.0 KiB")


def _zip_with(tmp_path, entries):
    p = tmp_path / "bad.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return p


@pytest.mark.parametrize("entry", ["../../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "ok/../../evil.dcm"])
def test_zip_slip(cli, assert_error, tmp_path, entry, ct_small):
    p = _zip_with(tmp_path, [("a.dcm", open(ct_small, "rb").read()), (entry, b"x")])
    assert_error(cli("inspect", p), p, "escapes the extraction folder")
    assert not (tmp_path.parent / "evil.dcm").exists()


def test_zip_symlink_entry(cli, assert_error, tmp_path):
    info = zipfile.ZipInfo("link.dcm")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    p = _zip_with(tmp_path, [(info, "/etc/passwd")])
    assert_error(cli("inspect", p), p, "symbolic link")


def test_zip_bomb_size(cli, assert_error, tmp_path):
    p = _zip_with(tmp_path, [("big.dcm", b"\0" * (3 * 1024 * 1024))])
    assert p.stat().st_size < 20_000
    assert_error(cli("inspect", p, "--max-bytes", "1M"), p, "zip would expand to 3.0 MiB", "zip bomb")


def test_zip_too_many_entries(cli, assert_error, tmp_path):
    p = _zip_with(tmp_path, [(f"f{i}.dcm", b"x") for i in range(8)])
    assert_error(cli("inspect", p, "--max-files", "5"), p, "zip holds 8 entries, more than the limit of 5")


def test_corrupt_zip(cli, assert_error, tmp_path, series_dir):
    p = tmp_path / "s.zip"
    shutil.make_archive(str(tmp_path / "s"), "zip", series_dir)
    p.write_bytes(p.read_bytes()[:2000])
    assert_error(cli("inspect", p), p, "zip")


def test_zip_entry_errors_name_the_entry(cli, assert_error, tmp_path, series_dir):
    victim = sorted(series_dir.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-700])
    p = tmp_path / "s.zip"
    shutil.make_archive(str(tmp_path / "s"), "zip", series_dir)
    assert_error(cli("inspect", p), p, f"zip entry '{victim.name}': truncated DICOM file")


def test_folder_without_dicom(cli, assert_error, tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    assert_error(cli("inspect", tmp_path), tmp_path, "holds no DICOM files")


def test_two_series_without_choice(cli, assert_error, tmp_path, volume):
    write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "a", series_uid="1.2.3.1")
    write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "b", series_uid="1.2.3.2")
    # the advice names options that exist in every command that reads images: inspect's --series and
    # a manifest image's "series" field (generate --data, evaluate, train, validate-data)
    assert_error(cli("inspect", tmp_path), tmp_path, "holds 2 series; choose one by SeriesInstanceUID or SeriesNumber "
                 '(inspect --series UID; in a manifest, the image\'s "series" field', "1.2.3.1 (#1, 12 files",
                 "1.2.3.2 (#1, 12 files")
    r = cli("inspect", tmp_path, "--series", "1.2.3.2", "--json")
    assert r.code == 0


def test_gap_and_duplicate(cli, assert_error, series_dir):
    files = sorted(series_dir.iterdir())
    shutil.copy(files[0], series_dir / "dup.dcm")
    assert_error(cli("inspect", series_dir), series_dir, "duplicate slices")
    (series_dir / "dup.dcm").unlink()
    middle = next(f for f in files if float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) == 115.0)
    middle.unlink()
    assert_error(cli("inspect", series_dir), series_dir, "gap in the series", "between 112.50 and 117.50 mm")
