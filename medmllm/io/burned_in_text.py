"""Burned-in text in pixels: a classical detector of text lines in image frames (a detector, not a guarantee).

``medmllm deid --detect-burned-in`` runs it on every frame of every written file; the DICOM header's
BurnedInAnnotation flag (:func:`medmllm.io.phi.burned_in_status`) says what a device declared, this
looks at what the pixels show. How (per frame, grayscale, at most ``WORK_SIZE`` pixels a side):

1. intensities scaled to [0, 1] between the 0.5th and 99.9th percentiles;
2. thin strokes, bright and dark, by morphological top-hats with a ``STROKE`` x ``STROKE`` square
   (structures narrower than it stand out; organs, bones and gradients do not);
3. strong stroke pixels (top-hat above ``CONTRAST``, raised on textured frames such as ultrasound speckle
   to the median plus ``TEXTURE_K`` median absolute deviations of the top-hat) as 8-connected components, kept when shaped like
   characters: 5-40 pixels high, at most 3 times as wide as high, 12-90 % of their box filled, and
   drawn with strokes (no point deeper inside than a quarter of the height plus one pixel: blobs fail);
4. characters linked into lines when they have similar heights, their centres at the same height and a
   gap below one and a half character heights; a line of at least ``MIN_CHARS`` characters, wider than
   high, of regular heights (standard deviation at most 30 % of the median) and most of them (60 %) on
   one baseline, is text.

It finds printed overlays (names, dates, IDs, device banners, scale numbers) of roughly 6-40 pixels
per character (at the working size) in Latin and Chinese scripts. It misses text smaller than that, single characters
(an "L" / "R" side marker), very low-contrast text and handwriting, and can flag line-like texture
(rulers, dotted calibration scales). Measured rates: docs/text-rich.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

WORK_SIZE = 1024
STROKE = 9
CONTRAST = 0.15
TEXTURE_K = 8.0
MIN_CHARS = 4
MIN_H, MAX_H = 5, 40
MAX_COMPONENTS = 4000


@dataclass
class FrameText:
    """Text lines found in one frame: ``boxes`` ``(x, y, width, height)`` in the frame's pixels."""

    frame: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    characters: int = 0


def _to_unit(frame: np.ndarray) -> np.ndarray:
    g = np.asarray(frame, dtype=np.float32)
    if g.ndim == 3:  # (H, W, C) colour: luminance
        g = g[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if g.shape[-1] >= 3 else g[..., 0]
    lo, hi = np.percentile(g, (0.5, 99.9))
    if hi <= lo:
        return np.zeros_like(g)
    return np.clip((g - lo) / (hi - lo), 0.0, 1.0)


def _shrink(g: np.ndarray) -> tuple[np.ndarray, int]:
    """Block-mean downscale by the smallest integer factor that fits ``WORK_SIZE``."""
    f = int(np.ceil(max(g.shape) / WORK_SIZE))
    if f <= 1:
        return g, 1
    h, w = (g.shape[0] // f) * f, (g.shape[1] // f) * f
    return g[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3)), f


def _characters(mask: np.ndarray) -> np.ndarray:
    """``(n, 4)`` boxes ``(y0, x0, y1, x1)`` of character-shaped components of ``mask``."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return np.zeros((0, 4), dtype=np.int64)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    # half the widest stroke: the largest distance from a component's pixel to its outside
    half_stroke = ndimage.maximum(ndimage.distance_transform_edt(mask), labels, np.arange(1, n + 1))
    boxes = []
    for i, sl in enumerate(ndimage.find_objects(labels)):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        fill = areas[i] / float(h * w)
        if MIN_H <= h <= MAX_H and w <= 3 * h and areas[i] >= 6 and 0.12 <= fill <= 0.9 \
                and half_stroke[i] <= 0.25 * h + 1:
            boxes.append((sl[0].start, sl[1].start, sl[0].stop, sl[1].stop))
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


def _lines(chars: np.ndarray) -> list[np.ndarray]:
    """Groups (index arrays) of characters that form text lines."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(chars)
    if n < MIN_CHARS or n > MAX_COMPONENTS:
        return []
    y0, x0, y1, x1 = (chars[:, i].astype(np.float32) for i in range(4))
    h, cy = y1 - y0, (y0 + y1) / 2
    hmax = np.maximum(h[:, None], h[None, :])
    ratio = np.minimum(h[:, None], h[None, :]) / hmax
    gap = np.maximum(x0[None, :] - x1[:, None], x0[:, None] - x1[None, :])  # < 0 when they overlap
    link = (ratio >= 0.5) & (np.abs(cy[:, None] - cy[None, :]) <= 0.3 * hmax) & (gap <= 1.5 * hmax) & (gap >= -0.3 * hmax)
    np.fill_diagonal(link, False)
    i, j = np.nonzero(link)
    _, comp = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    out = []
    for c in np.unique(comp):
        idx = np.nonzero(comp == c)[0]
        if len(idx) < MIN_CHARS:
            continue
        width, height = x1[idx].max() - x0[idx].min(), y1[idx].max() - y0[idx].min()
        hm = float(np.median(h[idx]))
        on_baseline = np.abs(y1[idx] - np.median(y1[idx])) <= 0.2 * hm
        if width >= 1.5 * height and np.std(h[idx]) <= 0.3 * hm and on_baseline.mean() >= 0.6:
            out.append(idx)
    return out


def _threshold(tophat: np.ndarray) -> float:
    """Stroke contrast needed in this frame: ``CONTRAST``, raised above the texture of a speckled frame
    (median + ``TEXTURE_K`` median absolute deviations of the non-flat top-hat values)."""
    v = tophat[tophat > 0.01]
    if v.size < 100:
        return CONTRAST
    med = float(np.median(v))
    return max(CONTRAST, med + TEXTURE_K * float(np.median(np.abs(v - med))))


def detect_text(frame: np.ndarray) -> tuple[list[tuple[int, int, int, int]], int]:
    """Text lines of one frame (2D, or ``(H, W, 3)`` colour): ``(boxes (x, y, w, h), characters in them)``."""
    from scipy import ndimage

    g, f = _shrink(_to_unit(frame))
    if min(g.shape) < 2 * MIN_H:
        return [], 0
    bright = g - ndimage.grey_opening(g, size=(STROKE, STROKE))
    dark = ndimage.grey_closing(g, size=(STROKE, STROKE)) - g
    boxes, count = [], 0
    for tophat in (bright, dark):
        chars = _characters(tophat > _threshold(tophat))
        for idx in _lines(chars):
            c = chars[idx]
            y0, x0, y1, x1 = c[:, 0].min(), c[:, 1].min(), c[:, 2].max(), c[:, 3].max()
            boxes.append((int(x0 * f), int(y0 * f), int((x1 - x0) * f), int((y1 - y0) * f)))
            count += len(idx)
    return boxes, count


def dataset_frames(ds: Any) -> Iterator[np.ndarray]:
    """The frames of a pydicom data set as 2D grayscale or ``(H, W, 3)`` arrays (palette colour applied)."""
    from pydicom.pixels import apply_color_lut

    arr = ds.pixel_array
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        yield arr
    else:
        yield from arr


def scan_dicom(data: bytes | str, *, max_frames: int | None = None) -> list[FrameText]:
    """Frames of a DICOM file (bytes or path) whose pixels show text lines (none: an empty list).

    Args:
        data: the file's bytes, or its path.
        max_frames: look at this many frames at most, evenly spread over a long clip (None: all).
    """
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
    if "PixelData" not in ds:
        return []
    frames = list(dataset_frames(ds))
    picks = range(len(frames)) if max_frames is None or len(frames) <= max_frames else \
        np.linspace(0, len(frames) - 1, max_frames).round().astype(int).tolist()
    out = []
    for i in picks:
        boxes, n = detect_text(frames[i])
        if boxes:
            out.append(FrameText(int(i), boxes, n))
    return out


def describe(found: list[FrameText], total_frames: int | None = None) -> str:
    """One line for a person: which frames show text and where (never the text itself)."""
    frames = ", ".join(str(t.frame) for t in found[:10]) + (" ..." if len(found) > 10 else "")
    x, y, w, h = found[0].boxes[0]
    of = f" of {total_frames}" if total_frames else ""
    return (f"pixels show text (detector): {len(found)} frame(s){of} [{frames}], "
            f"e.g. a line at x={x} y={y} ({w}x{h} px); check and mask before sharing")
