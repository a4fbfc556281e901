"""Viewer rendering without Gradio: window/level numbers, reslicing orientation, aspect, safe metadata."""

import numpy as np
import pytest

from medmllm.app.viewer import WINDOWS, ct_slice, plane_size, render_ct, render_xray, safe_metadata, window_level


def test_window_level_maps_window_edges_and_middle():
    level, width = WINDOWS["lung"]
    hu = np.array([level - width / 2 - 100, level - width / 2, level, level + width / 2, 3000.0])
    out = window_level(hu, "lung")
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_window_presets_separate_tissues():
    tissues = np.array([-850.0, 40.0, 700.0])  # aerated lung, soft tissue, cortical bone
    lung, med, bone = (window_level(tissues, w) for w in ("lung", "mediastinum", "bone"))
    assert 0 < lung[0] < 128 < lung[1] and lung[2] == 255  # lung window shows lung texture
    assert med[0] == 0 and med[2] == 255 and 100 < med[1] < 156  # soft tissue mid-grey
    assert 0 < bone[2] < 255 and bone[2] > bone[1] > bone[0]  # bone window keeps bone detail
    with pytest.raises(ValueError, match="unknown window"):
        window_level(tissues, "brain2")
    assert window_level(np.array([0.0]), (0.0, 2.0)).tolist() == [128]


def _marked_volume():
    vol = np.full((10, 20, 30), -1000.0, dtype=np.float32)  # (D, H, W)
    vol[9, 0, 0] = 1000.0  # most superior slice, anterior, patient's right
    return vol


def test_reslice_orientation_superior_up_and_indices():
    vol = _marked_volume()
    assert [plane_size(vol.shape, p) for p in ("axial", "coronal", "sagittal")] == [10, 20, 30]
    ax, i = ct_slice(vol, "axial", 9)
    assert ax.shape == (20, 30) and i == 9 and ax[0, 0] == 1000.0  # anterior up, right on the left
    cor, _ = ct_slice(vol, "coronal", 0)
    assert cor.shape == (10, 30) and cor[0, 0] == 1000.0  # superior at the top
    sag, _ = ct_slice(vol, "sagittal", 0)
    assert sag.shape == (10, 20) and sag[0, 0] == 1000.0
    _, clamped = ct_slice(vol, "axial", 99)
    assert clamped == 9
    with pytest.raises(ValueError, match="unknown plane"):
        plane_size(vol.shape, "oblique")


def test_render_ct_square_pixels_in_mm_and_size_bound():
    vol = np.zeros((10, 64, 64), dtype=np.float32)
    # 5 mm slices, 1 mm pixels: the coronal view is 50 mm tall and 64 mm wide -> 50 x 64 pixels
    cor = render_ct(vol, (5.0, 1.0, 1.0), "coronal", 32, "mediastinum", min_side=0)
    assert cor.shape == (50, 64) and cor.dtype == np.uint8
    ax = render_ct(vol, (5.0, 1.0, 1.0), "axial", 5, "lung", min_side=0)
    assert ax.shape == (64, 64)
    assert render_ct(vol, (5.0, 1.0, 1.0), "coronal", 32).shape == (300, 384)  # small views are enlarged
    big = render_ct(np.zeros((4, 1024, 800), np.float32), None, "axial", 0, "lung", max_side=256)
    assert big.shape == (256, 200)


def test_render_xray_gray_and_rgb():
    img = np.linspace(0, 1, 100 * 50, dtype=np.float32).reshape(100, 50)
    out = render_xray(img, min_side=0)
    assert out.shape == (100, 50) and out[0, 0] == 0 and out[-1, -1] == 255
    rgb = render_xray(np.ones((900, 300, 3), np.float32), max_side=300)
    assert rgb.shape == (300, 100, 3)
    assert render_xray(img).shape == (384, 192)
    with pytest.raises(ValueError):
        render_xray(np.zeros((2, 2, 2)))


def test_safe_metadata_drops_identifiers():
    meta = {
        "modality": "CR", "photometric_interpretation": "MONOCHROME1", "rows": 2048,
        "PatientName": "DOE^JANE", "patient_id": "12345", "StudyDate": "20240101", "accession_number": "A1",
        "institution_name": "General Hospital", "series_instance_uid": "1.2.3", "description": "SMITH^JOHN",
        "referring_physician": "Dr X", "window": [40.0, 400.0], "nested": {"PatientName": "x"},
    }
    out = safe_metadata(meta, kind="xray", source_format="dicom", shape=(2048, 1024), spacing=(0.2, 0.2))
    assert out == {"kind": "xray", "format": "dicom", "shape": [2048, 1024], "spacing_mm": [0.2, 0.2],
                   "modality": "CR", "photometric_interpretation": "MONOCHROME1", "rows": 2048,
                   "window": [40.0, 400.0]}
