"""Reorientation of volumes to the canonical CT axes of CONTRACTS.md.

Canonical: array axes ``(d, h, w)`` run inferior -> superior, anterior -> posterior, patient
right -> left; in DICOM patient coordinates (LPS) that is ``+z, +y, +x``. Volumes from any
source are permuted and flipped (no resampling) to the closest canonical orientation, and the
affine (voxel -> LPS mm) is updated so that it still maps every voxel to the same place.
"""

from __future__ import annotations

import numpy as np

# Output array axis k follows LPS world axis _TARGET[k] in the positive direction.
_TARGET = (2, 1, 0)
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def reorient_to_canonical(array: np.ndarray, affine_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute/flip a 3D array so its axes are (inferior->superior, anterior->posterior, right->left).

    Args:
        array: ``(A, B, C)`` volume.
        affine_lps: 4x4 voxel ``(a, b, c)`` -> LPS mm.

    Returns:
        ``(array, affine)``: the reoriented volume (a view where possible) and its affine.
    """
    from nibabel.orientations import io_orientation

    aff = np.asarray(affine_lps, dtype=np.float64)
    ornt = io_orientation(aff)  # per voxel axis: (world axis, +1/-1)
    perm, flips = [], []
    for k in range(3):
        src = [i for i in range(3) if ornt[i, 0] == _TARGET[k]]
        if len(src) != 1:
            raise ValueError(f"cannot determine the orientation of the affine {aff.tolist()}")
        perm.append(src[0])
        flips.append(ornt[src[0], 1] < 0)
    out = np.transpose(array, perm)
    new = np.eye(4)
    new[:3, 3] = aff[:3, 3]
    for k, (i, flip) in enumerate(zip(perm, flips)):
        col = aff[:3, i]
        if flip:
            new[:3, 3] += col * (array.shape[i] - 1)
            col = -col
        new[:3, k] = col
    if any(flips):
        out = out[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    return out, new


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size along each array axis (norms of the affine's columns), in mm."""
    return tuple(float(np.linalg.norm(affine[:3, k])) for k in range(3))  # type: ignore[return-value]
