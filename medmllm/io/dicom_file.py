"""One DICOM file -> :class:`MedicalImage`: the X-ray pipeline, a CT slice, or an enhanced multi-frame CT."""

from __future__ import annotations

from pathlib import Path

from medmllm.io import dicom as D
from medmllm.io.dicom_ct import ct_slice_from_dataset, load_multiframe_ct
from medmllm.io.dicom_xray import xray_from_dataset
from medmllm.io.types import MedicalImage


def read_dicom_file(path: Path, *, max_bytes: int, kind: str | None = None) -> MedicalImage:
    """Load one DICOM file: an X-ray, a single CT slice, or an enhanced multi-frame CT."""
    with D.capture_pydicom_messages() as messages:  # pydicom's warnings never reach the user's terminal
        ds = D.read_dataset(path, max_bytes=max_bytes)
        D.require_pixels(path, ds, messages)
        if D.image_kind(path, ds, kind) == "ct":
            if D.positive_int(path, ds, "NumberOfFrames", 1) > 1:
                return load_multiframe_ct(path, ds, max_bytes=max_bytes)
            return ct_slice_from_dataset(path, ds, max_bytes=max_bytes)
        return xray_from_dataset(path, ds, max_bytes=max_bytes, kind=kind)
