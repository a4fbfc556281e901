"""PNG / JPEG / TIFF: bit depths, grayscale vs colour, kinds, writers' determinism."""

import numpy as np
import pytest
from PIL import Image

from medmllm.io import load_image
from medmllm.io.writers import write_ct_series, write_nifti, write_png, write_xray_dicom


@pytest.mark.parametrize("bits", [8, 16])
def test_grayscale_png_bits(tmp_path, bits):
    image = np.random.default_rng(0).random((50, 40))
    img = load_image(write_png(image, tmp_path / "x.png", bits=bits))
    assert img.kind == "xray" and img.source_format == "png" and img.shape == (50, 40)
    assert img.meta["bits"] == bits and img.spacing is None
    top = 2**bits - 1
    np.testing.assert_allclose(img.array, np.rint(image * top) / top, atol=1e-6)


def test_16bit_tiff_keeps_contrast(tmp_path):
    values = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "x.tif")
    img = load_image(tmp_path / "x.tif")
    assert img.source_format == "tiff" and img.kind == "xray"
    np.testing.assert_allclose(img.array, values / 65535.0, atol=1e-6)


def test_rgb_is_image_and_gray_rgb_is_xray(tmp_path):
    rng = np.random.default_rng(1)
    color = rng.random((20, 30, 3))
    img = load_image(write_png(color, tmp_path / "c.png"))
    assert img.kind == "image" and img.shape == (20, 30, 3)
    np.testing.assert_allclose(img.array, np.rint(color * 255) / 255, atol=1e-6)
    gray = np.repeat(rng.random((20, 30, 1)), 3, axis=2)
    img = load_image(write_png(gray, tmp_path / "g.png"))
    assert img.kind == "xray" and img.shape == (20, 30)
    assert load_image(tmp_path / "c.png", kind="xray").shape == (20, 30)
    assert load_image(tmp_path / "g.png", kind="image").shape == (20, 30, 3)


def test_jpeg(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    Image.fromarray(ramp).save(tmp_path / "x.jpeg", quality=95)
    img = load_image(tmp_path / "x.jpeg")
    assert img.source_format == "jpeg" and img.kind == "xray"
    assert np.abs(img.array - ramp / 255.0).mean() < 0.01


def test_kind_mismatch_is_an_error(tmp_path):
    from medmllm.io import ImageLoadError

    path = write_png(np.zeros((4, 4)), tmp_path / "x.png")
    with pytest.raises(ImageLoadError, match="loads as kind 'xray' \\(png\\), expected 'ct'"):
        load_image(path, kind="ct")


def test_writers_are_deterministic(tmp_path, volume):
    image = np.random.default_rng(2).random((32, 24))
    for sub in ("a", "b"):
        write_ct_series(volume, (2.5, 0.7, 0.8), tmp_path / sub / "s", shuffle_names=True)
        write_xray_dicom(image, tmp_path / sub / "x.dcm", photometric="MONOCHROME1")
        write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / sub / "v.nii.gz")
        write_png(image, tmp_path / sub / "x.png", bits=16)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == volume.shape[0] + 3
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
