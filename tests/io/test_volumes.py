"""NIfTI and NRRD volumes: canonical axes, LPS vs RAS storage, equality with the DICOM series."""

import os
import shutil

import nibabel as nib
import nrrd
import numpy as np
import pytest
from nibabel.testing import data_path

from medmllm.io import load_image
from medmllm.io.writers import default_affine_lps, write_ct_series, write_nifti


def test_dicom_series_and_nifti_load_the_same(tmp_path, volume):
    write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "dcm", origin=(-20, -15, 100))
    aff = default_affine_lps((2.5, 0.7, 0.8), origin=(-20, -15, 100))
    write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / "ct.nii.gz", affine_lps=aff)
    a, b = load_image(tmp_path / "dcm"), load_image(tmp_path / "ct.nii.gz")
    assert b.source_format == "nifti" and b.kind == "ct"
    np.testing.assert_array_equal(a.array, b.array)
    assert a.spacing == pytest.approx(b.spacing)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-5)


def test_lps_and_ras_nifti_give_the_same_array(tmp_path, volume):
    lps = write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / "lps.nii")
    assert nib.aff2axcodes(nib.load(lps).affine) == ("L", "P", "S")
    ras = nib.as_closest_canonical(nib.load(lps))  # same scan stored RAS+: data flipped on two axes
    assert nib.aff2axcodes(ras.affine) == ("R", "A", "S")
    nib.save(ras, tmp_path / "ras.nii.gz")
    a, b = load_image(lps), load_image(tmp_path / "ras.nii.gz")
    assert b.meta["stored_orientation"] == "RAS" and a.meta["stored_orientation"] == "LPS"
    np.testing.assert_array_equal(a.array, volume)
    np.testing.assert_array_equal(b.array, volume)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-5)


def test_nibabel_example_file_reoriented():
    path = os.path.join(data_path, "anatomical.nii")
    ref = nib.load(path)
    assert nib.aff2axcodes(ref.affine) == ("L", "A", "S")
    img = load_image(path)
    data = ref.get_fdata(dtype=np.float32)  # (i: ->L, j: ->A, k: ->S)
    expected = np.transpose(data, (2, 1, 0))[:, ::-1, :]  # (S, P, L)
    np.testing.assert_array_equal(img.array, expected)
    assert img.spacing == pytest.approx(tuple(ref.header.get_zooms()[::-1]))
    # the affine still maps each voxel to its place: voxel (d, h, w) is nibabel voxel (w, H-1-h, d)
    d, h, w = 5, 7, 9
    ras = ref.affine @ np.array([w, ref.shape[1] - 1 - h, d, 1.0])
    assert img.affine @ np.array([d, h, w, 1.0]) == pytest.approx(np.diag([-1, -1, 1, 1]) @ ras)


def test_content_not_extension_decides(tmp_path, volume):
    src = write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / "ct.nii.gz")
    odd = tmp_path / "scan.dat"
    shutil.copy(src, odd)
    np.testing.assert_array_equal(load_image(odd).array, volume)


def test_nifti_scaling_applied(tmp_path, volume):
    data = np.transpose(volume, (2, 1, 0))
    stored = np.rint((data + 1024) / 0.5).astype(np.int16)
    img = nib.Nifti1Image(stored, np.diag([-0.8, -0.7, 2.5, 1.0]))
    img.header.set_slope_inter(0.5, -1024)
    nib.save(img, tmp_path / "scaled.nii")
    np.testing.assert_allclose(load_image(tmp_path / "scaled.nii").array, np.rint((volume + 1024) * 2) / 2 - 1024)


@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior"])
def test_nrrd_spaces(tmp_path, volume, space):
    data = np.transpose(volume, (2, 1, 0))  # (x, y, z) index order
    dirs = np.diag([0.8, 0.7, 2.5])
    if space.startswith("right"):  # the same scan stored RAS+: first two index axes run the other way
        data = data[::-1, ::-1, :]
    header = {"space": space, "space directions": dirs, "space origin": np.zeros(3), "encoding": "gzip"}
    nrrd.write(str(tmp_path / "ct.nrrd"), np.ascontiguousarray(data.astype(np.int16)), header, index_order="F")
    img = load_image(tmp_path / "ct.nrrd")
    assert img.source_format == "nrrd" and img.kind == "ct"
    np.testing.assert_array_equal(img.array, volume)
    assert img.spacing == pytest.approx((2.5, 0.7, 0.8))
