"""The X-ray pipeline of one DICOM dataset (CR, DX, secondary capture).

Stored values -> modality LUT / rescale -> VOI LUT, or window centre/width, or (when the file
has neither) a robust 0.5-99.5 percentile window -> [0, 1] -> inverted when the file is
MONOCHROME1 (so bone is always bright). pydicom's LUT and windowing functions run on blocks of
rows written into one float32 array, so memory stays near the stored pixels plus the output
(pydicom would otherwise make several float64 copies of the whole image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medmllm.io import dicom as D
from medmllm.io.errors import ImageLoadError
from medmllm.io.types import MedicalImage, check_finite

_BLOCK_PIXELS = 1 << 20  # pixels per block of rows (8 MiB of float64 temporaries)


def voi_range(ds) -> tuple[float, float]:
    """Output range of pydicom's windowing for this dataset (PS3.3 C.11.2.1.2)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    bits = int(ds.BitsStored)
    lo, hi = (0.0, 2.0**bits - 1) if ds.PixelRepresentation == 0 else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        slope, icpt = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = sorted((lo * slope + icpt, hi * slope + icpt))
    return lo, hi


def lut_range(item) -> tuple[float, float]:
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint16 if int(item.LUTDescriptor[2]) > 8 else np.uint8)
    data = np.asarray(data, dtype=np.float64)
    return float(data.min()), float(data.max())


def has_window(ds) -> bool:
    """A usable window: centre and width present, finite, width > 0 (otherwise the percentile window)."""
    try:
        centre, width = (float(np.ravel(ds[k].value)[0]) for k in ("WindowCenter", "WindowWidth"))
    except (KeyError, TypeError, ValueError, IndexError):
        return False
    return bool(np.isfinite(centre) and np.isfinite(width) and width > 0)


def _colour(path: Path, ds, arr: np.ndarray, meta: dict, kind: str | None) -> MedicalImage:
    rgb = arr.astype(np.float32)
    rgb *= np.float32(1.0 / float(2 ** int(ds.get("BitsStored", 8)) - 1))
    np.clip(rgb, 0.0, 1.0, out=rgb)
    if kind == "image":
        return MedicalImage(rgb, None, None, "image", "dicom", meta)
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    meta["voi"] = "none (colour converted to grayscale)"
    return MedicalImage(gray.astype(np.float32, copy=False), D.pixel_spacing_2d(ds), None, "xray", "dicom", meta)


def xray_from_dataset(path: Path, ds, *, max_bytes: int, kind: str | None) -> MedicalImage:
    """The X-ray pipeline (see module docstring). ``kind='image'`` keeps colour as ``(H, W, 3)``."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    frames = D.positive_int(path, ds, "NumberOfFrames", 1)
    if frames > 1:
        raise ImageLoadError(path, f"multi-frame X-ray ({frames} frames) is not supported; expected one image")
    samples = D.positive_int(path, ds, "SamplesPerPixel", 1)
    rows, cols = D.positive_int(path, ds, "Rows"), D.positive_int(path, ds, "Columns")
    D.check_pixel_size(path, ds, max_bytes, (rows, cols, max(samples, 3 if kind == "image" else 1)))
    D.rescale(path, ds)  # NaN / inf slope or intercept: refused before pydicom applies them
    arr = D.decode_pixels(path, ds)
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            delattr(ds, keyword)  # the stored bytes are decoded; free them
    check_finite(path, arr)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    meta = D.build_meta(ds)
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3:  # colour (RGB after pydicom's YBR conversion)
        return _colour(path, ds, arr, meta, kind)
    voi = "lut" if ds.get("VOILUTSequence") else "window" if has_window(ds) else "percentile 0.5-99.5"
    img = np.empty(arr.shape, dtype=np.float32)
    step = max(1, _BLOCK_PIXELS // max(1, arr.shape[1]))
    for r in range(0, arr.shape[0], step):
        block = apply_modality_lut(arr[r:r + step], ds)
        if voi == "lut":
            lut_in = block if block.dtype.kind in "iu" else np.rint(block).astype(np.int64)
            block = apply_voi_lut(lut_in, ds, prefer_lut=True)
        elif voi == "window":
            block = apply_voi_lut(block.astype(np.float64), ds, prefer_lut=False)
        img[r:r + step] = block
    del arr
    if voi == "lut":
        lo, hi = lut_range(ds.VOILUTSequence[0])
    elif voi == "window":
        lo, hi = voi_range(ds)
    else:
        sample = img[:: max(1, img.shape[0] // 512), :: max(1, img.shape[1] // 512)]
        lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    meta["voi"] = voi
    img -= np.float32(lo)
    img *= np.float32(1.0 / max(hi - lo, 1e-6))
    np.clip(img, 0.0, 1.0, out=img)
    inverse = str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"
    invert = photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and inverse)
    if invert:
        np.subtract(np.float32(1.0), img, out=img)
    meta["inverted"] = invert
    if kind == "image":
        return MedicalImage(np.repeat(img[..., None], 3, axis=2), None, None, "image", "dicom", meta)
    return MedicalImage(img, D.pixel_spacing_2d(ds), None, "xray", "dicom", meta)
