"""CT series from folders, lists and zips; enhanced multi-frame CT; geometry checks with numbers."""

import zipfile

import numpy as np
import pydicom
import pytest

from medmllm.io import ImageLoadError, load_image
from medmllm.io.writers import write_ct_series


def test_shuffled_series_loads_in_position_order(series_dir, volume):
    names = sorted(p.name for p in series_dir.iterdir())
    by_name = [pydicom.dcmread(series_dir / n).ImagePositionPatient[2] for n in names]
    assert by_name != sorted(by_name)  # file names do not follow the slice order
    img = load_image(series_dir)
    assert img.kind == "ct" and img.source_format == "dicom-series"
    np.testing.assert_array_equal(img.array, volume)
    assert img.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert img.meta["slices"] == volume.shape[0]
    # affine maps voxel (d, h, w) to LPS: origin, +z per slice, +y per row, +x per column
    assert img.affine @ np.array([3, 2, 1, 1.0]) == pytest.approx([-20 + 0.8, -15 + 1.4, 100 + 7.5, 1])


def test_hu_equals_pydicom_per_slice_rescale(tmp_path, volume):
    n = volume.shape[0]
    slopes = [1.0 if i % 2 else 0.5 for i in range(n)]
    intercepts = [-1024.0 - 10 * i for i in range(n)]
    vol = np.rint(volume * 2) / 2  # representable with slope 0.5
    paths = write_ct_series(vol, (2.0, 0.5, 0.5), tmp_path / "s", rescale_slope=slopes, rescale_intercept=intercepts)
    img = load_image(tmp_path / "s")
    for i, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        assert float(ds.RescaleSlope) == slopes[i] and float(ds.RescaleIntercept) == intercepts[i]
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(img.array[i], expected.astype(np.float32))
    np.testing.assert_array_equal(img.array, vol)


def test_spacing_from_positions_not_thickness(series_dir, volume):
    for p in series_dir.iterdir():
        ds = pydicom.dcmread(p)
        ds.SliceThickness = 5.0  # thick slices reconstructed every 2.5 mm: positions decide
        ds.save_as(p)
    img = load_image(series_dir)
    assert img.spacing[0] == pytest.approx(2.5)


def test_list_of_files_and_zip_and_workers(series_dir, volume, tmp_path):
    files = sorted(series_dir.iterdir())
    np.testing.assert_array_equal(load_image(files[::-1]).array, volume)
    zpath = tmp_path / "study.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in files:
            zf.write(f, f"DICOM/S1/{f.name}")
        zf.writestr("README.txt", "not dicom")
    img = load_image(zpath)
    np.testing.assert_array_equal(img.array, volume)
    assert img.source_format == "dicom-series"
    np.testing.assert_array_equal(load_image(series_dir, workers=2).array, volume)


def test_two_series_need_a_choice(tmp_path, volume):
    write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path, series_uid="1.2.3.4.1", description="LUNG")
    for p in write_ct_series(volume[:, :, ::-1] - 5, (2.5, 0.7, 0.8), tmp_path / "b", series_uid="1.2.3.4.2"):
        p.rename(tmp_path / f"b_{p.name}")  # both series side by side in one folder
    (tmp_path / "b").rmdir()
    with pytest.raises(ImageLoadError, match=r"holds 2 series; choose one.*1\.2\.3\.4\.1 .*12 files, LUNG.*1\.2\.3\.4\.2"):
        load_image(tmp_path)
    np.testing.assert_array_equal(load_image(tmp_path, series="1.2.3.4.2").array, volume[:, :, ::-1] - 5)
    np.testing.assert_array_equal(load_image(tmp_path, series="1.2.3.4.1").array, volume)
    with pytest.raises(ImageLoadError, match="no series '9.9'; available"):
        load_image(tmp_path, series="9.9")


def test_gap_is_reported_with_numbers(series_dir):
    for p in series_dir.iterdir():
        if pydicom.dcmread(p).ImagePositionPatient[2] == pytest.approx(100 + 5 * 2.5):
            p.unlink()
    with pytest.raises(ImageLoadError, match=r"gap in the series: about 1 slice\(s\) missing between 110\.00 and "
                                             r"115\.00 mm \(5\.00 mm apart, slice spacing 2\.50 mm\); 11 slices"):
        load_image(series_dir)


def test_duplicate_slice_is_reported(series_dir, tmp_path):
    src = sorted(series_dir.iterdir())[0]
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    ds.save_as(series_dir / "copy.dcm")
    z = float(ds.ImagePositionPatient[2])
    with pytest.raises(ImageLoadError, match=rf"duplicate slices: .* both at {z:.2f} mm along the slice normal"):
        load_image(series_dir)


def test_inconsistent_orientation_and_matrix(series_dir):
    p = sorted(series_dir.iterdir())[3]
    ds = pydicom.dcmread(p)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0.8, -0.6]
    ds.save_as(p)
    with pytest.raises(ImageLoadError, match="ImageOrientationPatient differs between slices"):
        load_image(series_dir)


def test_uneven_spacing(series_dir):
    for p in series_dir.iterdir():
        ds = pydicom.dcmread(p)
        z = float(ds.ImagePositionPatient[2])
        if z > 105:
            ds.ImagePositionPatient = [-20.0, -15.0, z + 0.7]
            ds.save_as(p)
    with pytest.raises(ImageLoadError, match=r"uneven slice spacing: steps from 2\.500 to 3\.200 mm"):
        load_image(series_dir)


def test_feet_first_orientation_is_canonicalised(tmp_path, volume):
    """A series stored with flipped row/column directions loads to the same canonical array."""
    paths = write_ct_series(volume[:, ::-1, ::-1], (2.5, 0.7, 0.8), tmp_path)
    w, h = volume.shape[2], volume.shape[1]
    for p in paths:
        ds = pydicom.dcmread(p)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImageOrientationPatient = [-1, 0, 0, 0, -1, 0]
        ds.ImagePositionPatient = [x + (w - 1) * 0.8, y + (h - 1) * 0.7, z]
        ds.save_as(p)
    img = load_image(tmp_path)
    np.testing.assert_array_equal(img.array, volume)
    assert img.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert img.affine[:3, :3] == pytest.approx(np.array([[0, 0, 0.8], [0, 0.7, 0], [2.5, 0, 0]]))


def test_enhanced_multiframe_ct(tmp_path, volume, enhanced_ct_writer):
    n = volume.shape[0]
    order = list(np.random.default_rng(3).permutation(n))
    slopes = [1.0 if i % 3 else 2.0 for i in range(n)]
    vol = volume.copy()
    for i, s in enumerate(slopes):
        vol[i] = np.rint((vol[i] + 1024) / s) * s - 1024
    path = enhanced_ct_writer(tmp_path / "enh.dcm", vol, (1.25, 0.6, 0.6), slopes=slopes, frame_order=order)
    img = load_image(path)
    assert img.kind == "ct" and img.source_format == "dicom"
    np.testing.assert_array_equal(img.array, vol)
    assert img.spacing == pytest.approx((1.25, 0.6, 0.6))


def test_single_ct_file_in_folder_is_d1(tmp_path, ct_small):
    import shutil

    shutil.copy(ct_small, tmp_path / "only")
    img = load_image(tmp_path)
    assert img.shape == (1, 128, 128) and img.kind == "ct"


def test_non_image_dicom_and_other_files_are_skipped(series_dir, volume, ct_small):
    ds = pydicom.dcmread(ct_small)
    del ds.PixelData
    ds.SeriesInstanceUID = "1.2.3.777"  # e.g. a structured report of the same study
    ds.save_as(series_dir / "report.dcm")
    (series_dir / "notes.txt").write_text("scanner export log")
    np.testing.assert_array_equal(load_image(series_dir).array, volume)
