"""``load_image``: one entry point for every medical image format, dispatched on content.

The format is decided from the first bytes of the file (DICOM preamble, zip, gzip, NIfTI
header, NRRD magic, PNG/JPEG/TIFF signatures), never from the extension alone. A folder, a zip
or a list of files is read as a DICOM series. Every reader validates as it goes and raises
:class:`~medmllm.io.errors.ImageLoadError` with one line naming the file and the problem.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from medmllm.io.errors import ImageLoadError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_FILES = 10_000
KINDS = ("xray", "image", "ct")
SOURCE_FORMATS = ("dicom", "dicom-series", "nifti", "nrrd", "png", "jpeg", "tiff")


@dataclass
class MedicalImage:
    """A loaded image in the layout of CONTRACTS.md.

    Attributes:
        array: float32; ``xray`` ``(H, W)`` in [0, 1] bone bright; ``image`` ``(H, W, 3)`` in
            [0, 1]; ``ct`` ``(D, H, W)`` in HU, D inferior -> superior, H anterior -> posterior,
            W patient right -> left.
        spacing: ``(row, col)`` mm for 2D, ``(d, h, w)`` mm for CT, or None when unknown.
        affine: CT only: 4x4 voxel ``(d, h, w)`` -> patient LPS mm; None otherwise.
        kind: ``xray``, ``image`` or ``ct``.
        source_format: ``dicom``, ``dicom-series``, ``nifti``, ``nrrd``, ``png``, ``jpeg``, ``tiff``.
        meta: technical facts built from an allow-list (modality, body part, view, photometric
            interpretation, manufacturer model, series description, slice count, burned-in
            annotation flag ...). Never patient identifiers.
    """

    array: np.ndarray
    spacing: tuple[float, ...] | None
    affine: np.ndarray | None
    kind: str
    source_format: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


def human_bytes(n: float) -> str:
    """``2147483648`` -> ``'2.0 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def check_decoded_size(path: str | os.PathLike, shape: Sequence[int], max_bytes: int) -> None:
    """Refuse to decode an image whose float32 array would exceed ``max_bytes``."""
    nbytes = int(np.prod([int(s) for s in shape], dtype=np.float64)) * 4
    if nbytes > max_bytes:
        dims = " x ".join(str(int(s)) for s in shape)
        raise ImageLoadError(
            path, f"decoded size {human_bytes(nbytes)} ({dims} voxels) is over the limit of "
            f"{human_bytes(max_bytes)} (raise it with max_bytes= / --max-bytes)"
        )


def check_finite(path: str | os.PathLike, array: np.ndarray) -> None:
    """Refuse arrays holding NaN or infinity (only float sources can)."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        n_nan = int(np.isnan(array).sum())
        n_inf = int(np.isinf(array).sum())
        raise ImageLoadError(path, f"image holds non-finite values ({n_nan} NaN, {n_inf} inf)")


def _read_head(path: Path, n: int = 1024) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _is_nifti_header(head: bytes) -> bool:
    if len(head) >= 348:
        for endian in "<>":
            size = struct.unpack(endian + "i", head[:4])[0]
            if size == 348 and head[344:347] in (b"n+1", b"ni1"):
                return True
            if size == 540 and head[4:7] in (b"n+2", b"ni2"):
                return True
    return False


def sniff(path: str | os.PathLike) -> str:
    """The format of a file from its content.

    Returns:
        One of ``dicom``, ``zip``, ``nifti``, ``nrrd``, ``png``, ``jpeg``, ``tiff``.

    Raises:
        ImageLoadError: not found, empty, or not a recognised medical image.
    """
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(p, "file not found")
    if p.is_dir():
        raise ImageLoadError(p, "is a folder, expected a file")
    if p.stat().st_size == 0:
        raise ImageLoadError(p, "empty file (0 bytes)")
    head = _read_head(p)
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"NRRD":
        return "nrrd"
    if _is_nifti_header(head):
        return "nifti"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as f:
                inner = f.read(600)
        except (OSError, EOFError, zlib.error):
            raise ImageLoadError(p, "corrupt or truncated gzip file") from None
        if _is_nifti_header(inner):
            return "nifti"
        if inner[:4] == b"NRRD":
            return "nrrd"
        raise ImageLoadError(p, "gzip file that holds no NIfTI or NRRD image")
    # DICOM written without the 128-byte preamble: starts with a group 0002 or 0008 tag.
    if head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00":
        return "dicom"
    raise ImageLoadError(
        p, "not a medical image (content is not DICOM, NIfTI, NRRD, PNG, JPEG, TIFF or a zip of DICOM files)"
    )


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
) -> MedicalImage:
    """Load a medical image from a file, a folder, a zip or a list of DICOM files.

    Args:
        source: a DICOM file (X-ray, single CT slice, enhanced multi-frame CT), a folder / zip /
            list of DICOM files (one CT series), a NIfTI (``.nii``, ``.nii.gz``) or NRRD volume,
            or a PNG / JPEG / TIFF image. The format is read from the content.
        series: SeriesInstanceUID (or SeriesNumber) to pick when a folder holds several series.
        max_bytes: refuse images whose decoded float32 array (or a zip's unpacked content)
            would be larger than this.
        kind: the expected kind (``xray``, ``image``, ``ct``). For DICOM it chooses the X-ray or
            CT pipeline when the modality is unusual; for PNG/JPEG/TIFF ``xray`` converts colour
            to grayscale and ``image`` repeats grayscale to 3 channels; otherwise a mismatch is
            an error.
        max_files: most files a folder or zip may hold.
        workers: threads reading the files of a DICOM series (1 reads in this thread).

    Returns:
        The :class:`MedicalImage`.

    Raises:
        ImageLoadError: the input is missing, empty, unreadable, inconsistent or over a limit.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if isinstance(source, (list, tuple)):
        from medmllm.io.series import load_series_files

        if not source:
            raise ImageLoadError("<list>", "empty list of files")
        img = load_series_files([Path(s) for s in source], series=series, max_bytes=max_bytes,
                                label=Path(source[0]).parent, workers=workers, kind=kind)
        return _check_kind(Path(source[0]), img, kind)
    path = Path(source)
    if not path.exists():
        raise ImageLoadError(path, "file not found")
    if path.is_dir():
        from medmllm.io.series import load_series_folder

        img = load_series_folder(path, series=series, max_bytes=max_bytes, max_files=max_files,
                                 workers=workers, kind=kind)
        return _check_kind(path, img, kind)
    fmt = sniff(path)
    if fmt == "zip":
        from medmllm.io.archive import extract_zip
        from medmllm.io.series import load_series_folder

        with tempfile.TemporaryDirectory(prefix="medmllm-zip-") as tmp:
            extract_zip(path, tmp, max_total_bytes=max_bytes, max_entries=max_files)
            img = load_series_folder(Path(tmp), series=series, max_bytes=max_bytes, max_files=max_files,
                                     workers=workers, kind=kind, label=path)
        return _check_kind(path, img, kind)
    if fmt == "dicom":
        from medmllm.io.dicom import read_dicom_file

        img = read_dicom_file(path, max_bytes=max_bytes, kind=kind)
    elif fmt == "nifti":
        from medmllm.io.nifti import read_nifti

        img = read_nifti(path, max_bytes=max_bytes)
    elif fmt == "nrrd":
        from medmllm.io.nifti import read_nrrd

        img = read_nrrd(path, max_bytes=max_bytes)
    else:
        from medmllm.io.raster import read_raster

        img = read_raster(path, fmt, max_bytes=max_bytes, kind=kind)
    return _check_kind(path, img, kind)
