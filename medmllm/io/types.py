"""Shared types, limits and checks of image reading (imported by every reader; imports no reader).

``max_bytes`` bounds two things for every format: the decoded float32 array
(:func:`check_decoded_size`, from the header, before anything is allocated) and the bytes any
decompression may produce (:func:`check_stored_size`, and the counting streams of
:mod:`medmllm.io.streams`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from medmllm.io.errors import ImageLoadError

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_FILES = 10_000
KINDS = ("xray", "image", "ct", "video")
SOURCE_FORMATS = ("dicom", "dicom-series", "nifti", "nrrd", "png", "jpeg", "tiff", "video")
_BLOCK_ELEMENTS = 1 << 22  # elements per block when scanning large arrays (16 MiB of float32)


@dataclass
class MedicalImage:
    """A loaded image in the layout of CONTRACTS.md.

    Attributes:
        array: float32; ``xray`` ``(H, W)`` in [0, 1] bone bright; ``image`` ``(H, W, 3)`` in
            [0, 1]; ``ct`` ``(D, H, W)`` in HU, D inferior -> superior, H anterior -> posterior,
            W patient right -> left; ``video`` ``(T, H, W, C)`` in [0, 1], frames in display order,
            ``C`` 3 (colour) or 1 (grayscale DICOM), timing in ``meta`` (:mod:`medmllm.io.frames`).
        spacing: ``(row, col)`` mm for 2D and video frames, ``(d, h, w)`` mm for CT, or None when unknown.
        affine: CT only: 4x4 voxel ``(d, h, w)`` -> patient LPS mm; None otherwise.
        kind: ``xray``, ``image``, ``ct`` or ``video``.
        source_format: ``dicom``, ``dicom-series``, ``nifti``, ``nrrd``, ``png``, ``jpeg``, ``tiff``, ``video``
            (a video file; ``meta['container']`` names it).
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


def check_stored_size(path: str | os.PathLike, nbytes: int, max_bytes: int, what: str) -> None:
    """Refuse to read (or decompress) ``nbytes`` of stored data when that is over ``max_bytes``."""
    if nbytes > max_bytes:
        raise ImageLoadError(path, f"{what} of {human_bytes(nbytes)} is over the limit of {human_bytes(max_bytes)} "
                                   "(raise it with max_bytes= / --max-bytes)")


def count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """``(NaN count, infinity count)`` of an array, scanned in blocks (no full-size temporaries)."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return 0, 0
    blocks = array.reshape(1, *array.shape) if array.ndim < 2 else array
    step = max(1, _BLOCK_ELEMENTS // max(1, blocks[0].size))
    n_nan = n_inf = 0
    for i in range(0, blocks.shape[0], step):
        block = blocks[i:i + step]
        if not np.isfinite(block).all():
            n_nan += int(np.isnan(block).sum())
            n_inf += int(np.isinf(block).sum())
    return n_nan, n_inf


def nonfinite_error(path: str | os.PathLike, n_nan: int, n_inf: int) -> ImageLoadError:
    """The one error for NaN / infinite voxel values."""
    return ImageLoadError(path, f"image holds non-finite values ({n_nan} NaN, {n_inf} inf)")


def check_finite(path: str | os.PathLike, array: np.ndarray) -> None:
    """Refuse arrays holding NaN or infinity (only float sources can)."""
    n_nan, n_inf = count_nonfinite(array)
    if n_nan or n_inf:
        raise nonfinite_error(path, n_nan, n_inf)


def check_number(path: str | os.PathLike, name: str, value: Any, *, positive: bool = False) -> float:
    """``float(value)``, refused with a one-line error when it is not a finite number (or not > 0)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ImageLoadError(path, f"{name} is not a number ({str(value)[:40]!r})") from None
    if not np.isfinite(out) or (positive and out <= 0):
        raise ImageLoadError(path, f"{name} is {out:g}; expected a finite{' positive' if positive else ''} number")
    return out


def check_image_shape(path: str | os.PathLike, shape: Sequence[int]) -> None:
    """An image needs at least 2 voxels along two axes (``1 x 1 x 1`` or ``1 x N`` is not an image)."""
    if any(int(s) < 1 for s in shape):
        raise ImageLoadError(path, f"shape {tuple(int(s) for s in shape)} has an empty axis")
    if sum(int(s) > 1 for s in shape) < 2:
        dims = " x ".join(str(int(s)) for s in shape)
        raise ImageLoadError(path, f"{dims} voxels is not an image (need at least 2 voxels along two axes)")


def volume_shape(path: str | os.PathLike, shape: Sequence[int]) -> tuple[int, int, int]:
    """A stored volume shape as 3D: trailing size-1 axes dropped, 2D given one slice; checked to be an image."""
    out = tuple(int(s) for s in shape)
    while len(out) > 3 and out[-1] == 1:
        out = out[:-1]
    if len(out) > 3:
        raise ImageLoadError(path, f"{len(out)}D volume (shape {out}) is not supported; expected one 3D volume")
    if len(out) < 2:
        raise ImageLoadError(path, f"volume of shape {out} is not an image")
    check_image_shape(path, out)
    return out + (1,) * (3 - len(out))  # type: ignore[return-value]
