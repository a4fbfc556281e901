"""Headers that parse but hold impossible values, and awkward file names: one line ``error: <path>: ...``, exit 2
(or, where the content is fine, a tested success). Every input is built here."""

import json
import os
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medmllm.io import load_image
from medmllm.io.writers import write_ct_series

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR DS")  # the tests plant those values


def _dicom_with(tmp_path, ct_small, name="bad.dcm", **values):
    ds = pydicom.dcmread(ct_small)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = tmp_path / name
    ds.save_as(path)
    return path


@pytest.mark.parametrize("keyword, value, shown", [
    ("RescaleSlope", "NaN", "RescaleSlope is nan"),
    ("RescaleSlope", "Inf", "RescaleSlope is inf"),
    ("RescaleIntercept", "-Inf", "RescaleIntercept is -inf"),
    ("RescaleIntercept", "NaN", "RescaleIntercept is nan"),
    ("ImagePositionPatient", ["0", "NaN", "0"], "ImagePositionPatient is nan"),
    ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0], "ImageOrientationPatient [1.0, 0.0, 0.0, 1.0, 0.0, 0.0] has parallel"),
])
def test_dicom_slice_with_impossible_numbers(cli, assert_error, tmp_path, ct_small, keyword, value, shown):
    path = _dicom_with(tmp_path, ct_small, **{keyword: value})
    assert_error(cli("inspect", path), path, shown, "finite" if "parallel" not in shown else "zero directions")


def test_nan_rescale_in_one_slice_of_a_series(cli, assert_error, tmp_path, volume):
    files = write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "s")
    victim = files[5]
    ds = pydicom.dcmread(victim)
    ds.RescaleSlope = "NaN"
    ds.save_as(victim)
    assert_error(cli("inspect", tmp_path / "s"), victim, "RescaleSlope is nan")


def test_nan_position_in_one_slice_of_a_series(cli, assert_error, tmp_path, volume):
    files = write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "s")
    ds = pydicom.dcmread(files[3])
    ds.ImagePositionPatient = ["0", "0", "NaN"]
    ds.save_as(files[3])
    assert_error(cli("inspect", tmp_path / "s"), files[3], "ImagePositionPatient is nan")


def test_nan_slope_in_one_frame_of_an_enhanced_ct(cli, assert_error, tmp_path, volume, enhanced_ct_writer):
    path = enhanced_ct_writer(tmp_path / "enh.dcm", volume, (2.5, 0.7, 0.8))
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence[4].PixelValueTransformationSequence[0].RescaleSlope = "NaN"
    ds.save_as(path)
    assert_error(cli("inspect", path), path, "RescaleSlope of frame 5 is nan")


@pytest.mark.parametrize("pixdim, qform, sform, axis, size", [
    ((0.0, 1.0, 1.0), 0, 0, 1, "0"),    # no qform/sform: the affine is the voxel sizes
    ((1.0, 0.0, 1.0), 1, 0, 2, "0"),    # qform spacing
    ((1.0, 1.0, 0.0), 1, 1, 3, "0"),    # even with an sform
    ((1.0, float("nan"), 1.0), 1, 0, 2, "nan"),
])
def test_nifti_zero_or_nan_voxel_size(cli, assert_error, tmp_path, nifti_header, pixdim, qform, sform, axis, size):
    path = tmp_path / "zero.nii"
    path.write_bytes(nifti_header((6, 5, 4), np.int16, pixdim, qform, sform) + np.zeros(120, np.int16).tobytes())
    if size == "0":  # nibabel alone "repairs" it to 1 mm without a word: refused before that
        assert nib.load(path).header.get_zooms()[axis - 1] == 1.0
    assert_error(cli("inspect", path), path, f"NIfTI voxel size along axis {axis} is {size}",
                 "finite, non-zero voxel sizes")


@pytest.mark.parametrize("shape, shown", [((1, 1, 1), "1 x 1 x 1 voxels is not an image"),
                                          ((1, 7, 1), "1 x 7 x 1 voxels is not an image"),
                                          ((9,), "volume of shape (9,) is not an image")])
def test_nifti_too_small_to_be_an_image(cli, assert_error, tmp_path, nifti_header, shape, shown):
    path = tmp_path / "tiny.nii"
    path.write_bytes(nifti_header(shape, np.int16) + np.ones(shape, np.int16).tobytes())
    assert_error(cli("inspect", path), path, shown)


def test_nifti_with_rgb_voxels_is_refused(cli, assert_error, tmp_path):
    path = tmp_path / "rgb.nii"
    rgb = np.zeros((4, 4, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), path)
    assert_error(cli("inspect", path), path, "NIfTI data type", "not supported")


@pytest.mark.parametrize("source", ["ct.nii", "ct.nii.gz"])
def test_nifti_named_dcm_loads_by_content(cli, tmp_path, volume, source):
    """A NIfTI called ``.dcm`` is a NIfTI: the content decides (documented), plain or gzip."""
    from medmllm.io.writers import write_nifti

    real = write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / source)
    odd = tmp_path / "scan.dcm"
    shutil.copy(real, odd)
    img = load_image(odd)
    assert img.source_format == "nifti" and img.kind == "ct"
    np.testing.assert_array_equal(img.array, load_image(real).array)
    r = cli("inspect", odd, "--json")
    assert r.code == 0 and json.loads(r.out)["shape"] == list(volume.shape)


def _non_utf8(tmp_path, stem: bytes, suffix: str) -> str:
    name = os.fsdecode(stem + b"\xff\xfe" + suffix.encode())
    path = os.path.join(os.fspath(tmp_path), name)
    try:
        open(path, "wb").close()
    except (OSError, UnicodeEncodeError):  # file systems that only take UTF-8 names (macOS)
        pytest.skip("this file system refuses non-UTF-8 file names")
    return path


def test_non_utf8_names_load_and_print(cli, tmp_path, ct_small):
    path = _non_utf8(tmp_path, b"scan", ".dcm")
    shutil.copy(ct_small, path)
    preview = _non_utf8(tmp_path, b"preview", ".png")
    r = cli("inspect", path, "--json", "--preview", preview)
    assert r.code == 0, r
    out = json.loads(r.out)
    assert out["shape"] == [1, 128, 128] and out["preview"].endswith("preview\\xff\\xfe.png")
    r.out.encode("utf-8")  # a UTF-8 writer takes it (a lone surrogate would raise here)


def test_non_utf8_names_in_errors(cli, assert_error, tmp_path, volume):
    bad = _non_utf8(tmp_path, b"notes", ".dcm")
    with open(bad, "w") as f:
        f.write("not an image\n" * 10)
    r = cli("inspect", bad)
    assert_error(r, bad, "not a medical image")
    assert "notes\\xff\\xfe.dcm" in r.err and "\udcff" not in r.err
    files = write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "s")
    dup = os.path.join(os.fspath(tmp_path / "s"), os.fsdecode(b"copy\xff.dcm"))
    shutil.copy(files[0], dup)
    r = cli("inspect", tmp_path / "s")
    assert_error(r, tmp_path / "s", "duplicate slices", "copy\\xff.dcm")
    r.err.encode("utf-8")
