"""NIfTI (through nibabel) and NRRD (through pynrrd) volumes, reoriented to the canonical CT axes.

NIfTI stores voxel ``(i, j, k)`` -> RAS mm; NRRD states its space (``left-posterior-superior``,
``right-anterior-superior`` ...). Both are converted to an LPS affine, then permuted/flipped so the
array is ``(D, H, W)`` = (inferior -> superior, anterior -> posterior, right -> left), the same
array a DICOM series of the same scan gives. Values are scaled (NIfTI scl_slope/inter) to float32.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.image import MedicalImage, check_decoded_size, check_finite
from medmllm.io.orient import RAS_TO_LPS, reorient_to_canonical, spacing_from_affine

log = logging.getLogger(__name__)

_RAS_SPACES = {"right-anterior-superior", "ras", "scanner-xyz", "3d-right-handed"}
_LPS_SPACES = {"left-posterior-superior", "lps"}


def _as_3d(path: Path, shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise ImageLoadError(path, f"{len(shape)}D volume (shape {shape}) is not supported; expected one 3D volume")
    if len(shape) < 2:
        raise ImageLoadError(path, f"volume of shape {shape} is not an image")
    return shape + (1,) * (3 - len(shape))


def _open_nifti(path: Path):
    import nibabel as nib

    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz", ".hdr", ".img")):
        return nib.load(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    cls = nib.Nifti2Image if int.from_bytes(raw[:4], "little") == 540 or int.from_bytes(raw[:4], "big") == 540 \
        else nib.Nifti1Image
    return cls.from_bytes(raw)


def read_nifti(path: Path, *, max_bytes: int) -> MedicalImage:
    """Load a ``.nii`` / ``.nii.gz`` (the content decides, not the name) as a ``ct`` volume in HU."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    errors = (ImageFileError, EOFError, OSError, ValueError, zlib.error, gzip.BadGzipFile)
    try:
        img = _open_nifti(path)
    except errors as e:
        raise ImageLoadError(path, f"corrupt or truncated NIfTI file ({type(e).__name__}: {str(e)[:120]})") from None
    shape = _as_3d(path, img.shape)
    check_decoded_size(path, shape, max_bytes)
    try:
        data = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
    except errors as e:
        raise ImageLoadError(path, f"truncated or corrupt NIfTI data ({type(e).__name__}: {str(e)[:120]})") from None
    check_finite(path, data)
    affine_ras = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine_ras)) or abs(np.linalg.det(affine_ras[:3, :3])) < 1e-12:
        raise ImageLoadError(path, "NIfTI header has an invalid (singular) affine")
    volume, affine = reorient_to_canonical(data, RAS_TO_LPS @ affine_ras)
    meta = {
        "modality": None,
        "stored_shape": list(img.shape),
        "stored_orientation": "".join(nib.aff2axcodes(affine_ras)),
        "data_type": str(img.get_data_dtype()),
        "slices": int(volume.shape[0]),
    }
    return MedicalImage(np.ascontiguousarray(volume), spacing_from_affine(affine), affine, "ct", "nifti", meta)


def _nrrd_affine(path: Path, header: dict, ndim: int) -> np.ndarray:
    directions = header.get("space directions")
    affine = np.eye(4)
    if directions is not None:
        dirs = np.asarray(directions, dtype=np.float64)
        if dirs.shape != (ndim, 3) or not np.all(np.isfinite(dirs)):
            raise ImageLoadError(path, f"NRRD 'space directions' must give a 3D vector per axis, got {dirs.tolist()}")
        affine[:3, :3] = dirs.T
    else:
        spacings = header.get("spacings", [1.0] * ndim)
        affine[:3, :3] = np.diag([float(s) if np.isfinite(s) else 1.0 for s in spacings])
    origin = header.get("space origin")
    if origin is not None:
        affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space in _RAS_SPACES:
        affine = RAS_TO_LPS @ affine
    elif space not in _LPS_SPACES:
        raise ImageLoadError(path, f"NRRD space '{space}' is not supported (expected RAS or LPS)")
    return affine


def read_nrrd(path: Path, *, max_bytes: int) -> MedicalImage:
    """Load an NRRD volume (space directions and origin respected) as a ``ct`` volume."""
    import nrrd

    try:
        header = nrrd.read_header(str(path))
        shape = _as_3d(path, tuple(header["sizes"]))
        check_decoded_size(path, shape, max_bytes)
        data, header = nrrd.read(str(path), index_order="F")
    except ImageLoadError:
        raise
    except (nrrd.NRRDError, ValueError, OSError, EOFError, zlib.error, KeyError) as e:
        raise ImageLoadError(path, f"corrupt or truncated NRRD file ({type(e).__name__}: {str(e)[:120]})") from None
    if int(header.get("dimension", data.ndim)) > 3 and data.ndim > 3 and data.shape[-1] != 1:
        raise ImageLoadError(path, f"{data.ndim}D volume (shape {data.shape}) is not supported")
    check_finite(path, data)
    affine = _nrrd_affine(path, header, data.ndim)
    data = np.asarray(data, dtype=np.float32).reshape(shape)
    volume, affine = reorient_to_canonical(data, affine)
    meta = {"modality": None, "stored_shape": list(header["sizes"]), "space": header.get("space"),
            "data_type": str(header.get("type")), "slices": int(volume.shape[0])}
    return MedicalImage(np.ascontiguousarray(volume), spacing_from_affine(affine), affine, "ct", "nrrd", meta)
