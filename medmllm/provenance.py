"""Versions and provenance stamped into every export and results file."""

from __future__ import annotations

import hashlib
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

PACKAGES = ("medmllm", "torch", "transformers", "monai", "lightning", "peft", "pydicom", "nibabel",
            "gradio", "pycocoevalcap", "numpy")


def versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None where not installed); imports nothing."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """Commit of the medmllm source tree (with ``-dirty`` when modified), or None outside git."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def file_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (first 16 hex digits)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()[:16]


def provenance(config: Any = None, data_files: Iterable[str | os.PathLike] = (), seed: int | None = None) -> dict[str, Any]:
    """``{git_commit, config_hash, data_hash, seed}`` as CONTRACTS.md asks of results and exports."""
    from medmllm.config import config_hash

    data_files = [Path(p) for p in data_files]
    if data_files:
        h = hashlib.sha256()
        for p in sorted(data_files):
            h.update((file_hash(p) if p.is_file() else "missing:" + p.name).encode())
        data_hash = h.hexdigest()[:16]
    else:
        data_hash = None
    return {"git_commit": git_commit(), "config_hash": None if config is None else config_hash(config),
            "data_hash": data_hash, "seed": seed}
