"""Deterministic writers of clips: multi-frame DICOM cine (US, XA, RF, ES) and video files (PyAV).

Like :mod:`medmllm.io.writers`: the same frames give the same bytes (UIDs from the content, fixed
dates) and files are written atomically. Frames are ``(T, H, W)`` grayscale or ``(T, H, W, 3)`` RGB
in [0, 1], stored as 8 bits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from medmllm.files import atomic_write_with
from medmllm.io.writers import _digest, _single_instance

# Modality -> storage class of its clips.
CINE_SOP_CLASSES = {
    "US": "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    "XA": "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image Storage
    "RF": "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image Storage
    "ES": "1.2.840.10008.5.1.4.1.1.77.1.1.1",  # Video Endoscopic Image Storage
}


def _frames_uint8(frames01: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames01, dtype=np.float64)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] != 3):
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, 3), got shape {arr.shape}")
    return np.rint(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)


def write_cine_dicom(frames01: np.ndarray, path: str | os.PathLike, *, modality: str = "US",
                     frame_time_ms: float | None = 33.3, timing: str = "FrameTime",
                     pixel_spacing: Sequence[float] | None = None, burned_in: str | None = None,
                     patient: dict | None = None, description: str = "CINE") -> Path:
    """Write a clip as one multi-frame DICOM file.

    Args:
        frames01: ``(T, H, W)`` (MONOCHROME2) or ``(T, H, W, 3)`` (RGB) in [0, 1].
        path: output file.
        modality: ``US``, ``XA``, ``RF`` or ``ES`` (its multi-frame storage class is used).
        frame_time_ms: time between frames; None writes no timing.
        timing: how the timing is written: ``FrameTime`` (ms), ``CineRate`` (frames/s) or
            ``FrameTimeVector`` (ms increments, the first 0).
        pixel_spacing: ``(row, col)`` mm, or None.
        burned_in: BurnedInAnnotation (``YES`` / ``NO``), or None to leave it out.
        patient: identifiers to write (see :func:`medmllm.io.writers.write_ct_series`).
        description: SeriesDescription.

    Returns:
        The written path.
    """
    if modality not in CINE_SOP_CLASSES:
        raise ValueError(f"modality must be one of {sorted(CINE_SOP_CLASSES)}, got {modality!r}")
    if timing not in ("FrameTime", "CineRate", "FrameTimeVector"):
        raise ValueError(f"timing must be FrameTime, CineRate or FrameTimeVector, got {timing!r}")
    pixels = _frames_uint8(frames01)
    n = pixels.shape[0]
    key = [_digest(pixels), modality, frame_time_ms, timing, description, sorted((patient or {}).items())]
    ds = _single_instance(CINE_SOP_CLASSES[modality], key, modality, patient, description)
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(s) for s in pixel_spacing]
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    photometric = "RGB" if pixels.ndim == 4 else "MONOCHROME2"
    ds.set_pixel_data(pixels, photometric, 8, generate_instance_uid=False)  # sets NumberOfFrames
    ds.FrameIncrementPointer = 0x00181063 if timing != "FrameTimeVector" else 0x00181065
    if frame_time_ms is not None:
        if timing == "FrameTime":
            ds.FrameTime = float(frame_time_ms)
        elif timing == "CineRate":
            ds.CineRate = int(round(1000.0 / frame_time_ms))
        else:
            ds.FrameTimeVector = [0.0] + [float(frame_time_ms)] * (n - 1)
    return atomic_write_with(Path(path), lambda p: ds.save_as(p, enforce_file_format=True))


def write_video_file(frames01: np.ndarray, path: str | os.PathLike, *, fps: float = 25.0, codec: str | None = None,
                     container: str | None = None) -> Path:
    """Write a clip as a video file with PyAV (lossy codecs change pixel values slightly).

    Args:
        frames01: ``(T, H, W)`` or ``(T, H, W, 3)`` in [0, 1]; H and W even (4:2:0 chroma).
        path: output file; the container follows its suffix (``.mp4``, ``.webm``, ``.avi``, ``.mkv``).
        fps: frames per second.
        codec: FFmpeg encoder (default by suffix: ``libx264``, ``libvpx-vp9``, ``mjpeg``).
        container: FFmpeg container name (default from the suffix).

    Returns:
        The written path.
    """
    from fractions import Fraction

    import av

    pixels = _frames_uint8(frames01)
    if pixels.ndim == 3:
        pixels = np.repeat(pixels[..., None], 3, axis=3)
    suffix = Path(path).suffix.lower()
    codec = codec or {".webm": "libvpx-vp9", ".avi": "mjpeg"}.get(suffix, "libx264")
    fmt = container or {".webm": "webm", ".avi": "avi", ".mkv": "matroska", ".mov": "mov"}.get(suffix, "mp4")

    def write(tmp: Path) -> None:
        with av.open(str(tmp), "w", format=fmt) as out:
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.height, stream.width = pixels.shape[1:3]
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            for frame in pixels:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            out.mux(stream.encode())

    return atomic_write_with(Path(path), write)
