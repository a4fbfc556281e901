"""Safe handling of uploaded images: size limits, archive checks, loading, page-ready messages.

Uploads are untrusted: a file may be corrupt, of the wrong kind, huge, or a compression bomb. Every
problem becomes an :class:`UploadError` whose message names the uploaded file (its base name only,
never a server path) and says what is wrong, so the app can show it in the page and keep serving.
Nothing here logs file names or metadata; only error classes and sizes are logged.

The checks here are cheap early refusals. The bound that holds whatever a file claims is the
loader's (:mod:`medmllm.io`): decoded sizes are checked from headers before allocation and every
decompression (zip, gzip, deflated DICOM) counts the bytes it produces against the same limit.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from medmllm.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 512
MAX_ZIP_MEMBERS = 4096
MAX_CT_FILES = 2048
MAX_VIEW_FRAMES = 64  # frames of an uploaded clip kept for the viewer (evenly spaced)
_CACHE_SIZE = 6


class UploadError(InputError):
    """An upload that cannot be used; ``str(e)`` is the one-line message shown in the page."""


def display_name(path: str | os.PathLike) -> str:
    """The name a user knows their upload by (base name; server folders are never shown; bytes that
    are not UTF-8 shown as ``\\xNN``)."""
    from medmllm.io.errors import printable

    return printable(Path(path).name) or "upload"


def _human(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def check_archive(path: str | os.PathLike, max_bytes: int) -> None:
    """Reject zip and gzip files whose own declarations (sizes, member count) are over the limit.

    A declared size can only refuse, never accept: the gzip trailer holds the size modulo 2**32
    (a 4 GiB + 32 MiB stream says 32 MiB) and zip sizes can lie. What a file really expands to is
    counted by the loader while it decompresses (see the module docstring).
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":  # gzip (e.g. .nii.gz): the real size is at least the trailer's value
        with open(p, "rb") as f:
            f.seek(-4, os.SEEK_END)
            size = struct.unpack("<I", f.read(4))[0]
        if size > max_bytes:
            raise UploadError(display_name(p), f"expands to {_human(size)}, over the {_human(max_bytes)} limit")
        return
    if head != b"PK\x03\x04":
        return
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UploadError(display_name(p), f"corrupt zip archive ({e})") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UploadError(display_name(p), f"zip holds {len(infos)} files, over the limit of {MAX_ZIP_MEMBERS}")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise UploadError(display_name(p), f"zip expands to {_human(total)}, over the {_human(max_bytes)} limit")


def check_sizes(paths: Sequence[str | os.PathLike], max_bytes: int) -> None:
    """Every file must exist, be a regular file, and all together stay within ``max_bytes``."""
    total = 0
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise UploadError(display_name(p), "upload is missing or not a file")
        size = p.stat().st_size
        if size == 0:
            raise UploadError(display_name(p), "file is empty")
        total += size
        if total > max_bytes:
            raise UploadError(display_name(p), f"uploads total over the {_human(max_bytes)} limit")


class _ImageCache:
    """A small LRU of loaded images keyed by (path, size, mtime): the viewer and generation share it."""

    def __init__(self, size: int = _CACHE_SIZE):
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(paths: Sequence[str | os.PathLike], kind: str) -> tuple:
        parts = []
        for p in paths:
            st = os.stat(p)
            parts.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))
        return (kind, tuple(parts))

    def get(self, key: tuple) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_cache = _ImageCache()


_DIRS = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s\\/:'\"]+)+[\\/]")


def strip_dirs(text: str) -> str:
    """``text`` with the folders of any absolute path removed (base names stay): no server paths in the page."""
    return _DIRS.sub("", text)


def _load(paths: list[str], name: str, max_bytes: int, clip: bool = False) -> Any:
    from medmllm.io import load_image, load_video

    try:
        if clip:
            return load_video(paths[0], num_frames=MAX_VIEW_FRAMES, max_bytes=max_bytes)
        return load_image(paths[0] if len(paths) == 1 else paths, max_bytes=max_bytes)
    except InputError as e:
        problem = getattr(e, "problem", None) or str(e)
        raise UploadError(name, strip_dirs(problem)) from None
    except MemoryError:
        raise UploadError(name, "image too large to load") from None
    except Exception as e:  # noqa: BLE001 - hostile files must not take the app down
        log.warning("upload could not be read: %s", type(e).__name__)
        raise UploadError(name, f"could not be read as a medical image ({type(e).__name__})") from None


def _refuse_volumes(path: str, name: str) -> None:
    """The X-ray box's archive check: zips and CT volumes (NIfTI / NRRD, gzip or not) are refused from
    their first bytes, before anything is decompressed or decoded."""
    from medmllm.io import sniff
    from medmllm.io.errors import ImageLoadError

    try:
        fmt = sniff(path)
    except ImageLoadError:
        return  # the loader gives the precise message
    if fmt == "zip":
        raise UploadError(name, "a zip archive is not an X-ray; upload zips of DICOM series as CT")
    if fmt in ("nifti", "nrrd"):
        raise UploadError(name, f"this is a CT volume ({fmt.upper() if fmt == 'nrrd' else 'NIfTI'}); "
                                "upload it in the CT box")


def load_xray(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20) -> Any:
    """Load an uploaded chest X-ray (DICOM, PNG, JPEG) as a ``MedicalImage`` of kind xray/image."""
    path = os.fspath(path)
    name = display_name(path)
    check_sizes([path], max_bytes)
    _refuse_volumes(path, name)
    key = _cache.key([path], "xray")
    img = _cache.get(key)
    if img is None:
        img = _load([path], name, max_bytes)
        if img.kind == "ct":
            raise UploadError(name, "this is a CT image; upload it in the CT box")
        if img.kind not in ("xray", "image"):
            raise UploadError(name, f"expected an X-ray image, got kind '{img.kind}'")
        _cache.put(key, img)
    return img


def load_clip(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20) -> Any:
    """Load an uploaded clip (cine DICOM, MP4 / WebM / AVI) for the viewer: at most :data:`MAX_VIEW_FRAMES`
    evenly spaced frames (a shorter clip: every frame once). The model reads the file itself, with its
    own frame sampling."""
    import numpy as np

    path = os.fspath(path)
    name = display_name(path)
    check_sizes([path], max_bytes)
    key = _cache.key([path], "video")
    img = _cache.get(key)
    if img is None:
        img = _load([path], name, max_bytes, clip=True)
        picked = np.unique(np.asarray(img.meta["frame_indices"]), return_index=True)[1]  # drop repeated frames
        img.array = img.array[np.sort(picked)]
        _cache.put(key, img)
    return img


def load_ct(paths: Sequence[str | os.PathLike], max_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20) -> Any:
    """Load an uploaded chest CT: one NIfTI/NRRD, one zip of a DICOM series, or several DICOM files."""
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise UploadError("CT", "no file uploaded")
    if len(paths) > MAX_CT_FILES:
        raise UploadError("CT", f"{len(paths)} files uploaded, over the limit of {MAX_CT_FILES}")
    name = display_name(paths[0]) if len(paths) == 1 else f"{len(paths)} CT files"
    check_sizes(paths, max_bytes)
    for p in paths:
        check_archive(p, max_bytes)
    key = _cache.key(paths, "ct")
    img = _cache.get(key)
    if img is None:
        img = _load(paths, name, max_bytes)
        if img.kind != "ct":
            raise UploadError(name, f"not a CT volume (read as {img.kind}); upload X-rays in the X-ray box")
        _cache.put(key, img)
    return img

