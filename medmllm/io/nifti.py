"""NIfTI-1/2 volumes (header through nibabel), reoriented to the canonical CT axes while they are read.

NIfTI stores voxel ``(i, j, k)`` -> RAS mm. The header is read and checked first (dimensions,
data type, voxel sizes, scaling, affine, decoded and stored size against ``max_bytes``); then the
voxels stream from the file, gzip or not whatever it is called, straight into the canonical
``(D, H, W)`` float32 array (inferior -> superior, anterior -> posterior, right -> left), scaled by
scl_slope/inter: the array is the only full-size allocation (peak memory about 1x the decoded
size), and a gzip stream is never inflated past what the header declares.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from medmllm.io.detect import nifti_version
from medmllm.io.errors import ImageLoadError
from medmllm.io.orient import RAS_TO_LPS, canonical_array, spacing_from_affine
from medmllm.io.streams import open_stream, read_exact, read_fortran_into, skip_to
from medmllm.io.types import MedicalImage, check_decoded_size, check_stored_size, nonfinite_error, volume_shape

log = logging.getLogger(__name__)

_HEADER_SIZE = {1: 348, 2: 540}
_quiet = logging.getLogger(__name__ + ".nibabel_checks")  # nibabel's header fixes: not for the user's terminal
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def read_header(path: Path, stream):
    """The nibabel header at the start of ``stream``, checked; nibabel's silent fixes refused first.

    Returns:
        ``(header, stored shape, data dtype, (slope, inter), voxel -> RAS affine)``.
    """
    import nibabel as nib
    from nibabel.spatialimages import HeaderDataError

    block = read_exact(stream, _HEADER_SIZE[1], path, "NIfTI header")
    version = nifti_version(block)
    if version is None:
        raise ImageLoadError(path, "not a NIfTI file (no NIfTI-1/2 header)")
    if version == 2:
        block += read_exact(stream, _HEADER_SIZE[2] - _HEADER_SIZE[1], path, "NIfTI header")
    klass = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    hdr = klass(binaryblock=block, check=False)
    dim = [int(d) for d in hdr["dim"]]
    if not 1 <= dim[0] <= 7 or any(d < 1 for d in dim[1:dim[0] + 1]):
        raise ImageLoadError(path, f"NIfTI header has invalid dimensions {dim[:max(1, min(dim[0], 7)) + 1]}")
    shape = tuple(dim[1:dim[0] + 1])
    pixdim = [float(p) for p in hdr["pixdim"][1:4]]
    for axis, (n, size) in enumerate(zip(shape[:3], pixdim)):
        if n > 1 and (not np.isfinite(size) or size == 0):
            raise ImageLoadError(path, f"NIfTI voxel size along axis {axis + 1} is {size:g} (pixdim {pixdim}); "
                                       "a volume needs finite, non-zero voxel sizes")
    try:
        hdr.check_fix(logger=_quiet, error_level=40)
        dtype = hdr.get_data_dtype()
        slope, inter = hdr.get_slope_inter()
        affine = np.asarray(hdr.get_best_affine(), dtype=np.float64)
    except (HeaderDataError, KeyError, ValueError) as e:
        raise ImageLoadError(path, f"invalid NIfTI header ({str(e)[:120]})") from None
    if dtype.kind not in "iuf":
        raise ImageLoadError(path, f"NIfTI data type {dtype} is not supported (expected integer or float voxels)")
    return hdr, shape, dtype, (1.0 if slope is None else float(slope), 0.0 if inter is None else float(inter)), affine


def _image_file(path: Path, version: int) -> Path:
    """The ``.img`` file of a ``.hdr`` / ``.img`` pair."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    klass = nib.Nifti1Pair if version == 1 else nib.Nifti2Pair
    try:
        image = Path(klass.filespec_to_file_map(os.fspath(path))["image"].filename)
    except ImageFileError:
        image = None
    if image is None or not image.is_file():
        raise ImageLoadError(path, "NIfTI header of a header/image pair (ni1) whose .img data file is missing")
    return image


def read_nifti(path: Path, *, max_bytes: int, rescale: tuple[float, float] | None = None) -> MedicalImage:
    """Load a NIfTI-1/2 file (plain or gzip, the content decides) or ``.hdr`` of a pair as ``ct`` in HU.

    ``rescale = (slope, intercept)`` replaces the header's scl_slope / scl_inter (kept in
    ``meta["header_rescale"]``).
    """
    import nibabel as nib

    with open_stream(path, max_bytes, "NIfTI gzip data") as stream:
        hdr, stored_shape, dtype, header_rescale, affine_ras = read_header(path, stream)
        slope, inter = header_rescale if rescale is None else rescale
        shape = volume_shape(path, stored_shape)
        check_decoded_size(path, shape, max_bytes)
        single = bytes(hdr["magic"])[:3] in (b"n+1", b"n+2")
        offset = int(hdr.get_data_offset()) if single else 0
        check_stored_size(path, offset + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize, max_bytes,
                          f"stored NIfTI data ({dtype})")
        try:
            volume, view, affine = canonical_array(shape, RAS_TO_LPS @ affine_ras)
        except ValueError:
            raise ImageLoadError(path, "NIfTI header has an invalid (singular) affine") from None
        if single:
            skip_to(stream, offset, path, "NIfTI file")
            counts = read_fortran_into(stream, view, dtype, path=path, what="NIfTI data", slope=slope, inter=inter)
        else:
            image = _image_file(path, 1 if hdr.sizeof_hdr == _HEADER_SIZE[1] else 2)
            with open_stream(image, max_bytes, "NIfTI gzip data") as data:
                counts = read_fortran_into(data, view, dtype, path=image, what="NIfTI data", slope=slope, inter=inter)
    if any(counts):
        raise nonfinite_error(path, *counts)
    meta = {
        "modality": None,
        "stored_shape": list(stored_shape),
        "stored_orientation": "".join(nib.aff2axcodes(affine_ras)),
        "data_type": str(dtype),
        "slices": int(volume.shape[0]),
    }
    if rescale is not None:
        meta["header_rescale"] = list(header_rescale)
    return MedicalImage(volume, spacing_from_affine(affine), affine, "ct", "nifti", meta)
