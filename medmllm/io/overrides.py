"""Per-image overrides of spacing and intensity rescale, for sources whose headers are wrong.

Some public releases ship volumes whose headers do not hold the scan's real geometry or
intensity scaling (CT-RATE's NIfTI files; the true values are in the release's metadata CSV).
A manifest image entry then carries ``spacing`` and ``rescale`` (:mod:`medmllm.data.schema`), and
:func:`medmllm.io.load_image` applies them:

- ``rescale = (slope, intercept)`` replaces the stored scaling: voxel = stored value x slope +
  intercept (the header's own scl_slope / scl_inter are ignored). NIfTI and NRRD only: DICOM
  files carry a rescale per file, which is read as stored.
- ``spacing`` replaces the voxel size along each array axis, ``(d, h, w)`` mm for CT (``(row,
  col)`` for 2D images); the affine keeps the header's directions and origin, its columns
  scaled to the new sizes.

What the header said is kept in ``meta["header_spacing"]`` / ``meta["header_rescale"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.types import MedicalImage, check_number

RESCALE_FORMATS = ("nifti", "nrrd")


def check_rescale(path: str | os.PathLike, rescale: Any) -> tuple[float, float] | None:
    """``(slope, intercept)`` from a pair or ``{"slope", "intercept"}``; None stays None."""
    if rescale is None:
        return None
    if isinstance(rescale, Mapping):
        if set(rescale) != {"slope", "intercept"}:
            raise ImageLoadError(path, f"rescale override must have 'slope' and 'intercept', got {sorted(rescale)}")
        pair = (rescale["slope"], rescale["intercept"])
    elif isinstance(rescale, (list, tuple)) and len(rescale) == 2:
        pair = tuple(rescale)
    else:
        raise ImageLoadError(path, f"rescale override must be (slope, intercept), got {rescale!r}")
    slope = check_number(path, "rescale slope", pair[0])
    if slope == 0:
        raise ImageLoadError(path, "rescale slope is 0; every voxel would be the intercept")
    return slope, check_number(path, "rescale intercept", pair[1])


def check_spacing(path: str | os.PathLike, spacing: Any) -> tuple[float, ...] | None:
    """Spacing as a tuple of finite positive mm; None stays None."""
    if spacing is None:
        return None
    if not isinstance(spacing, (list, tuple)) or len(spacing) not in (2, 3):
        raise ImageLoadError(path, f"spacing override must be 2 or 3 numbers (mm), got {spacing!r}")
    return tuple(check_number(path, "spacing override", s, positive=True) for s in spacing)


def apply_spacing(path: str | os.PathLike, img: MedicalImage, spacing: Sequence[float]) -> MedicalImage:
    """``img`` with its voxel sizes replaced by ``spacing`` (array axis order)."""
    spatial = 3 if img.kind == "ct" else 2
    if len(spacing) != spatial:
        raise ImageLoadError(path, f"spacing override has {len(spacing)} values; a {img.kind} image needs {spatial}")
    img.meta["header_spacing"] = None if img.spacing is None else [float(s) for s in img.spacing]
    if img.affine is not None:
        aff = np.array(img.affine, dtype=np.float64)
        for k, s in enumerate(spacing):
            norm = float(np.linalg.norm(aff[:3, k]))
            aff[:3, k] = aff[:3, k] / norm * s if norm > 0 else 0.0
        img.affine = aff
    img.spacing = tuple(float(s) for s in spacing)
    return img
