"""``medmllm inspect``: JSON facts of the loaded array, human output, preview PNGs."""

import json

import numpy as np
import pytest
from PIL import Image

from medmllm.io import load_image
from medmllm.io.writers import write_ct_series, write_png

REQUIRED = {"kind", "source_format", "modality", "shape", "spacing", "dtype", "min", "max", "photometric", "slices"}


def test_json_ct_small(cli, ct_small):
    r = cli("inspect", ct_small, "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert REQUIRED <= set(info)
    assert {k: info[k] for k in REQUIRED} == {
        "kind": "ct", "source_format": "dicom", "modality": "CT", "shape": [1, 128, 128],
        "spacing": [5.0, 0.661468, 0.661468], "dtype": "float32", "min": -896.0, "max": 1167.0,
        "photometric": "MONOCHROME2", "slices": 1,
    }


def test_json_xray_matches_loaded_array(cli, rg1_paths):
    r = cli("inspect", rg1_paths[0], "--json")
    info = json.loads(r.out)
    arr = load_image(rg1_paths[0]).array
    assert info["kind"] == "xray" and info["photometric"] == "MONOCHROME1" and info["slices"] is None
    assert info["shape"] == [1955, 1841] and info["spacing"] is None and info["modality"] == "CR"
    assert info["min"] == pytest.approx(float(arr.min()), abs=1e-6)
    assert info["max"] == pytest.approx(float(arr.max()), abs=1e-6)
    assert info["meta"]["view"] == "PA" and info["meta"]["inverted"] is True


def test_json_png_has_null_dicom_fields(cli, tmp_path):
    p = write_png(np.linspace(0, 1, 100).reshape(10, 10), tmp_path / "x.png")
    info = json.loads(cli("inspect", p, "--json").out)
    assert (info["kind"], info["source_format"], info["modality"], info["photometric"]) == ("xray", "png", None, None)
    assert (info["min"], info["max"]) == (0.0, 1.0)


def test_series_preview_and_human_output(cli, tmp_path, volume, fake_patient):
    patient, identifiers = fake_patient
    write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / "s", patient=patient, description="CT CHEST Doe")
    png = tmp_path / "prev.png"
    r = cli("inspect", tmp_path / "s", "--preview", png)
    assert r.code == 0, r
    assert "ct (dicom-series)" in r.out and "12 x 40 x 48 (D, H, W)" in r.out and "2.500 x 0.700 x 0.800 mm" in r.out
    for ident in identifiers:
        assert ident.lower() not in r.out.lower(), ident
    pic = np.asarray(Image.open(png))
    # three panels at 512 px for the tallest physical extent: axial 40x0.7=28 mm by 48x0.8=38.4 mm,
    # coronal and sagittal 12x2.5=30 mm tall -> px/mm = 512/30
    scale = 512 / 30
    assert pic.shape[0] == 512
    assert pic.shape[1] == round(38.4 * scale) * 2 + round(28 * scale) + 8
    # lung window (-600/1500): lung (-820 HU) about 90, soft tissue (40 HU) about 236, air black
    axial = pic[:, : round(38.4 * scale)]
    y, x = round(0.45 * 28 * scale + (512 - 28 * scale) / 2), round(0.3 * 38.4 * scale)
    assert abs(int(axial[y, x]) - 90) < 15
    assert axial[2, 2] == 0


def test_xray_preview_downscaled(cli, tmp_path, rg1_paths):
    png = tmp_path / "rg1.png"
    assert cli("inspect", rg1_paths[0], "--preview", png).code == 0
    pic = np.asarray(Image.open(png))
    assert pic.shape == (1024, round(1841 * 1024 / 1955))
    assert pic.dtype == np.uint8 and pic.max() > 200


def test_list_of_files(cli, series_dir):
    files = sorted(series_dir.iterdir())
    info = json.loads(cli("inspect", *files, "--json").out)
    assert info["slices"] == 12 and info["source_format"] == "dicom-series"
