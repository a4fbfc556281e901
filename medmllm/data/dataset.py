"""Manifest records -> training samples with preprocessed image tensors.

A sample is ``{"id", "messages", "pixels": {"xray": [tensor, ...], "ct": [...]}, "task", "labels",
"answer", "choices", "meta"}``; the images of each modality are in manifest order, which is the
order of their placeholders. Preprocessing goes through the in-memory
:class:`~medmllm.data.cache.MemoryCache` and the on-disk :class:`~medmllm.data.cache.TensorCache`
when given (a second epoch decodes nothing), then training augmentation.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from medmllm.data.cache import MemoryCache, TensorCache, source_key, stat_stamp
from medmllm.data.schema import SPLITS, image_root, image_source, read_manifest, resolve_image_path
from medmllm.data.transforms import ImagePipeline
from medmllm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.5  # rough, for length grouping only


def answer_turn(record: dict[str, Any]) -> dict[str, str] | None:
    """The assistant turn a benchmark-style record (no assistant turn, an ``answer``) is trained on."""
    msgs = record.get("messages") or []
    if any(m.get("role") == "assistant" for m in msgs) or not isinstance(record.get("answer"), str):
        return None
    return {"role": "assistant", "content": record["answer"]}


class ManifestDataset(Dataset):
    """The samples of a manifest (or of a list of records with their image root).

    Args:
        records: manifest records.
        root: the image root their paths are relative to.
        pipelines: modality -> :class:`ImagePipeline` (built from the model's encoders).
        cache: optional tensor cache of the deterministic preprocessing.
        memory: optional in-memory cache in front of ``cache`` (or of the preprocessing).
        answer_as_target: append the ``answer`` as an assistant turn where there is none.
        name: shown in logs and errors (the manifest path).
    """

    def __init__(self, records: list[dict[str, Any]], root: str | os.PathLike, pipelines: dict[str, ImagePipeline],
                 *, cache: TensorCache | None = None, memory: MemoryCache | None = None,
                 answer_as_target: bool = True, name: str = "<records>"):
        self.root = Path(root)
        self.pipelines = pipelines
        self.cache = cache
        self.memory = memory
        self._paths: dict[str, Path] = {}
        self.answer_as_target = answer_as_target
        self.name = name
        self.skipped: Counter = Counter()
        self.records = []
        for rec in records:
            lacking = sorted({im["modality"] for im in rec.get("images") or []} - set(pipelines))
            if lacking:
                self.skipped[f"needs a {'/'.join(lacking)} encoder the model does not have"] += 1
                continue
            self.records.append(rec)
        for why, n in self.skipped.items():
            log.warning("%s: %d record(s) left out: %s", name, n, why)

    @classmethod
    def from_manifest(cls, path: str | os.PathLike, pipelines: dict[str, ImagePipeline], *,
                      split: str | None = None, tasks: list[str] | None = None, variants: list[str] | None = None,
                      **kwargs: Any) -> "ManifestDataset":
        """Read and validate a manifest; keep records of ``split`` (``any``/None: all), ``tasks`` and
        ``variants`` (``meta.variant``, e.g. the synthetic cases' ``report-both``)."""
        recs = read_manifest(path)
        if split not in (None, "any") and split not in SPLITS:
            raise ConfigError(None, f"split '{split}' is not one of {', '.join(SPLITS)} or any")
        if split not in (None, "any"):
            recs = [r for r in recs if r.get("split") == split]
        if tasks:
            recs = [r for r in recs if r.get("task") in tasks]
        if variants:
            recs = [r for r in recs if (r.get("meta") or {}).get("variant") in variants]
        if not recs:
            raise InputError(path, f"no record with split {split or 'any'}, task in {tasks or 'any'} "
                                   f"and variant in {variants or 'any'}")
        return cls(recs, image_root(path), pipelines, name=str(path), **kwargs)

    def __len__(self) -> int:
        return len(self.records)

    def messages(self, i: int) -> list[dict[str, str]]:
        rec = self.records[i]
        msgs = [dict(m) for m in rec["messages"]]
        extra = answer_turn(rec) if self.answer_as_target else None
        return msgs + [extra] if extra else msgs

    def length(self, i: int) -> int:
        """Approximate token length of sample ``i`` without tokenising (for length grouping)."""
        text = sum(len(m["content"]) for m in self.messages(i))
        return int(text / CHARS_PER_TOKEN) + 64 * len(self.records[i].get("images") or [])

    def image_key(self, entry: dict[str, Any]) -> str:
        """The identity of an image entry (root, path, series): the records of one study share it."""
        return f"{self.root}|{entry['path']}|{entry.get('series')}"

    def image(self, entry: dict[str, Any], sample_id: str) -> torch.Tensor:
        """Preprocessed (cached) and augmented tensor of one image entry."""
        pipe = self.pipelines[entry["modality"]]
        path = self._paths.get(entry["path"])
        if path is None:
            path = resolve_image_path(self.root, entry["path"], where=f"{self.name}: {sample_id}")
            self._paths[entry["path"]] = path
        source = image_source(entry, path)
        try:
            stamp = stat_stamp(path)
        except OSError:
            raise InputError(path, f"image of sample '{sample_id}' not found") from None
        key = (source_key(source), pipe.config_hash)
        x = self.memory.get(key, stamp) if self.memory is not None else None
        if x is None:
            if self.cache is not None:
                x = self.cache.get_or_compute(source, pipe.config_hash, pipe.preprocess)
            else:
                x = pipe.preprocess(source)
            if self.memory is not None:
                self.memory.put(key, stamp, x)
        return pipe.augment(x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        pixels: dict[str, list[torch.Tensor]] = {}
        keys: dict[str, list[str]] = {}  # image identity (path, series): shared by records of one study
        for entry in rec.get("images") or []:
            pixels.setdefault(entry["modality"], []).append(self.image(entry, rec["id"]))
            keys.setdefault(entry["modality"], []).append(self.image_key(entry))
        return {"id": rec["id"], "messages": self.messages(i), "pixels": pixels, "image_keys": keys,
                "task": rec.get("task"),
                "labels": rec.get("labels"), "answer": rec.get("answer"), "choices": rec.get("choices"),
                "meta": rec.get("meta") or {}, "report": rec.get("report")}
