"""One DICOM file -> :class:`MedicalImage`: the X-ray pipeline, a CT slice, an enhanced multi-frame CT, or a
cine clip (multi-frame US / XA / RF / ES ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medmllm.io import dicom as D
from medmllm.io.dicom_ct import ct_slice_from_dataset, load_multiframe_ct
from medmllm.io.dicom_xray import xray_from_dataset
from medmllm.io.frames import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS
from medmllm.io.types import MedicalImage


def read_dicom_file(path: Path, *, max_bytes: int, kind: str | None = None, **video: Any) -> MedicalImage:
    """Load one DICOM file: an X-ray, a single CT slice, an enhanced multi-frame CT, or a clip.

    Args:
        path: the file.
        max_bytes: the limit of :func:`medmllm.io.load_image`.
        kind: the expected kind (chooses the pipeline when the modality is unusual).
        **video: for clips, the frame selection and limits of :func:`medmllm.io.video.load_video`
            (``num_frames``, ``sampling``, ``fps``, ``max_frames``, ``max_pixels``).
    """
    with D.capture_pydicom_messages() as messages:  # pydicom's warnings never reach the user's terminal
        ds = D.read_dataset(path, max_bytes=max_bytes)
        D.require_pixels(path, ds, messages)
        pipeline = D.image_kind(path, ds, kind)
        if pipeline == "video":
            from medmllm.io.dicom_cine import cine_from_dataset

            video.setdefault("max_frames", DEFAULT_MAX_FRAMES)
            video.setdefault("max_pixels", DEFAULT_MAX_PIXELS)
            return cine_from_dataset(path, ds, max_bytes=max_bytes, **video)
        if pipeline == "ct":
            if D.positive_int(path, ds, "NumberOfFrames", 1) > 1:
                return load_multiframe_ct(path, ds, max_bytes=max_bytes)
            return ct_slice_from_dataset(path, ds, max_bytes=max_bytes)
        return xray_from_dataset(path, ds, max_bytes=max_bytes, kind=kind)
