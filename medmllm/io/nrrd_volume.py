"""NRRD volumes (header through pynrrd), reoriented to the canonical CT axes while they are read.

NRRD states its space (``left-posterior-superior``, ``right-anterior-superior`` ...). The header
is parsed and checked first (sizes, type, geometry, decoded and stored size against
``max_bytes``); the voxels then stream (``raw``, ``gzip`` or ``bzip2`` encoding, the whole file
possibly gzipped too) straight into the canonical ``(D, H, W)`` float32 array, so memory stays
at about 1x the decoded size and no compressed stream is inflated past what the header declares.
A detached data file must be a plain file next to the header.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
from pathlib import Path

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.orient import RAS_TO_LPS, canonical_array, spacing_from_affine
from medmllm.io.streams import LimitedReader, open_stream, read_fortran_into, skip_to
from medmllm.io.types import MedicalImage, check_decoded_size, check_stored_size, nonfinite_error, volume_shape

_RAS_SPACES = {"right-anterior-superior", "ras", "scanner-xyz", "3d-right-handed"}
_LPS_SPACES = {"left-posterior-superior", "lps"}
_MAX_HEADER = 1 << 20


def read_nrrd_header(path: Path, max_bytes: int) -> tuple[dict, int]:
    """``(header, header size in bytes)``; the header is at most 1 MiB of text ending in a blank line."""
    import nrrd

    with open_stream(path, max_bytes, "NRRD gzip data") as f:
        head = f.read(_MAX_HEADER)
    lines, size = [], 0
    for line in io.BytesIO(head):
        if not line.endswith(b"\n"):
            break
        lines.append(line)
        size += len(line)
        if len(lines) > 1 and line.strip() == b"":
            break
    else:
        lines = []
    if not lines or lines[-1].strip() != b"":
        raise ImageLoadError(path, "NRRD header without its end (a blank line) in the first 1 MiB")
    try:
        return nrrd.read_header(lines), size
    except (nrrd.NRRDError, ValueError, KeyError, TypeError, IndexError) as e:
        raise ImageLoadError(path, f"corrupt NRRD header ({type(e).__name__}: {str(e)[:120]})") from None


def _dtype(path: Path, header: dict) -> np.dtype:
    import nrrd
    from nrrd.reader import _determine_datatype  # pynrrd's NRRD type + endian -> numpy dtype

    try:
        dtype = _determine_datatype(header)
    except (nrrd.NRRDError, KeyError) as e:
        raise ImageLoadError(path, f"NRRD type is not supported ({str(e)[:80]})") from None
    if dtype.kind not in "iuf":
        raise ImageLoadError(path, f"NRRD type {header.get('type')} is not supported (expected numbers)")
    return dtype


def _data_file(path: Path, header: dict) -> Path | None:
    name = header.get("data file", header.get("datafile"))
    if name is None:
        return None
    target = path.parent / str(name)
    if os.sep in str(name) or "/" in str(name) or str(name).startswith(".") or not target.is_file():
        raise ImageLoadError(path, f"NRRD detached data file {str(name)[:60]!r} must be a file next to the header")
    return target


def nrrd_affine(path: Path, header: dict, ndim: int) -> np.ndarray:
    """Voxel ``(i, j, k)`` -> LPS mm of the first three axes, from space directions/origin or spacings."""
    affine = np.eye(4)
    directions = header.get("space directions")
    if directions is not None:
        dirs = np.asarray(directions, dtype=np.float64)
        if dirs.ndim != 2 or dirs.shape[1] != 3 or dirs.shape[0] != ndim or not np.all(np.isfinite(dirs[:min(ndim, 3)])):
            raise ImageLoadError(path, f"NRRD 'space directions' must give a 3D vector per axis, got {dirs.tolist()}")
        cols = dirs[:min(ndim, 3)].T
        affine[:3, :cols.shape[1]] = cols
        if cols.shape[1] == 2:  # one slice: unit step along the normal
            normal = np.cross(cols[:, 0], cols[:, 1])
            affine[:3, 2] = normal / (np.linalg.norm(normal) or 1.0)
    else:
        spacings = list(header.get("spacings", [1.0] * ndim))[:3]
        spacings += [1.0] * (3 - len(spacings))
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


def read_nrrd(path: Path, *, max_bytes: int, rescale: tuple[float, float] | None = None) -> MedicalImage:
    """Load an NRRD volume (space directions and origin respected) as a ``ct`` volume.

    ``rescale = (slope, intercept)``: values are stored x slope + intercept (NRRD has no scaling).
    """
    header, header_size = read_nrrd_header(path, max_bytes)
    sizes = tuple(int(s) for s in header.get("sizes", ()))
    shape = volume_shape(path, sizes)
    check_decoded_size(path, shape, max_bytes)
    dtype = _dtype(path, header)
    encoding = str(header.get("encoding", "")).lower()
    if encoding not in ("raw", "gzip", "gz", "bzip2", "bz2"):
        raise ImageLoadError(path, f"NRRD encoding '{encoding}' is not supported (raw, gzip or bzip2)")
    line_skip = int(header.get("line skip", header.get("lineskip", 0)))
    byte_skip = int(header.get("byte skip", header.get("byteskip", 0)))
    if line_skip != 0 or byte_skip < 0:
        raise ImageLoadError(path, "NRRD 'line skip' and negative 'byte skip' are not supported")
    check_stored_size(path, byte_skip + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize, max_bytes,
                      f"stored NRRD data ({dtype})")
    try:
        volume, view, affine = canonical_array(shape, nrrd_affine(path, header, len(sizes)))
    except ValueError:
        raise ImageLoadError(path, "NRRD geometry gives a singular affine (zero spacing or parallel axes)") from None
    detached = _data_file(path, header)
    start = 0 if detached else header_size
    with open_stream(detached or path, max_bytes, "NRRD gzip data") as f:
        data: io.RawIOBase = f  # type: ignore[assignment]
        if encoding == "raw":
            skip_to(f, start + byte_skip, path, "NRRD file")
        else:
            skip_to(f, start, path, "NRRD file")
            raw = gzip.GzipFile(fileobj=f) if encoding in ("gzip", "gz") else bz2.BZ2File(f)
            data = LimitedReader(raw, max_bytes, path, f"NRRD {encoding} data")  # type: ignore[arg-type]
            skip_to(data, byte_skip, path, "NRRD data")  # type: ignore[arg-type]
        slope, inter = rescale or (1.0, 0.0)
        counts = read_fortran_into(data, view, dtype, path=path, what="NRRD data",  # type: ignore[arg-type]
                                   slope=slope, inter=inter)
    if any(counts):
        raise nonfinite_error(path, *counts)
    meta = {"modality": None, "stored_shape": list(sizes), "space": header.get("space"),
            "data_type": str(header.get("type")), "slices": int(volume.shape[0])}
    return MedicalImage(volume, spacing_from_affine(affine), affine, "ct", "nrrd", meta)
