"""De-identification of cine DICOMs: headers cleaned, burned-in text flagged, regions masked on every frame."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medmllm.io import load_image
from medmllm.io.phi import BURNED_IN_MESSAGES
from medmllm.io.video_writers import write_cine_dicom


def _clip(t=6, h=24, w=32):
    return np.random.default_rng(1).integers(40, 256, size=(t, h, w)) / 255.0


def test_cine_header_cleaned_and_burned_in_text_flagged(cli, tmp_path, fake_patient):
    patient, identifiers = fake_patient
    src = write_cine_dicom(_clip(), tmp_path / "echo.dcm", modality="US", patient=patient)
    out = tmp_path / "anon.dcm"
    r = cli("deid", src, out)
    assert r.code == 0, r
    assert f"warning: {out}: {BURNED_IN_MESSAGES['likely']}" in r.err
    assert "1 file(s) flagged for burned-in annotation" in r.out
    raw = out.read_bytes()
    for ident in identifiers:
        assert ident.encode() not in raw, ident
    before, after = load_image(src), load_image(out)
    assert after.kind == "video" and after.meta["fps"] == pytest.approx(before.meta["fps"])
    np.testing.assert_array_equal(after.array, before.array)  # pixels untouched without --mask


def test_mask_blacks_out_a_region_on_every_frame(cli, tmp_path):
    frames = _clip()
    src = write_cine_dicom(frames, tmp_path / "echo.dcm", modality="US", burned_in="YES")
    out = tmp_path / "anon.dcm"
    r = cli("deid", src, out, "--mask", "0,0,32,5", "--mask", "20,10,4,4")
    assert r.code == 0, r
    assert "2 region(s) masked on 6 frame(s)" in r.err and BURNED_IN_MESSAGES["YES"] in r.err
    got = pydicom.dcmread(out).pixel_array  # (T, H, W)
    keep = np.ones(got.shape[1:], bool)
    keep[0:5, :] = False
    keep[10:14, 20:24] = False
    assert (got[:, ~keep] == 0).all()
    np.testing.assert_array_equal(got[:, keep], np.rint(frames * 255).astype(np.uint8)[:, keep])


def test_mask_on_a_jpeg_baseline_ybr_clip_stores_it_uncompressed_rgb(cli, tmp_path):
    src = get_testdata_file("examples_ybr_color.dcm")
    out = tmp_path / "anon.dcm"
    assert cli("deid", src, out, "--mask", "0,0,320,30").code == 0
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "RGB" and int(ds.NumberOfFrames) == 30
    img = load_image(out)
    assert img.kind == "video" and (img.array[:, :30] == 0).all() and img.array[:, 30:].max() > 0.5


def test_bad_mask_is_one_line(cli, assert_error, tmp_path):
    src = write_cine_dicom(_clip(), tmp_path / "echo.dcm", modality="US")
    r = cli("deid", src, tmp_path / "a.dcm", "--mask", "0,0,0,5")
    assert r.code == 2 and "expected X,Y,WIDTH,HEIGHT" in r.err
    assert_error(cli("deid", src, tmp_path / "b.dcm", "--mask", "100,0,5,5"), src, "lies outside the 32 x 24 image")
    assert not (tmp_path / "b.dcm").exists()
