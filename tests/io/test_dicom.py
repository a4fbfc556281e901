"""Single DICOM files: real CT slices and chest radiographs from pydicom / pydicom-data, written X-rays."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medmllm.io import ImageLoadError, load_image
from medmllm.io.writers import write_xray_dicom


@pytest.mark.parametrize("name", ["CT_small.dcm", "693_UNCR.dcm"])
def test_ct_slice_is_hu_of_pydicom(name):
    path = get_testdata_file(name)
    img = load_image(path)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert img.kind == "ct" and img.source_format == "dicom"
    assert img.array.dtype == np.float32 and img.array.shape == (1, ds.Rows, ds.Columns)
    # axial IOP [1,0,0,0,1,0] is already canonical: no flip, values equal pydicom's own HU
    np.testing.assert_array_equal(img.array[0], expected.astype(np.float32))
    ps = [float(v) for v in ds.PixelSpacing]
    assert img.spacing == pytest.approx((float(ds.SliceThickness), ps[0], ps[1]))
    assert img.affine[:3, 3] == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert img.meta["slices"] == 1 and img.meta["modality"] == "CT"


def test_ct_small_values():
    img = load_image(get_testdata_file("CT_small.dcm"))
    assert img.array.min() == -896.0 and img.array.max() == 1167.0


def test_rg1_monochrome1_is_inverted_lungs_dark(rg1_paths):
    img = load_image(rg1_paths[0])
    a = img.array
    assert img.kind == "xray" and a.shape == (1955, 1841) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert img.meta["photometric"] == "MONOCHROME1" and img.meta["inverted"] is True
    assert img.meta["voi"] == "window"
    h, w = a.shape
    # PA chest: lungs left and right of the midline at mid height; mediastinum/spine in the middle
    right_lung = a[int(h * 0.30):int(h * 0.45), int(w * 0.20):int(w * 0.35)].mean()
    left_lung = a[int(h * 0.30):int(h * 0.45), int(w * 0.65):int(w * 0.80)].mean()
    mediastinum = a[int(h * 0.30):int(h * 0.60), int(w * 0.46):int(w * 0.54)].mean()
    assert right_lung < mediastinum - 0.15 and left_lung < mediastinum - 0.15
    # the stored values run the other way: without inversion the lungs would be the bright part
    raw = pydicom.dcmread(rg1_paths[0]).pixel_array.astype(float)
    assert raw[int(h * 0.30):int(h * 0.45), int(w * 0.20):int(w * 0.35)].mean() > raw[
        int(h * 0.30):int(h * 0.60), int(w * 0.46):int(w * 0.54)].mean()
    # window 15000/30000 over 15 bits, inverted: value = 1 - stored / 30000 (clipped)
    i, j = 1000, 900
    assert a[i, j] == pytest.approx(1 - min(raw[i, j], 30000) / 30000, abs=1e-3)


def test_rg1_jpeg2000_matches_uncompressed(rg1_paths):
    unc, j2k = (load_image(p) for p in rg1_paths)
    assert j2k.meta["transfer_syntax"].startswith("JPEG 2000")
    assert j2k.shape == unc.shape
    diff = np.abs(unc.array - j2k.array)
    assert diff.mean() < 0.003 and np.corrcoef(unc.array.ravel(), j2k.array.ravel())[0, 1] > 0.999


def test_missing_decoder_names_package(rg1_paths, monkeypatch):
    import pydicom.pixels

    class NoDecoder:
        is_available = False
        available_plugins = ()

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda ts: NoDecoder())
    with pytest.raises(ImageLoadError, match="pip install pylibjpeg pylibjpeg-openjpeg"):
        load_image(rg1_paths[1])


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize("modality", ["CR", "DX"])
def test_written_xray_round_trip(tmp_path, photometric, modality):
    rng = np.random.default_rng(1)
    image = rng.random((64, 48))
    path = write_xray_dicom(image, tmp_path / "x.dcm", photometric=photometric, modality=modality,
                            pixel_spacing=(0.15, 0.16), bits=12)
    img = load_image(path)
    assert img.kind == "xray" and img.spacing == (0.15, 0.16)
    np.testing.assert_allclose(img.array, image, atol=0.5 / 4095 + 1e-6)
    assert img.meta["inverted"] is (photometric == "MONOCHROME1")


def test_percentile_window_without_voi(tmp_path):
    rng = np.random.default_rng(2)
    image = 0.2 + 0.5 * rng.random((80, 80))  # uses only part of the 12-bit range
    path = write_xray_dicom(image, tmp_path / "x.dcm")
    ds = pydicom.dcmread(path)
    del ds.WindowCenter, ds.WindowWidth
    ds.save_as(path)
    img = load_image(path)
    assert img.meta["voi"].startswith("percentile")
    # stretched to the 0.5-99.5 percentiles: about 0.5% of pixels at each end saturate
    assert (img.array == 0).mean() == pytest.approx(0.005, abs=0.003)
    assert (img.array == 1).mean() == pytest.approx(0.005, abs=0.003)
    assert np.corrcoef(img.array.ravel(), image.ravel())[0, 1] > 0.99


def test_kind_image_gives_rgb(tmp_path):
    path = write_xray_dicom(np.linspace(0, 1, 30 * 20).reshape(30, 20), tmp_path / "x.dcm")
    img = load_image(path, kind="image")
    assert img.kind == "image" and img.shape == (30, 20, 3)
    np.testing.assert_array_equal(img.array[..., 0], img.array[..., 2])


def test_meta_holds_no_identifiers(tmp_path, fake_patient):
    import json

    patient, identifiers = fake_patient
    path = write_xray_dicom(np.full((16, 16), 0.5), tmp_path / "x.dcm", patient=patient)
    ds = pydicom.dcmread(path)
    ds.SeriesDescription = "CHEST PA Doe Johnathan MRN-99887766"
    ds.save_as(path)
    meta = json.dumps(load_image(path).meta)
    assert "CHEST PA" in meta
    for value in identifiers:
        assert value.lower() not in meta.lower(), value


def test_voi_lut_sequence(tmp_path):
    """A VOI LUT (12-bit values in a 16-bit descriptor, a common quirk) maps through its real range."""
    image = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    path = write_xray_dicom(image, tmp_path / "x.dcm")
    ds = pydicom.dcmread(path)
    item = pydicom.Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    lut = np.sqrt(np.arange(4096) / 4095) * 4095  # a gamma curve
    item.add_new(0x00283006, "OW", np.rint(lut).astype("<u2").tobytes())  # LUT Data
    ds.VOILUTSequence = [item]
    ds.save_as(path)
    img = load_image(path)
    assert img.meta["voi"] == "lut"
    np.testing.assert_allclose(img.array, np.sqrt(image), atol=2e-3)


def test_content_decides_not_extension_and_no_preamble(tmp_path, ct_small):
    ds = pydicom.dcmread(ct_small)
    odd = tmp_path / "slice.png"
    ds.save_as(odd)
    assert load_image(odd).kind == "ct"
    bare = tmp_path / "bare"
    raw = open(ct_small, "rb").read()
    meta_len = 132 + 12 + int.from_bytes(raw[140:144], "little")  # preamble + DICM + group 0002
    bare.write_bytes(raw[meta_len:])  # dataset only, as some old systems write it
    np.testing.assert_array_equal(load_image(bare).array, load_image(ct_small).array)
