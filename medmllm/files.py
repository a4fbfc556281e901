"""Atomic writes: a file or a folder appears complete or not at all.

Every write of the toolkit goes through these helpers: a temporary sibling is written (and
fsynced), then renamed over the target with ``os.replace``; on any error the temporary is
removed and the target is left as it was. A full disk therefore never leaves a half-written
file or folder behind. ``OSError`` during the write becomes a :class:`WriteError` (an
:class:`~medmllm.errors.InputError` and still an ``OSError``) that names the target and the reason in
one line (``no space left on device``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from medmllm.errors import InputError

COMPLETE = "COMPLETE"


class WriteError(InputError, OSError):
    """A write that failed and left nothing behind: one line for the CLI, still an ``OSError`` for callers."""

    def __init__(self, path: str | os.PathLike, e: OSError):
        InputError.__init__(self, path, _os_problem(e))
        self.errno, self.strerror, self.filename = e.errno, e.strerror, os.fspath(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries to disk (best effort: some filesystems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_problem(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "no space left on device; nothing was written"
    return f"cannot write: {e.strerror or e}; nothing was written"


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The caller writes the temporary path by any means (``torch.save``, ``save_file``, pydicom).
    """
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
    except OSError as e:
        raise WriteError(p, e) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync and tmp.exists():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        raise WriteError(p, e) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if fsync:
        fsync_dir(p.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_with(path: str | os.PathLike, write: Callable[[Path], Any], *, fsync: bool = True) -> Path:
    """Call ``write(tmp_path)`` and move the result over ``path`` atomically; returns the path."""
    with atomic_writer(path, fsync=fsync) as tmp:
        write(tmp)
    return Path(path)


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` was written by :func:`atomic_dir` to the end (``COMPLETE`` marker)."""
    return (Path(folder) / COMPLETE).is_file()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, info: dict[str, Any] | None = None,
               marker: bool = True) -> Iterator[Path]:
    """Write a folder atomically: yields a temporary sibling; on success marks it and renames.

    An existing ``final`` is replaced only after the new folder is complete. On an exception the
    temporary folder is removed and ``final`` is left as it was.

    Args:
        final: the folder to create or replace.
        info: extra JSON fields of the ``COMPLETE`` marker.
        marker: write the ``COMPLETE`` marker (exports and caches check it).
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as e:
        raise WriteError(final, e) from None
    try:
        yield tmp
        if marker:
            stamp = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **(info or {})}
            (tmp / COMPLETE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
        fsync_dir(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WriteError(final, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
