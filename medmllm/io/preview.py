"""PNG previews of loaded images (``medmllm inspect --preview``).

X-ray and colour images are written as they are (downscaled to at most ``max_size`` pixels); a
clip shows up to :data:`SHEET_FRAMES` frames, evenly spaced, side by side (a contact sheet).
CT volumes show the middle axial, coronal and sagittal slices side by side in a lung window
(centre -600 HU, width 1500 HU), scaled by the voxel spacing so anatomy keeps its proportions;
coronal and sagittal views have the head at the top, the axial view the patient's right on the
left (radiological convention, which the canonical axes give directly).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medmllm.io.types import MedicalImage

LUNG_WINDOW = (-600.0, 1500.0)
SHEET_FRAMES = 8
_GAP = 4


def window_to_uint8(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """HU -> uint8 with a linear window."""
    lo = center - width / 2.0
    return (np.clip((hu - lo) / width, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(img)
    return np.asarray(pil.resize((max(1, width), max(1, height)), Image.Resampling.BILINEAR))


def ct_panels(volume: np.ndarray, spacing: tuple[float, ...] | None, *, height: int = 512,
              window: tuple[float, float] = LUNG_WINDOW) -> np.ndarray:
    """Axial | coronal | sagittal middle slices of a ``(D, H, W)`` HU volume as one uint8 image."""
    d, h, w = volume.shape
    sd, sh, sw = spacing or (1.0, 1.0, 1.0)
    views = [(volume[d // 2], h * sh, w * sw)]  # axial: rows anterior -> posterior, cols right -> left
    if d > 1:
        views.append((np.flipud(volume[:, h // 2, :]), d * sd, w * sw))  # coronal, head at the top
        views.append((np.flipud(volume[:, :, w // 2]), d * sd, h * sh))  # sagittal, anterior on the left
    px_per_mm = height / max(v[1] for v in views)
    tiles = [_resize(window_to_uint8(v, *window), round(mm_h * px_per_mm), round(mm_w * px_per_mm))
             for v, mm_h, mm_w in views]
    out = np.zeros((max(t.shape[0] for t in tiles), sum(t.shape[1] for t in tiles) + _GAP * (len(tiles) - 1)),
                   dtype=np.uint8)
    x = 0
    for t in tiles:
        y = (out.shape[0] - t.shape[0]) // 2
        out[y:y + t.shape[0], x:x + t.shape[1]] = t
        x += t.shape[1] + _GAP
    return out


def contact_sheet(frames: np.ndarray, *, max_size: int = 1024, count: int = SHEET_FRAMES) -> np.ndarray:
    """Up to ``count`` evenly spaced frames of a ``(T, H, W, C)`` clip in [0, 1], side by side, as uint8 RGB."""
    t, h, w = frames.shape[:3]
    picks = np.unique(np.linspace(0, t - 1, min(t, count)).round().astype(int))
    scale = min(1.0, max_size / (len(picks) * w + _GAP * (len(picks) - 1)), max_size / h)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.zeros((th, len(picks) * (tw + _GAP) - _GAP, 3), dtype=np.uint8)
    for k, i in enumerate(picks):
        tile = (np.clip(frames[i], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        tile = np.repeat(tile, 3, axis=2) if tile.shape[2] == 1 else tile
        out[:, k * (tw + _GAP):k * (tw + _GAP) + tw] = _resize(tile, th, tw) if (th, tw) != (h, w) else tile
    return out


def render_preview(img: MedicalImage, *, max_size: int = 1024) -> np.ndarray:
    """A uint8 picture of the image: ``(H, W)`` grayscale or ``(H, W, 3)`` RGB."""
    if img.kind == "ct":
        return ct_panels(img.array, img.spacing, height=min(512, max_size))
    if img.kind == "video":
        return contact_sheet(img.array, max_size=max_size)
    pic = (np.clip(img.array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w = pic.shape[:2]
    scale = min(1.0, max_size / max(h, w))
    if scale < 1.0:
        pic = _resize(pic, round(h * scale), round(w * scale))
    return pic


def write_preview(img: MedicalImage, path: str | os.PathLike, *, max_size: int = 1024) -> Path:
    """Write :func:`render_preview` as PNG (atomically)."""
    from PIL import Image

    from medmllm.files import atomic_write_with

    pic = render_preview(img, max_size=max_size)
    return atomic_write_with(Path(path), lambda t: Image.fromarray(pic).save(t, format="PNG"))
