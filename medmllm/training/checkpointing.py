"""Crash-safe checkpoints and exports.

A Lightning checkpoint is written to a temporary file beside its target, flushed to disk and
renamed into place, so a crash mid-save leaves either the previous file or none, never a
truncated one under the real name. An export folder is written into a temporary sibling folder,
gets a ``COMPLETE`` marker last, and is then renamed into place; loaders refuse a folder without
the marker (:func:`require_complete`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from medmllm.errors import InputError

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE"


def _fsync_dir(path: Path) -> None:
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


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(p.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO whose saves are atomic on the local filesystem."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # Lightning checkpoints hold plain containers, tensors and numbers (our RNG states are
        # stored as tensors / lists): weights_only loading works and unpickles no code.
        try:
            return super().load_checkpoint(path, map_location=map_location or (lambda s, _: s), weights_only=True)
        except Exception as e:  # a checkpoint from another tool that needs full unpickling
            if "weights_only" not in str(e) and "Weights only" not in str(e):
                raise
            raise InputError(path, "checkpoint holds objects that cannot be loaded safely "
                                   "(weights_only=True); it was not written by medmllm train") from None


def is_complete(folder: str | os.PathLike) -> bool:
    """True when ``folder`` is an export whose writing finished (``COMPLETE`` marker present)."""
    return (Path(folder) / COMPLETE).is_file()


def require_complete(folder: str | os.PathLike) -> Path:
    """Return ``folder`` as a Path; raise ``InputError`` unless it is a complete export."""
    p = Path(folder)
    if not p.exists():
        raise InputError(p, "export folder not found")
    if not p.is_dir():
        raise InputError(p, "expected an export folder (written by medmllm train), got a file")
    if not is_complete(p):
        raise InputError(p, f"incomplete export: no {COMPLETE} marker (the save was interrupted); "
                            "use an earlier export or rerun the stage")
    return p


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, info: dict[str, Any] | None = None) -> Iterator[Path]:
    """Write a folder atomically: yields a temporary sibling; on success marks it and renames.

    An existing ``final`` is replaced only after the new folder is complete. On an exception the
    temporary folder is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        marker = {"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **(info or {})}
        (tmp / COMPLETE).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        _fsync_dir(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
