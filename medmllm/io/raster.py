"""PNG, JPEG and TIFF images through Pillow: 8- and 16-bit grayscale X-rays, RGB images.

Grayscale (and RGB whose three channels are equal) loads as kind ``xray`` ``(H, W)`` in [0, 1];
other colour images load as kind ``image`` ``(H, W, 3)`` in [0, 1]. Values are divided by the
maximum of the stored bit depth (255 or 65535), never stretched, so 16-bit X-rays keep their
contrast. The EXIF orientation of photos is applied.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.types import MedicalImage, check_decoded_size, check_finite

log = logging.getLogger(__name__)

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _to_float(path: Path, pil) -> tuple[np.ndarray, int]:
    """Pixel values in [0, 1] and the bit depth they came from."""
    mode = pil.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _scaled(np.asarray(pil, dtype=np.float32), 65535.0), 16
    if mode == "I":  # 32-bit integer container, e.g. a 16-bit PNG on some Pillow versions
        raw = np.asarray(pil)
        lo, hi = int(raw.min()), int(raw.max())
        if lo < 0 or hi > 65535:
            raise ImageLoadError(path, f"32-bit integer image with values {lo}..{hi} is not supported")
        return _scaled(raw.astype(np.float32), 65535.0), 16
    if mode == "F":
        arr = np.asarray(pil, dtype=np.float32)
        check_finite(path, arr)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            arr = (arr - lo) / max(hi - lo, 1e-6)
        return arr, 32
    if mode in ("1", "L", "P", "LA", "PA", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "La"):
        pil = pil.convert("L" if mode in ("1", "L", "LA", "La") else "RGB")
    elif mode != "RGB":
        raise ImageLoadError(path, f"unsupported image mode {mode!r}")
    return _scaled(np.asarray(pil, dtype=np.float32), 255.0), 8


def _scaled(arr: np.ndarray, top: float) -> np.ndarray:
    """``arr / top`` in place (``arr`` is a fresh float32 array; no second full-size copy)."""
    if not arr.flags.writeable:
        arr = arr.copy()
    return np.divide(arr, np.float32(top), out=arr)


def read_raster(path: Path, fmt: str, *, max_bytes: int, kind: str | None = None) -> MedicalImage:
    """Load a PNG / JPEG / TIFF. ``kind='xray'`` makes colour grayscale; ``kind='image'`` makes it RGB."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        pil = Image.open(path)
    except Image.DecompressionBombError as e:
        raise ImageLoadError(path, f"image is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageLoadError(path, f"corrupt {fmt.upper()} file ({e})") from None
    with pil:
        frames = getattr(pil, "n_frames", 1)
        if frames > 1:
            raise ImageLoadError(path, f"{fmt.upper()} with {frames} pages/frames; expected one image")
        channels = 1 if pil.mode in ("1", "L", "I", "F") + _SIXTEEN_BIT_MODES else 3
        check_decoded_size(path, (pil.height, pil.width, channels), max_bytes)
        try:
            pil.load()
            pil = ImageOps.exif_transpose(pil) if fmt == "jpeg" else pil
            arr, bits = _to_float(path, pil)
        except ImageLoadError:
            raise
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageLoadError(path, f"truncated or corrupt {fmt.upper()} file ({e})") from None
    meta = {"modality": None, "photometric": None, "bits": bits, "mode": pil.mode}
    if arr.ndim == 3 and (kind == "xray" or (kind is None and _is_gray(arr))):
        arr = arr[..., 0] if _is_gray(arr) else arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if arr.ndim == 2 and kind == "image":
        arr = np.repeat(arr[..., None], 3, axis=2)
    out_kind = "xray" if arr.ndim == 2 else "image"
    arr = np.clip(arr, 0.0, 1.0, out=arr) if arr.flags.writeable else np.clip(arr, 0.0, 1.0)
    return MedicalImage(np.ascontiguousarray(arr, dtype=np.float32), None, None, out_kind, fmt, meta)


def _is_gray(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
