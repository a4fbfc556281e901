"""Reorientation of volumes to the canonical CT axes of CONTRACTS.md.

Canonical: array axes ``(d, h, w)`` run inferior -> superior, anterior -> posterior, patient
right -> left; in DICOM patient coordinates (LPS) that is ``+z, +y, +x``. Volumes from any
source are permuted and flipped (no resampling) to the closest canonical orientation, and the
affine (voxel -> LPS mm) is updated so that it still maps every voxel to the same place.

Readers that build a volume piece by piece allocate it with :func:`canonical_array`: the array
comes out in the canonical layout, contiguous, and the reader writes through a view in the
stored axis order, so no reoriented copy is ever made.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Output array axis k follows LPS world axis _TARGET[k] in the positive direction.
_TARGET = (2, 1, 0)
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _layout(affine_lps: np.ndarray, shape: Sequence[int]) -> tuple[list[int], list[bool], np.ndarray]:
    """``(perm, flips, new_affine)``: canonical axis k is stored axis ``perm[k]``, reversed when ``flips[k]``."""
    from nibabel.orientations import io_orientation

    aff = np.asarray(affine_lps, dtype=np.float64)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-12:
        raise ValueError(f"cannot determine the orientation of the affine {aff.tolist()}")
    ornt = io_orientation(aff)  # per voxel axis: (world axis, +1/-1)
    perm, flips = [], []
    for k in range(3):
        src = [i for i in range(3) if ornt[i, 0] == _TARGET[k]]
        if len(src) != 1:
            raise ValueError(f"cannot determine the orientation of the affine {aff.tolist()}")
        perm.append(src[0])
        flips.append(bool(ornt[src[0], 1] < 0))
    new = np.eye(4)
    new[:3, 3] = aff[:3, 3]
    for k, (i, flip) in enumerate(zip(perm, flips)):
        col = aff[:3, i]
        if flip:
            new[:3, 3] += col * (int(shape[i]) - 1)
            col = -col
        new[:3, k] = col
    return perm, flips, new


def _flipped(array: np.ndarray, flips: Sequence[bool]) -> np.ndarray:
    if not any(flips):
        return array
    return array[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]


def reorient_to_canonical(array: np.ndarray, affine_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute/flip a 3D array so its axes are (inferior->superior, anterior->posterior, right->left).

    Args:
        array: ``(A, B, C)`` volume.
        affine_lps: 4x4 voxel ``(a, b, c)`` -> LPS mm.

    Returns:
        ``(array, affine)``: the reoriented volume (a view where possible) and its affine.

    Raises:
        ValueError: the affine is singular or not finite.
    """
    perm, flips, new = _layout(affine_lps, array.shape)
    return _flipped(np.transpose(array, perm), flips), new


def canonical_array(shape: Sequence[int], affine_lps: np.ndarray,
                    dtype: np.dtype | type = np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allocate a volume of stored shape ``shape`` directly in the canonical layout.

    Args:
        shape: ``(A, B, C)`` in the stored axis order.
        affine_lps: 4x4 voxel ``(a, b, c)`` -> LPS mm of the stored axes.
        dtype: the array's dtype.

    Returns:
        ``(array, stored_view, affine)``: the contiguous canonical array, a view of it indexed
        like the stored data (write the data through it), and the canonical affine.

    Raises:
        ValueError: the affine is singular or not finite.
    """
    perm, flips, new = _layout(affine_lps, shape)
    out = np.empty(tuple(int(shape[i]) for i in perm), dtype=dtype)
    stored_view = np.transpose(_flipped(out, flips), np.argsort(perm))
    return out, stored_view, new


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size along each array axis (norms of the affine's columns), in mm."""
    return tuple(float(np.linalg.norm(affine[:3, k])) for k in range(3))  # type: ignore[return-value]
