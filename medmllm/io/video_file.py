"""Video files (MP4 / MOV, WebM / Matroska, AVI, MPEG) -> a ``video`` MedicalImage, decoded by PyAV.

PyAV (``pip install av``; its wheels carry FFmpeg) reads the container header; the frames to keep are
chosen from the header's frame count and rate (:mod:`medmllm.io.frames`) and only those are converted
to RGB: a long video is read forward once, seeking past gaps longer than :data:`SEEK_GAP_S` seconds.
The array is ``(T, H, W, 3)`` float32 in [0, 1]; frame ``i`` is the frame shown at time
``start + i / fps``. Container errors, a frame size that changes mid-stream and a stream that ends
before the frames its header announced are one-line errors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medmllm.errors import MissingDependencyError
from medmllm.io.errors import ImageLoadError
from medmllm.io.frames import check_video_limits, select_frames, video_meta
from medmllm.io.types import MedicalImage

log = logging.getLogger(__name__)

SEEK_GAP_S = 4.0  # seek instead of decoding through a gap longer than this


def _av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "reading video files", extra="video") from None
    return av


def _open(path: Path):
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise ImageLoadError(path, f"not a readable video ({type(e).__name__}: {str(e)[:120]})") from None
    if not container.streams.video:
        container.close()
        raise ImageLoadError(path, "container holds no video stream")
    return container


def _header(path: Path, container) -> tuple[int, float, float, int, int]:
    """``(frames, fps, start seconds, height, width)`` from the container header."""
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not np.isfinite(fps) or fps <= 0:
        raise ImageLoadError(path, "video stream without a frame rate")
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = int(stream.frames or 0) or int(round(duration * fps))
    if frames < 1:
        raise ImageLoadError(path, "video stream without frames (no frame count or duration in its header)")
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0
    height, width = int(stream.codec_context.height or 0), int(stream.codec_context.width or 0)
    if height < 1 or width < 1:
        raise ImageLoadError(path, f"video stream of {width} x {height} pixels")
    return frames, fps, start, height, width


def read_video_file(path: Path, *, max_bytes: int, max_frames: int, max_pixels: int, num_frames: int | None = None,
                    sampling: str = "uniform", fps: float | None = None) -> MedicalImage:
    """Load the (selected) frames of a video file (module docstring)."""
    av = _av()
    with _open(path) as container:
        n, rate, start, height, width = _header(path, container)
        times = np.arange(n, dtype=np.float64) / rate
        sel = select_frames(n, num_frames, sampling, times=times, fps=fps)
        check_video_limits(path, len(sel.indices), height, width, 3, max_frames=max_frames, max_pixels=max_pixels,
                           max_bytes=max_bytes)
        out = np.empty((len(sel.indices), height, width, 3), dtype=np.float32)  # (T, H, W, C)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        targets = start + times[sel.indices]
        half = 0.5 / rate
        k, last = 0, None  # next output row; the last decoded frame (RGB uint8) and its time
        try:
            while k < len(targets):
                if last is None or targets[k] - last[1] > SEEK_GAP_S:
                    container.seek(int(max(0.0, targets[k] - 1.0) / stream.time_base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    t = float(frame.time) if frame.time is not None else (last[1] + 1 / rate if last else start)
                    if t + half < targets[k]:
                        continue
                    last = (frame.to_ndarray(format="rgb24"), t)
                    while k < len(targets) and targets[k] < t + half:
                        k += _store(path, out, k, last[0], height, width)
                    if k == len(targets) or targets[k] - t > SEEK_GAP_S:
                        break
                else:  # the stream ended: its last frame stands for the times after it (a rounded frame count)
                    if last is None or k < len(targets) - 1 or targets[k] - last[1] > 2.0 / rate:
                        raise ImageLoadError(path, f"video ends early: {k} of {len(targets)} frames read "
                                                   f"(truncated file, or a header that overstates its length)")
                    k += _store(path, out, k, last[0], height, width)
        except av.error.FFmpegError as e:
            raise ImageLoadError(path, f"cannot decode the video ({type(e).__name__}: {str(e)[:120]})") from None
        codec = stream.codec_context.name
        container_format = container.format.name
    meta = video_meta(n, sel, 1000.0 / rate, "container", n / rate)
    meta.update(codec=codec, container=container_format, modality=None, burned_in_annotation=None)
    return MedicalImage(out, None, None, "video", "video", meta)


def _store(path: Path, out: np.ndarray, k: int, rgb: np.ndarray, height: int, width: int) -> int:
    if rgb.shape != (height, width, 3):
        raise ImageLoadError(path, f"frame size changes mid-stream ({rgb.shape[1]} x {rgb.shape[0]}, "
                                   f"header says {width} x {height})")
    np.multiply(rgb, np.float32(1 / 255), out=out[k], casting="unsafe")
    return 1
