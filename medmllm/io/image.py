"""``load_image``: one entry point for every medical image format, dispatched on content.

The format is decided from the first bytes of the file (:func:`~medmllm.io.detect.sniff`: DICOM
preamble, zip, gzip, NIfTI header, NRRD magic, PNG/JPEG/TIFF signatures), never from the
extension alone. A folder, a zip or a list of files is read as a DICOM series. Every reader
validates as it goes and raises :class:`~medmllm.io.errors.ImageLoadError` with one line naming
the file and the problem. Shared types and limits live in :mod:`medmllm.io.types` (re-exported
here); the readers import them from there, never from this module.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from medmllm.io.detect import sniff
from medmllm.io.errors import ImageLoadError
from medmllm.io.overrides import RESCALE_FORMATS, apply_spacing, check_rescale, check_spacing
from medmllm.io.types import (DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, KINDS, SOURCE_FORMATS, MedicalImage,
                              check_decoded_size, check_finite, human_bytes)

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_FILES", "KINDS", "SOURCE_FORMATS", "MedicalImage", "check_decoded_size",
           "check_finite", "human_bytes", "load_image", "sniff"]


def _check_kind(path: Path, img: MedicalImage, kind: str | None) -> MedicalImage:
    if kind is None or img.kind == kind:
        return img
    raise ImageLoadError(path, f"loads as kind '{img.kind}' ({img.source_format}), expected '{kind}'")


def load_image(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    series: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    kind: str | None = None,
    max_files: int = DEFAULT_MAX_FILES,
    workers: int = 1,
    spacing: Sequence[float] | None = None,
    rescale: Sequence[float] | Mapping[str, float] | None = None,
) -> MedicalImage:
    """Load a medical image from a file, a folder, a zip or a list of DICOM files.

    Args:
        source: a DICOM file (X-ray, single CT slice, enhanced multi-frame CT, cine clip), a folder /
            zip / list of DICOM files (one CT series), a NIfTI (``.nii``, ``.nii.gz``) or NRRD volume,
            a PNG / JPEG / TIFF image, or a video file (every frame; :func:`medmllm.io.video.load_video`
            samples frames). The format is read from the content.
        series: SeriesInstanceUID (or SeriesNumber) to pick when a folder holds several series.
        max_bytes: refuse images whose decoded float32 array, stored pixel data, or any
            decompressed content (zip, gzip, deflated DICOM, NRRD encodings) would be larger
            than this. Checked from headers before anything is allocated, and counted while
            decompressing whatever the file is called.
        kind: the expected kind (``xray``, ``image``, ``ct``, ``video``). For DICOM it chooses the
            X-ray, CT or cine pipeline when the modality is unusual; for PNG/JPEG/TIFF ``xray`` converts colour
            to grayscale and ``image`` repeats grayscale to 3 channels; otherwise a mismatch is
            an error.
        max_files: most files a folder or zip may hold.
        workers: threads reading the files of a DICOM series (1 reads in this thread).
        spacing: voxel size to use instead of the header's, in array axis order (``(d, h, w)`` mm
            for CT, ``(row, col)`` for 2D); the affine keeps the header's directions
            (:mod:`medmllm.io.overrides`).
        rescale: ``(slope, intercept)`` or ``{"slope", "intercept"}`` replacing the stored
            intensity scaling of a NIfTI / NRRD volume: value = stored x slope + intercept.

    Returns:
        The :class:`MedicalImage`.

    Raises:
        ImageLoadError: the input is missing, empty, unreadable, inconsistent or over a limit.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    label = source[0] if isinstance(source, (list, tuple)) and source else source
    spacing = check_spacing(label, spacing)
    img = _load(source, series=series, max_bytes=max_bytes, kind=kind, max_files=max_files, workers=workers,
                rescale=check_rescale(label, rescale))
    return img if spacing is None else apply_spacing(label, img, spacing)


def _no_rescale(path: Path, fmt: str, rescale: tuple[float, float] | None) -> None:
    if rescale is not None and fmt not in RESCALE_FORMATS:
        raise ImageLoadError(path, f"a rescale override applies to {' / '.join(RESCALE_FORMATS)} volumes only, "
                                   f"not {fmt} (DICOM files carry their own rescale)")


def _load(source: str | os.PathLike | Sequence[str | os.PathLike], *, series: str | None, max_bytes: int,
          kind: str | None, max_files: int, workers: int, rescale: tuple[float, float] | None) -> MedicalImage:
    """:func:`load_image` once its arguments are checked."""
    if isinstance(source, (list, tuple)):
        from medmllm.io.series import load_series_files

        if not source:
            raise ImageLoadError("<list>", "empty list of files")
        _no_rescale(Path(source[0]), "dicom-series", rescale)
        img = load_series_files([Path(s) for s in source], series=series, max_bytes=max_bytes,
                                label=Path(source[0]).parent, workers=workers, kind=kind)
        return _check_kind(Path(source[0]), img, kind)
    path = Path(source)
    if not path.exists():
        raise ImageLoadError(path, "file not found")
    if path.is_dir():
        from medmllm.io.series import load_series_folder

        _no_rescale(path, "dicom-series", rescale)
        img = load_series_folder(path, series=series, max_bytes=max_bytes, max_files=max_files,
                                 workers=workers, kind=kind)
        return _check_kind(path, img, kind)
    fmt = sniff(path)
    _no_rescale(path, fmt, rescale)
    if fmt == "zip":
        from medmllm.io.archive import extract_zip
        from medmllm.io.series import load_series_folder

        with tempfile.TemporaryDirectory(prefix="medmllm-zip-") as tmp:
            extract_zip(path, tmp, max_total_bytes=max_bytes, max_entries=max_files)
            img = load_series_folder(Path(tmp), series=series, max_bytes=max_bytes, max_files=max_files,
                                     workers=workers, kind=kind, label=path)
        return _check_kind(path, img, kind)
    if fmt == "dicom":
        from medmllm.io.dicom_file import read_dicom_file

        img = read_dicom_file(path, max_bytes=max_bytes, kind=kind)
    elif fmt == "nifti":
        from medmllm.io.nifti import read_nifti

        img = read_nifti(path, max_bytes=max_bytes, rescale=rescale)
    elif fmt == "nrrd":
        from medmllm.io.nrrd_volume import read_nrrd

        img = read_nrrd(path, max_bytes=max_bytes, rescale=rescale)
    elif fmt == "video":
        from medmllm.io.frames import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS
        from medmllm.io.video_file import read_video_file

        img = read_video_file(path, max_bytes=max_bytes, max_frames=DEFAULT_MAX_FRAMES, max_pixels=DEFAULT_MAX_PIXELS,
                              num_frames=None)
    else:
        from medmllm.io.raster import read_raster

        img = read_raster(path, fmt, max_bytes=max_bytes, kind=kind)
    return _check_kind(path, img, kind)
