"""Multi-frame DICOM cine (ultrasound, angiography, fluoroscopy, endoscopy) -> a ``video`` MedicalImage.

The array is ``(T, H, W, C)`` float32 in [0, 1]: ``C = 3`` for colour (RGB, YBR -- pydicom converts
to RGB --, palette colour through its lookup table) and ``C = 1`` for grayscale. Grayscale frames
go through the modality LUT / rescale, then the file's VOI LUT or window; else 8-bit frames are shown
as stored (0-255) and deeper ones get the 0.5-99.5 percentile window of the X-ray pipeline computed
over *all* loaded frames (one window per clip, so the clip does not flicker); MONOCHROME1 is
inverted. Only the selected frames are decoded (:mod:`medmllm.io.frames`), each straight into the
output array; a frame kept twice is decoded once.

Timing, in order of preference: FrameTimeVector (ms increments, the first 0), FrameTime (ms),
CineRate or RecommendedDisplayFrameRate (frames/s). A clip with none of them has no timing
(``meta['timing']`` None); a value that is not a positive finite number is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medmllm.io import dicom as D
from medmllm.io.dicom_xray import has_window, lut_range, voi_range
from medmllm.io.errors import ImageLoadError
from medmllm.io.frames import FrameSelection, check_video_limits, select_frames, video_meta
from medmllm.io.types import MedicalImage, check_number

def frame_times(path: Path, ds, n: int) -> tuple[np.ndarray | None, float | None, str | None]:
    """``(time of each frame in s, nominal frame time in ms, source keyword)``; ``(None, None, None)`` if untimed."""
    vector = ds.get("FrameTimeVector")
    if vector is not None and vector != "":
        steps = np.asarray([check_number(path, "FrameTimeVector", v) for v in
                            (vector if not isinstance(vector, (str, int, float)) else [vector])], dtype=np.float64)
        if len(steps) != n:
            raise ImageLoadError(path, f"FrameTimeVector has {len(steps)} values for {n} frames")
        if (steps[1:] <= 0).any() or steps[0] < 0:
            raise ImageLoadError(path, "FrameTimeVector: increments after the first must be positive")
        times = np.cumsum(steps) / 1000.0
        return times - times[0], float(np.mean(steps[1:])) if n > 1 else None, "FrameTimeVector"
    for keyword, per_second in (("FrameTime", False), ("CineRate", True), ("RecommendedDisplayFrameRate", True)):
        value = ds.get(keyword)
        if value is not None and value != "":
            v = check_number(path, keyword, value, positive=True)
            ms = 1000.0 / v if per_second else v
            return np.arange(n, dtype=np.float64) * ms / 1000.0, ms, keyword
    return None, None, None


def _grayscale_window(path: Path, ds, out: np.ndarray) -> str:
    """Map modality values of ``out`` (T, H, W, 1) to [0, 1] in place with the clip's VOI; returns its name."""
    from pydicom.pixels import apply_voi_lut

    if ds.get("VOILUTSequence"):
        voi = "lut"
        for t in range(out.shape[0]):
            frame = out[t, ..., 0]
            out[t, ..., 0] = apply_voi_lut(np.rint(frame).astype(np.int64), ds, prefer_lut=True)
        lo, hi = lut_range(ds.VOILUTSequence[0])
    elif has_window(ds):
        voi = "window"
        for t in range(out.shape[0]):
            out[t, ..., 0] = apply_voi_lut(out[t, ..., 0].astype(np.float64), ds, prefer_lut=False)
        lo, hi = voi_range(ds)
    elif int(ds.get("BitsStored", 8)) <= 8 and not ds.get("ModalityLUTSequence"):
        voi = "none (8-bit stored range)"  # displayed as stored, as cine viewers do
        lo, hi = voi_range(ds)
    else:
        voi = "percentile 0.5-99.5 (whole clip)"
        step = max(1, int(np.ceil((out[0].size * out.shape[0] / (1 << 20)) ** 0.5)))
        lo, hi = (float(v) for v in np.percentile(out[:, ::step, ::step], [0.5, 99.5]))
    out -= np.float32(lo)
    out *= np.float32(1.0 / max(hi - lo, 1e-6))
    return voi


def _palette_scale(ds) -> float:
    """Largest value of the palette's entries (16-bit or 8-bit lookup tables)."""
    desc = ds.get("RedPaletteColorLookupTableDescriptor") or [0, 0, 16]
    return float(2 ** int(desc[2]) - 1)


def cine_from_dataset(path: Path, ds, *, max_bytes: int, max_frames: int, max_pixels: int,
                      num_frames: int | None = None, sampling: str = "uniform",
                      fps: float | None = None) -> MedicalImage:
    """Load the (selected) frames of a multi-frame DICOM as a ``video`` (module docstring)."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    n = D.positive_int(path, ds, "NumberOfFrames", 1)
    rows, cols = D.positive_int(path, ds, "Rows"), D.positive_int(path, ds, "Columns")
    samples = D.positive_int(path, ds, "SamplesPerPixel", 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    channels = 3 if samples == 3 or photometric == "PALETTE COLOR" else 1
    times, frame_ms, timing = frame_times(path, ds, n)
    sel: FrameSelection = select_frames(n, num_frames, sampling, times=times, fps=fps)
    check_video_limits(path, len(sel.indices), rows, cols, channels, max_frames=max_frames, max_pixels=max_pixels,
                       max_bytes=max_bytes)
    D.check_pixel_size(path, ds, max_bytes, (len(sel.indices), rows, cols, channels))
    D.rescale(path, ds)
    out = np.empty((len(sel.indices), rows, cols, channels), dtype=np.float32)  # (T, H, W, C)
    rows_of = {int(i): np.flatnonzero(sel.indices == i) for i in np.unique(sel.indices)}  # a frame may repeat
    scale = np.float32(1.0 / (_palette_scale(ds) if photometric == "PALETTE COLOR"
                              else float(2 ** int(ds.get("BitsStored", 8)) - 1)))
    for i, frame in D.decode_frames(path, ds, list(rows_of)):
        if frame.shape[:2] != (rows, cols):
            raise ImageLoadError(path, f"frame {i} has shape {frame.shape}, expected {rows} x {cols}")
        first = out[rows_of[i][0]]
        if photometric == "PALETTE COLOR":
            np.multiply(apply_color_lut(frame, ds), scale, out=first, casting="unsafe")
        elif channels == 3:
            np.multiply(frame.reshape(rows, cols, 3), scale, out=first, casting="unsafe")
        else:
            first[..., 0] = apply_modality_lut(frame, ds)
        out[rows_of[i][1:]] = first
    meta = D.build_meta(ds)
    if channels == 1:  # decoded integers through a checked rescale: finite; colour is already in [0, 1]
        meta["voi"] = _grayscale_window(path, ds, out)
        np.clip(out, 0.0, 1.0, out=out)
        if photometric == "MONOCHROME1":
            np.subtract(np.float32(1.0), out, out=out)
    duration = None if frame_ms is None else (float(times[-1]) + frame_ms / 1000.0)
    meta.update(video_meta(n, sel, frame_ms, timing, duration))
    return MedicalImage(out, D.pixel_spacing_2d(ds), None, "video", "dicom", meta)
