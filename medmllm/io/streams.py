"""Bounded decompression and chunked reads: no input decompresses, or allocates, past its limit.

- :func:`open_stream` opens a file whatever it is called; gzip content (by its magic bytes) is
  decompressed on the fly through a :class:`LimitedReader` that raises once the output passes
  the limit (the gzip size field, modulo 2**32, is never trusted).
- :func:`inflate` decompresses a raw deflate stream (DICOM's Deflated Explicit VR Little
  Endian) into memory, counting against the limit.
- :func:`read_fortran_into` reads voxel data stored in Fortran order (NIfTI, NRRD) piece by
  piece straight into a destination array (possibly a permuted, flipped view), converting and
  scaling on the way: the only full-size allocation is the destination itself.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from typing import BinaryIO, Iterator

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.types import count_nonfinite, human_bytes

CHUNK = 8 << 20  # bytes of stored data per read
_GZIP_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


class LimitedReader(io.RawIOBase):
    """A forward-reading view of a decompressing stream that refuses to produce more than ``limit`` bytes.

    Args:
        raw: the decompressing stream (e.g. a :class:`gzip.GzipFile`).
        limit: most bytes that may come out.
        path: the file, for error messages.
        what: what is decompressed, e.g. ``"gzip data"``.
    """

    def __init__(self, raw: BinaryIO, limit: int, path: str | os.PathLike, what: str = "gzip data"):
        super().__init__()
        self.raw, self.limit, self.path, self.what = raw, int(limit), path, what
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _over(self) -> ImageLoadError:
        return ImageLoadError(self.path, f"{self.what} expands past the limit of {human_bytes(self.limit)} "
                                         "(compression bomb? raise it with max_bytes= / --max-bytes)")

    def readinto(self, b) -> int:
        view = memoryview(b).cast("B")
        room = self.limit + 1 - self.pos
        if room <= 0:
            raise self._over()
        try:
            n = self.raw.readinto(view[:room]) or 0
        except _GZIP_ERRORS as e:
            raise ImageLoadError(self.path, f"truncated or corrupt {self.what} ({e})") from None
        self.pos += n
        if self.pos > self.limit:
            raise self._over()
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.pos + offset if whence == io.SEEK_CUR else None
        if target is None or target < self.pos:
            raise io.UnsupportedOperation("LimitedReader seeks forward only")
        if target > self.limit:
            raise self._over()
        buf = bytearray(min(CHUNK, max(1, target - self.pos)))
        while self.pos < target:
            if self.readinto(memoryview(buf)[: target - self.pos]) == 0:
                break
        return self.pos

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes (its name does not matter)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


@contextlib.contextmanager
def open_stream(path: str | os.PathLike, limit: int, what: str = "gzip data") -> Iterator[BinaryIO]:
    """A binary stream of the file's content, gunzipped (and counted against ``limit``) when it is gzip."""
    if is_gzip(path):
        with LimitedReader(gzip.open(path, "rb"), limit, path, what) as f:  # type: ignore[arg-type]
            yield f  # type: ignore[misc]
    else:
        with open(path, "rb") as f:
            yield f


def read_exact(stream: BinaryIO, n: int, path: str | os.PathLike, what: str) -> bytes:
    """Exactly ``n`` bytes, or an error naming ``what`` as truncated."""
    data = stream.read(n)
    if len(data) != n:
        raise ImageLoadError(path, f"truncated or corrupt {what} (file ends after {len(data)} of {n} bytes)")
    return data


def skip_to(stream: BinaryIO, offset: int, path: str | os.PathLike, what: str) -> None:
    """Move forward to ``offset`` (reading through a decompressing stream)."""
    if stream.seek(offset) != offset:
        raise ImageLoadError(path, f"truncated or corrupt {what} (the file ends before its data starts)")


def inflate(stream: BinaryIO, limit: int, path: str | os.PathLike, what: str,
            out: io.BytesIO | None = None) -> io.BytesIO:
    """Inflate the raw deflate stream at ``stream``'s position into ``out`` (appended), at most ``limit`` bytes."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    out = io.BytesIO() if out is None else out
    start = out.tell()
    try:
        while not d.eof:
            chunk = d.unconsumed_tail or stream.read(1 << 20)
            if not chunk:
                raise ImageLoadError(path, f"truncated {what} (the deflate stream is cut off)")
            out.write(d.decompress(chunk, min(1 << 20, limit + 1 - (out.tell() - start))))
            if out.tell() - start > limit:
                raise ImageLoadError(path, f"{what} expands past the limit of {human_bytes(limit)} "
                                           "(compression bomb? raise it with max_bytes= / --max-bytes)")
    except zlib.error as e:
        raise ImageLoadError(path, f"corrupt {what} ({e})") from None
    return out


def _pieces(shape: tuple[int, int, int], itemsize: int) -> Iterator[tuple[slice, slice, slice]]:
    """Index pieces of a Fortran-ordered ``(A, B, C)`` array, each contiguous on disk, about CHUNK bytes."""
    a, b, c = shape
    slab = a * b * itemsize
    if slab <= CHUNK:
        step = max(1, CHUNK // slab)
        for k in range(0, c, step):
            yield slice(None), slice(None), slice(k, min(c, k + step))
    else:
        step = max(1, CHUNK // (a * itemsize))
        for k in range(c):
            for j in range(0, b, step):
                yield slice(None), slice(j, min(b, j + step)), slice(k, k + 1)


def read_fortran_into(stream: BinaryIO, dest: np.ndarray, dtype: np.dtype, *, path: str | os.PathLike, what: str,
                      slope: float = 1.0, inter: float = 0.0) -> tuple[int, int]:
    """Fill ``dest`` (shape ``(A, B, C)``, any strides) from ``A*B*C`` Fortran-ordered values of ``dtype``.

    Values become ``stored * slope + inter``, converted and scaled in place in ``dest`` (the only
    temporaries are one piece of stored bytes and the finite-check mask of one piece).

    Returns:
        ``(NaN count, infinity count)`` of what was written.

    Raises:
        ImageLoadError: the stream ends early or cannot be decompressed.
    """
    dtype = np.dtype(dtype)
    buf = bytearray(CHUNK if dest.size * dtype.itemsize > CHUNK else dest.size * dtype.itemsize)
    n_nan = n_inf = 0
    scaled = slope != 1.0 or inter != 0.0
    for piece in _pieces(dest.shape, dtype.itemsize):
        target = dest[piece]
        nbytes = target.size * dtype.itemsize
        if nbytes > len(buf):
            buf = bytearray(nbytes)
        view, got = memoryview(buf)[:nbytes], 0
        while got < nbytes:
            n = stream.readinto(view[got:])
            if not n:
                total = dest.size * dtype.itemsize
                raise ImageLoadError(path, f"truncated or corrupt {what} (voxel data ends early; expected "
                                           f"{human_bytes(total)})")
            got += n
        np.copyto(target, np.frombuffer(view, dtype=dtype).reshape(target.shape, order="F"), casting="unsafe")
        if scaled:
            target *= target.dtype.type(slope)
            target += target.dtype.type(inter)
        nan, inf = count_nonfinite(target)
        n_nan, n_inf = n_nan + nan, n_inf + inf
    return n_nan, n_inf
