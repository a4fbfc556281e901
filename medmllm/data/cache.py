"""On-disk cache of preprocessed image tensors, keyed by file content and transform config.

The key of an entry is a hash of: the content of the image (every byte of the file, or of every
file of a series folder, with their relative names), the series picked from the folder, and the
:attr:`~medmllm.data.transforms.ImagePipeline.config_hash` of the deterministic transforms. A
changed file or a changed config therefore gives a different key: a stale entry is never used.
Each entry also records its content hash and config hash, checked again on read. Entries are
safetensors files written to a temporary name and renamed into place (atomic; safe with several
DataLoader workers). Content hashes are remembered per file by ``(size, mtime, ctime, inode)``,
in memory and on disk, so a second epoch does not re-read the bytes of unchanged files.

:class:`MemoryCache` keeps preprocessed tensors in memory as well (least recently used out first,
bounded in bytes): a dataset that fits is decoded once per process, and later epochs neither hash
files nor read cache entries. Its entries are checked against the file's (or the series folder's)
size, mtime and inode on every read; the writers of this project replace files by renaming, which
also changes the folder's mtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch

from medmllm.files import atomic_write_bytes

log = logging.getLogger(__name__)

CACHE_VERSION = "1"


def _stat_key(path: Path | str, st: os.stat_result | None = None) -> str:
    st = st or os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _walk_files(root: str) -> list[tuple[str, str, os.stat_result]]:
    """``(relative posix name, full path, stat)`` of every file under ``root``, sorted by name."""
    out, stack = [], [("", root)]
    while stack:
        rel, folder = stack.pop()
        with os.scandir(folder) as it:
            for e in it:
                name = f"{rel}{e.name}"
                if e.is_dir(follow_symlinks=False):
                    stack.append((name + "/", e.path))
                elif e.is_file():
                    out.append((name, e.path, e.stat()))
    out.sort(key=lambda t: t[0])
    return out


class TensorCache:
    """Preprocessed tensors on disk.

    Args:
        root: cache folder (created).

    Attributes:
        hits, misses: counts since creation (per process).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._memo: dict[str, tuple[str, str]] = {}

    # ---- content hashes -------------------------------------------------------------------------
    def file_hash(self, path: Path | str, st: os.stat_result | None = None) -> str:
        """sha256 of a file's bytes, remembered while the file's size/mtime/ctime/inode stay the same."""
        full = os.path.realpath(path)
        stat = _stat_key(full, st)
        hit = self._memo.get(full)
        if hit and hit[0] == stat:
            return hit[1]
        memo_file = self.root / "hashes" / (hashlib.sha256(full.encode()).hexdigest()[:32] + ".json")
        try:
            saved = json.loads(memo_file.read_text())
            if saved.get("stat") == stat and saved.get("path") == full:
                self._memo[full] = (stat, saved["sha256"])
                return saved["sha256"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        self._memo[full] = (stat, digest)
        try:
            atomic_write_bytes(memo_file, json.dumps({"path": full, "stat": stat, "sha256": digest}).encode(), fsync=False)
        except OSError as e:
            log.debug("could not remember the hash of %s: %s", os.path.basename(full), e)
        return digest

    def content_hash(self, source: str | os.PathLike) -> str:
        """Hash of a file, or of every file (names and bytes) under a folder."""
        p = os.fspath(source)
        if os.path.isdir(p):
            root = os.path.realpath(p)
            h = hashlib.sha256(b"dir")
            for rel, full, st in _walk_files(root):
                h.update(rel.encode() + b"\0" + self.file_hash(full, st).encode())
            return h.hexdigest()
        return self.file_hash(p)

    def key(self, source: Any, config_hash: str) -> tuple[str, str]:
        """``(entry key, content hash)`` of a path or ``{"path", "series", "spacing", "rescale"}`` under
        ``config_hash`` (the load overrides are part of the key: they change the tensor)."""
        path, series = (source.get("path"), source.get("series")) if isinstance(source, dict) else (source, None)
        content = self.content_hash(path)
        blob = f"{CACHE_VERSION}|{content}|{series or ''}|{config_hash}"
        loads = source_key(source)[2:]
        if any(v is not None for v in loads):
            blob += "|" + json.dumps(loads)
        return hashlib.sha256(blob.encode()).hexdigest(), content

    # ---- entries --------------------------------------------------------------------------------
    def _entry(self, key: str) -> Path:
        return self.root / "tensors" / key[:2] / f"{key}.safetensors"

    def get(self, key: str, content: str, config_hash: str) -> torch.Tensor | None:
        """The cached tensor, or None when absent, unreadable or recorded for other content/config."""
        from safetensors import safe_open

        f = self._entry(key)
        if not f.is_file():
            return None
        try:
            with safe_open(str(f), framework="pt") as st:
                meta = st.metadata() or {}
                if meta.get("content") != content or meta.get("config") != config_hash:
                    log.warning("cache entry %s does not match its key; ignoring it", f.name)
                    return None
                return st.get_tensor("x")
        except Exception as e:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            log.warning("unreadable cache entry %s (%s); recomputing", f.name, e)
            f.unlink(missing_ok=True)
            return None

    def put(self, key: str, content: str, config_hash: str, x: torch.Tensor) -> None:
        """Store ``x`` atomically; a full disk or a read-only cache only logs a warning."""
        from safetensors.torch import save

        try:
            data = save({"x": x.detach().contiguous().cpu()}, metadata={"content": content, "config": config_hash})
            atomic_write_bytes(self._entry(key), data, fsync=False)
        except OSError as e:
            log.warning("could not write cache entry %s: %s", key[:12], e)

    def get_or_compute(self, source: Any, config_hash: str, compute: Callable[[Any], torch.Tensor]) -> torch.Tensor:
        """The cached tensor of ``source``, or ``compute(source)`` stored for next time."""
        key, content = self.key(source, config_hash)
        x = self.get(key, content, config_hash)
        if x is not None:
            self.hits += 1
            return x
        self.misses += 1
        x = compute(source)
        self.put(key, content, config_hash, x)
        return x


def source_key(source: Any) -> tuple:
    """A hashable identity of what is loaded: ``(path, series, spacing, rescale)`` (None where absent)."""
    if not isinstance(source, dict):
        return (str(source), None, None, None)
    rescale = source.get("rescale")
    spacing = source.get("spacing")
    return (str(source.get("path")), source.get("series"), None if spacing is None else tuple(spacing),
            None if rescale is None else (rescale["slope"], rescale["intercept"]))


def stat_stamp(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(size, mtime_ns, inode)`` of a file or folder (raises ``FileNotFoundError``)."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


class MemoryCache:
    """Preprocessed tensors in memory, least recently used out first, at most ``max_bytes`` in all.

    Keys are any hashable (the dataset uses ``(path, series, config hash)``); each entry carries a
    ``stamp`` (:func:`stat_stamp` of its file) and is returned only while the stamp is the same.
    Pickling (DataLoader workers) gives an empty cache with the same budget.

    Args:
        max_bytes: memory budget of this process.

    Attributes:
        hits, misses, bytes: counters and the bytes held.
    """

    _shared: "MemoryCache | None" = None

    @classmethod
    def shared(cls, max_bytes: int) -> "MemoryCache":
        """The process-wide cache with this budget (created, or replaced when the budget changes).

        The stages of one ``medmllm train`` run build a data module each; sharing the cache means a
        later stage does not decode again what an earlier one already preprocessed (entries are keyed
        by file, series and transform config and checked against the file's stamp, so sharing is safe).
        """
        if cls._shared is None or cls._shared.max_bytes != int(max_bytes):
            cls._shared = cls(max_bytes)
        return cls._shared

    @classmethod
    def release_shared(cls) -> None:
        """Let the process-wide cache go: the next :meth:`shared` starts empty (benchmarks, tests)."""
        cls._shared = None

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[Any, tuple[Any, torch.Tensor]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict[str, Any]:
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_bytes"])

    def get(self, key: Any, stamp: Any) -> torch.Tensor | None:
        """The tensor stored under ``key`` with this ``stamp``, or None."""
        hit = self._entries.get(key)
        if hit is None or hit[0] != stamp:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return hit[1]

    def put(self, key: Any, stamp: Any, x: torch.Tensor) -> None:
        """Keep ``x`` (evicting the least recently used entries); tensors over the budget are not kept."""
        size = x.numel() * x.element_size()
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1].numel() * old[1].element_size()
        if size > self.max_bytes:
            return
        while self.bytes + size > self.max_bytes and self._entries:
            _, (_, y) = self._entries.popitem(last=False)
            self.bytes -= y.numel() * y.element_size()
        self._entries[key] = (stamp, x)
        self.bytes += size
