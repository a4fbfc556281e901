"""``sniff``: the format of a file from its first bytes, never from its name.

Recognised: DICOM (with or without the 128-byte preamble), zip, PNG, JPEG, TIFF, NRRD, NIfTI-1/2
(single file or header of a pair), gzip holding NIfTI or NRRD, and video containers (MP4 / MOV,
WebM / Matroska, AVI, MPEG program and transport streams: format ``video``). Only the first kilobyte is
read (of a gzip file, the first 600 decompressed bytes), so sniffing costs nothing whatever the
file holds.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

from medmllm.io.errors import ImageLoadError

FORMATS = ("dicom", "zip", "nifti", "nrrd", "png", "jpeg", "tiff", "video")
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide")  # the first box of an ISO-BMFF / QuickTime file


def _read_head(path: Path, n: int = 1024) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise ImageLoadError(path, f"cannot read the file ({e.strerror or e})") from None


def nifti_version(head: bytes) -> int | None:
    """1 or 2 when ``head`` starts with a NIfTI-1 / NIfTI-2 header (either byte order), else None."""
    if len(head) >= 348:
        for endian in "<>":
            size = struct.unpack(endian + "i", head[:4])[0]
            if size == 348 and head[344:347] in (b"n+1", b"ni1"):
                return 1
            if size == 540 and head[4:7] in (b"n+2", b"ni2"):
                return 2
    return None


def is_video(head: bytes) -> bool:
    """Whether ``head`` starts a video container: ISO-BMFF/QuickTime, Matroska/WebM, AVI, MPEG-PS or MPEG-TS."""
    mpeg_ts = len(head) > 376 and head[0] == head[188] == head[376] == 0x47  # sync byte every 188 bytes
    return (head[4:8] in _MP4_BOXES or head[:4] == b"\x1a\x45\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
            or head[:4] == b"\x00\x00\x01\xba" or mpeg_ts)


def sniff(path: str | os.PathLike) -> str:
    """The format of a file from its content.

    Returns:
        One of ``dicom``, ``zip``, ``nifti``, ``nrrd``, ``png``, ``jpeg``, ``tiff``, ``video``.

    Raises:
        ImageLoadError: not found, empty, or not a recognised medical image.
    """
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(p, "file not found")
    if p.is_dir():
        raise ImageLoadError(p, "is a folder, expected a file")
    if not p.is_file():
        raise ImageLoadError(p, "not a regular file")
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
    if nifti_version(head):
        return "nifti"
    if is_video(head):
        return "video"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as f:
                inner = f.read(600)
        except (OSError, EOFError, zlib.error):
            raise ImageLoadError(p, "corrupt or truncated gzip file") from None
        if nifti_version(inner):
            return "nifti"
        if inner[:4] == b"NRRD":
            return "nrrd"
        raise ImageLoadError(p, "gzip file that holds no NIfTI or NRRD image")
    # DICOM written without the 128-byte preamble: starts with a group 0002 or 0008 tag.
    if head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00":
        return "dicom"
    raise ImageLoadError(
        p, "not a medical image (content is not DICOM, NIfTI, NRRD, PNG, JPEG, TIFF, a video or a zip of DICOM files)"
    )
