"""Crash-safe checkpoints and exports.

A Lightning checkpoint is written to a temporary file beside its target, flushed to disk and
renamed into place, so a crash mid-save leaves either the previous file or none, never a
truncated one under the real name. An export folder is written into a temporary sibling folder,
gets a ``COMPLETE`` marker last, and is then renamed into place; loaders refuse a folder without
the marker (:func:`require_complete`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from medmllm.errors import InputError
from medmllm.files import COMPLETE, atomic_write_with, is_complete

log = logging.getLogger(__name__)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`medmllm.files.atomic_writer`."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    atomic_write_with(path, write)


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
