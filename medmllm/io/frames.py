"""Which frames of a clip to read: uniform or fps-based sampling, frame timing, and the limits of a video.

Sampling is decided from the header alone (frame count and timing), before any frame is decoded,
so a one-hour video costs only the frames that are kept.

- ``all``: every frame.
- ``uniform``: ``N`` frames at the centres of ``N`` equal segments of the clip (frame
  ``floor((k + 0.5) * n / N)``; one frame is the middle one; a clip shorter than ``N`` frames
  repeats frames).
- ``fps``: one frame every ``1 / fps`` seconds from the start (the last frame shown at each time), so
  a second of motion spans the same number of frames in every clip. More than ``N`` such times:
  ``N`` of them uniformly; fewer: the last one is repeated up to ``N`` (``padded`` says how many).
  A clip without timing falls back to ``uniform`` (``timing`` is None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.types import human_bytes

SAMPLINGS = ("all", "uniform", "fps")
DEFAULT_MAX_FRAMES = 4096
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024  # per frame (8192 x 8192)


@dataclass
class FrameSelection:
    """The frames to decode.

    Attributes:
        indices: frame numbers in the clip, in display order (repeats where the clip is stretched or padded).
        times: display time of each selected frame in seconds, or None when the clip has no timing.
        sampling: the rule that chose them (``fps`` falls back to ``uniform`` without timing).
        padded: frames repeated at the end to reach ``N`` (``fps`` on a short clip).
    """

    indices: np.ndarray
    times: np.ndarray | None
    sampling: str
    padded: int = 0


def uniform_indices(n_frames: int, num: int) -> np.ndarray:
    """``num`` frame numbers at the centres of ``num`` equal segments of ``n_frames`` frames."""
    k = np.arange(num, dtype=np.float64)
    return np.minimum(np.floor((k + 0.5) * n_frames / num), n_frames - 1).astype(np.int64)


def select_frames(n_frames: int, num_frames: int | None = None, sampling: str = "uniform", *,
                  times: np.ndarray | None = None, fps: float | None = None) -> FrameSelection:
    """Choose the frames of a clip to decode.

    Args:
        n_frames: frames in the clip (>= 1).
        num_frames: ``N``, frames wanted (None: every frame, whatever ``sampling``).
        sampling: ``all``, ``uniform`` or ``fps`` (module docstring).
        times: display time of every frame in seconds (``(n_frames,)``), or None when unknown.
        fps: frames per second of ``fps`` sampling.

    Returns:
        The :class:`FrameSelection`.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if n_frames < 1:
        raise ValueError(f"a clip has at least one frame, got {n_frames}")
    if num_frames is None or sampling == "all":
        idx = np.arange(n_frames, dtype=np.int64)
        return FrameSelection(idx, None if times is None else times[idx], "all")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if sampling == "fps" and times is not None:
        if fps is None or not fps > 0:
            raise ValueError(f"fps sampling needs fps > 0, got {fps}")
        span = float(times[-1] - times[0])
        targets = times[0] + np.arange(int(np.floor(span * fps + 1e-9)) + 1) / fps
        if len(targets) > num_frames:
            targets = targets[uniform_indices(len(targets), num_frames)]
        idx = np.searchsorted(times, targets + 1e-9, side="right") - 1
        padded = num_frames - len(idx)
        idx = np.concatenate([idx, np.full(padded, idx[-1])]).astype(np.int64)
        return FrameSelection(idx, times[idx], "fps", padded)
    idx = uniform_indices(n_frames, num_frames)
    return FrameSelection(idx, None if times is None else times[idx], "uniform")


def check_video_limits(path: str | os.PathLike, n_selected: int, height: int, width: int, channels: int, *,
                       max_frames: int, max_pixels: int, max_bytes: int) -> None:
    """Refuse, from the header, a clip whose frames or decoded float32 array are over the limits."""
    if height * width > max_pixels:
        raise ImageLoadError(path, f"frames of {width} x {height} pixels are over the limit of {max_pixels} pixels "
                                   "(raise it with max_pixels=)")
    if n_selected > max_frames:
        raise ImageLoadError(path, f"{n_selected} frames to load is over the limit of {max_frames} (sample fewer "
                                   "with num_frames= / --frames, or raise max_frames=)")
    nbytes = n_selected * height * width * channels * 4
    if nbytes > max_bytes:
        raise ImageLoadError(path, f"decoded size {human_bytes(nbytes)} ({n_selected} frames x {height} x {width} x "
                                   f"{channels}) is over the limit of {human_bytes(max_bytes)} (sample fewer frames "
                                   "with num_frames= / --frames, or raise max_bytes= / --max-bytes)")


def video_meta(n_frames: int, selection: FrameSelection, frame_time_ms: float | None, timing: str | None,
               duration_s: float | None) -> dict:
    """The timing facts of a loaded clip for :attr:`~medmllm.io.types.MedicalImage.meta`."""
    return {"frames_total": int(n_frames), "frames_loaded": int(len(selection.indices)),
            "frame_indices": [int(i) for i in selection.indices],
            "frame_times_s": None if selection.times is None else [round(float(t), 6) for t in selection.times],
            "frame_time_ms": None if frame_time_ms is None else round(float(frame_time_ms), 6),
            "fps": None if not frame_time_ms else round(1000.0 / float(frame_time_ms), 6),
            "duration_s": None if duration_s is None else round(float(duration_s), 6),
            "timing": timing, "sampling": selection.sampling, "padded_frames": int(selection.padded)}
