"""``load_video``: a clip (multi-frame DICOM cine or a video file) as a ``video`` MedicalImage, frames sampled.

:func:`medmllm.io.load_image` reads the same files with every frame (within the limits); this entry
point adds the frame selection of :mod:`medmllm.io.frames` (uniform or fps-based, decided from the
header before anything is decoded), which the model's video transforms use. The format is read from
the content: DICOM goes to :mod:`medmllm.io.dicom_cine` (any DICOM image, a single frame included,
loads as a clip here), MP4 / MOV / WebM / Matroska / AVI / MPEG to :mod:`medmllm.io.video_file`.
"""

from __future__ import annotations

import os
from pathlib import Path

from medmllm.io.detect import sniff
from medmllm.io.errors import ImageLoadError
from medmllm.io.frames import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, SAMPLINGS
from medmllm.io.types import DEFAULT_MAX_BYTES, MedicalImage

__all__ = ["DEFAULT_MAX_FRAMES", "DEFAULT_MAX_PIXELS", "SAMPLINGS", "load_video"]


def load_video(source: str | os.PathLike, *, num_frames: int | None = None, sampling: str = "uniform",
               fps: float | None = None, max_frames: int = DEFAULT_MAX_FRAMES, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> MedicalImage:
    """Load a clip.

    Args:
        source: a DICOM file (cine US / XA / RF / ES, any multi-frame 2D image, or one frame) or a video
            file (MP4, MOV, WebM, MKV, AVI, MPEG).
        num_frames: frames to keep (None: all of them).
        sampling: ``uniform`` (segment centres), ``fps`` (one frame every ``1 / fps`` s, padded or
            thinned to ``num_frames``) or ``all``.
        fps: the rate of ``fps`` sampling.
        max_frames: most frames that may be decoded.
        max_pixels: most pixels per frame.
        max_bytes: most bytes of the decoded float32 frames (and of stored DICOM pixel data).

    Returns:
        A :class:`MedicalImage` of kind ``video``: ``array`` ``(T, H, W, C)`` float32 in [0, 1]
        (``C`` 3 for colour, 1 for grayscale DICOM), ``meta`` with ``frames_total``, ``frame_indices``,
        ``frame_times_s``, ``frame_time_ms``, ``fps``, ``duration_s``, ``timing``, ``sampling``.

    Raises:
        ImageLoadError: not a clip, unreadable, or over a limit (one line).
        MissingDependencyError: a video file without PyAV installed.
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if sampling == "fps" and not (fps and fps > 0):
        raise ValueError(f"fps sampling needs fps > 0, got {fps}")
    path = Path(source)
    fmt = sniff(path)
    opts = dict(num_frames=num_frames, sampling=sampling, fps=fps, max_frames=max_frames, max_pixels=max_pixels)
    if fmt == "dicom":
        from medmllm.io.dicom_file import read_dicom_file

        return read_dicom_file(path, max_bytes=max_bytes, kind="video", **opts)
    if fmt == "video":
        from medmllm.io.video_file import read_video_file

        return read_video_file(path, max_bytes=max_bytes, **opts)
    raise ImageLoadError(path, f"a {fmt} file is not a clip (expected a multi-frame DICOM or a video file)")
