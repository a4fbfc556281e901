"""Image viewer rendering for the report app: window/level, CT reslicing, safe metadata.

Pure numpy + Pillow (no Gradio, no torch), so every function is testable on its own. Arrays follow
CONTRACTS.md: X-rays are ``(H, W)`` in [0, 1] (bone bright) or ``(H, W, 3)`` for RGB images; CT
volumes are ``(D, H, W)`` in HU with D from inferior to superior, H from anterior to posterior and
W from the patient's right to left. Views are shown in radiological convention: axial with anterior
up and the patient's right on the image's left; coronal and sagittal with superior up.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np

# (level, width) in HU.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}
PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal")
MAX_DISPLAY = 512  # longest side of a rendered view, in pixels
MIN_DISPLAY = 384  # small images (synthetic cases, low-resolution CT) are enlarged to this longest side


def window_level(hu: np.ndarray, window: str | tuple[float, float]) -> np.ndarray:
    """Map HU values to display grey levels.

    Args:
        hu: array of Hounsfield units, any shape.
        window: a preset name from :data:`WINDOWS` or a ``(level, width)`` pair.

    Returns:
        uint8 array of the same shape: ``level - width/2`` and below -> 0, ``level + width/2`` and
        above -> 255, linear in between.
    """
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"unknown window '{window}'; valid: {', '.join(WINDOWS)}")
        window = WINDOWS[window]
    level, width = float(window[0]), float(window[1])
    if width <= 0:
        raise ValueError(f"window width must be > 0, got {width}")
    from medmllm.io.preview import window_to_uint8  # the same mapping as `medmllm inspect --preview`

    return window_to_uint8(np.asarray(hu, dtype=np.float32), level, width)


def _fit(img: np.ndarray, rows_mm: float, cols_mm: float, max_side: int, min_side: int = MIN_DISPLAY) -> np.ndarray:
    """Resize a 2D uint8 image: square pixels in mm, longest side in ``[min_side, max_side]``."""
    from PIL import Image

    h, w = img.shape[:2]
    pixel_mm = min(rows_mm, cols_mm)  # keep the finer axis' resolution
    out_h, out_w = h * rows_mm / pixel_mm, w * cols_mm / pixel_mm
    longest = max(out_h, out_w)
    shrink = max_side / longest if longest > max_side else max(1.0, min(min_side, max_side) / longest)
    # round half up, tolerant of spacings like 2.4999999 from a NIfTI header
    out_h, out_w = (max(1, int(np.floor(v * shrink + 0.5 + 1e-6))) for v in (out_h, out_w))
    if (out_h, out_w) == (h, w):
        return img
    return np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.Resampling.BILINEAR))


def render_xray(image: np.ndarray, max_side: int = MAX_DISPLAY, min_side: int = MIN_DISPLAY) -> np.ndarray:
    """An X-ray ``(H, W)`` or RGB image ``(H, W, 3)`` in [0, 1] as uint8, longest side in [min_side, max_side]."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected (H, W) or (H, W, 3), got shape {arr.shape}")
    img = np.clip(np.rint(np.nan_to_num(arr) * 255.0), 0, 255).astype(np.uint8)
    return _fit(img, 1.0, 1.0, max_side, min_side)


def render_frame(clip: np.ndarray, index: int, max_side: int = MAX_DISPLAY, min_side: int = MIN_DISPLAY) -> np.ndarray:
    """Frame ``index`` (clamped) of a clip ``(T, H, W, C)`` in [0, 1] as uint8, sized like an X-ray."""
    frame = clip[int(min(max(index, 0), clip.shape[0] - 1))]
    return render_xray(frame[..., 0] if frame.shape[-1] == 1 else frame, max_side, min_side)


def plane_size(shape: Sequence[int], plane: str) -> int:
    """Number of slices of a ``(D, H, W)`` volume in a plane (axial: D, coronal: H, sagittal: W)."""
    if plane not in PLANES:
        raise ValueError(f"unknown plane '{plane}'; valid: {', '.join(PLANES)}")
    return int(shape[PLANES.index(plane)])


def ct_slice(volume: np.ndarray, plane: str, index: int) -> tuple[np.ndarray, int]:
    """One slice of a ``(D, H, W)`` volume in display orientation, and the index actually used.

    The index is clamped to the plane's range. Axial: ``(H, W)``; coronal: ``(D, W)`` and sagittal:
    ``(D, H)``, both flipped so that superior is up.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a (D, H, W) volume, got shape {volume.shape}")
    i = int(np.clip(int(index), 0, plane_size(volume.shape, plane) - 1))
    if plane == "axial":
        return volume[i], i
    if plane == "coronal":
        return volume[::-1, i, :], i
    return volume[::-1, :, i], i


def render_ct(volume: np.ndarray, spacing: Sequence[float] | None, plane: str, index: int,
              window: str | tuple[float, float] = "lung", max_side: int = MAX_DISPLAY,
              min_side: int = MIN_DISPLAY) -> np.ndarray:
    """Render one CT slice as uint8 ``(rows, cols)``: windowed, square pixels in mm, bounded size.

    Args:
        volume: ``(D, H, W)`` HU volume.
        spacing: ``(d, h, w)`` voxel size in mm, or None (treated as isotropic).
        plane: ``axial``, ``coronal`` or ``sagittal``.
        index: slice index in that plane (clamped).
        window: preset name or ``(level, width)``.
        max_side, min_side: bounds on the longest side of the result in pixels.
    """
    sd, sh, sw = (1.0, 1.0, 1.0) if not spacing else (float(s) if s and s > 0 else 1.0 for s in spacing)
    sl, _ = ct_slice(volume, plane, index)
    rows_mm, cols_mm = {"axial": (sh, sw), "coronal": (sd, sw), "sagittal": (sd, sh)}[plane]
    return _fit(window_level(sl, window), rows_mm, cols_mm, max_side, min_side)


# Keys and values that could identify a person never reach the page (the io layer already
# de-identifies; this is a second, independent guard).
_BLOCKED_KEY = re.compile(
    r"patient|name|birth|address|phone|accession|institution|physician|operator|referr|"
    r"identifier|(^|_)id$|uid|date|time|station|device_serial|serial|other_ids|comment",
    re.IGNORECASE,
)
_SCALAR = (str, int, float, bool)


def _safe_value(value: Any) -> Any:
    if isinstance(value, _SCALAR) or value is None:
        if isinstance(value, str) and ("^" in value or len(value) > 200):
            return None  # DICOM person-name syntax, or free text too long to vet
        return value
    if isinstance(value, (list, tuple)) and len(value) <= 16 and all(isinstance(v, (int, float)) for v in value):
        return [float(v) if isinstance(v, float) else v for v in value]
    return None


def safe_metadata(meta: Mapping[str, Any] | None, *, kind: str | None = None, source_format: str | None = None,
                  shape: Sequence[int] | None = None, spacing: Sequence[float] | None = None) -> dict[str, Any]:
    """Metadata for display: image facts plus the meta entries that cannot identify a patient.

    Keys naming patients, people, places, identifiers, UIDs, dates or times are dropped, as are
    person-name-like strings, long free text and nested values.
    """
    out: dict[str, Any] = {}
    if kind:
        out["kind"] = kind
    if source_format:
        out["format"] = source_format
    if shape is not None:
        out["shape"] = [int(s) for s in shape]
    if spacing is not None:
        out["spacing_mm"] = [round(float(s), 4) for s in spacing]
    for key, value in (meta or {}).items():
        if _BLOCKED_KEY.search(str(key)):
            continue
        safe = _safe_value(value)
        if safe is not None:
            out[str(key)] = safe
    return out
