"""Findings-guided prompting at training time: every image's findings probabilities computed once.

A stage whose model has ``model.findings_prompt`` gets :class:`FindingsPromptDataModule` (through
:func:`medmllm.training.builders.default_datamodule`): when a manifest source is set up, its distinct
images (by identity: path and series, so the report variants of one study share them) are run once
through the frozen encoder and the findings heads (:mod:`medmllm.models.findings_prompt`), with the
deterministic (evaluation) transforms, in eval mode, in batches; the probabilities are kept in a
table. The source's samples are then served by :class:`HintedDataset`, which writes the hint of the
sample's images into its user turn (and drops the pixels without ``visual_tokens``): no step
computes a head again, and the text a sample gets is the text inference writes for the same images.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import defaultdict
from typing import Any

import torch
from torch.utils.data import Dataset

from medmllm.data.datamodule import MedDataModule
from medmllm.data.dataset import ManifestDataset
from medmllm.data.text import record_language
from medmllm.errors import ConfigError
from medmllm.models import findings_prompt as fp

log = logging.getLogger(__name__)

HINT_TOKENS = 24  # rough length of a hint line, for length grouping only
BATCH = 64


class HintedDataset(Dataset):
    """A manifest dataset whose samples carry the findings hint of their images.

    Args:
        base: the source's dataset.
        table: image key -> ``(K,)`` probabilities (every image of ``base`` is in it).
        labels: the finding keys of the probabilities.
        cfg: the model's :class:`~medmllm.config.FindingsPromptConfig`.
    """

    def __init__(self, base: ManifestDataset, table: dict[str, torch.Tensor], labels: tuple[str, ...], cfg: Any,
                 thresholds: dict[str, float] | None = None):
        self.base, self.table, self.labels, self.cfg = base, table, labels, cfg
        self.thresholds = thresholds if thresholds is not None else {}  # filled in place by a calibration

    def probabilities(self, i: int) -> torch.Tensor | None:
        """The combined ``(K,)`` probabilities of record ``i``'s images (None without images with a head)."""
        keys = [self.base.image_key(e) for e in self.base.records[i].get("images") or []]
        return fp.combine([p for p in (self.table.get(k) for k in keys) if p is not None], self.cfg.combine)

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str) -> Any:  # records, root, skipped ... of the source
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def length(self, i: int) -> int:
        n = self.base.length(i) + HINT_TOKENS
        return n if self.cfg.visual_tokens else n - 64 * len(self.base.records[i].get("images") or [])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return fp.apply_hint(self.base[i], self.probabilities(i), self.labels, self.cfg,
                             record_language(self.base.records[i]), self.thresholds)


@torch.no_grad()
def fill_table(model: Any, ds: ManifestDataset, pipes: dict[str, Any], table: dict[str, torch.Tensor],
               batch_size: int = BATCH, device: torch.device | str | None = None) -> int:
    """Add the probabilities of ``ds``'s images that ``table`` lacks; returns how many were computed."""
    view = copy.copy(ds)
    view.pipelines = pipes  # deterministic transforms, as inference preprocesses
    todo: dict[str, dict[str, tuple[dict[str, Any], str]]] = defaultdict(dict)
    for rec in ds.records:
        for entry in rec.get("images") or []:
            key = ds.image_key(entry)
            if key not in table:
                todo[entry["modality"]].setdefault(key, (entry, str(rec["id"])))
    heads = model.findings_heads
    mods = [m for m in todo if m in heads.heads]
    encoders = {m: model.encoders[m] for m in mods}
    modes = {m: e.training for m, e in encoders.items()}
    devices = {m: next(e.parameters()).device for m, e in encoders.items()}
    target = torch.device(device) if device is not None else None
    n = 0
    try:
        for m, enc in encoders.items():
            enc.eval()
            if target is not None:
                enc.to(target)
                heads.heads[m].to(target)
            items = list(todo[m].items())
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                xs = [view.image(entry, rid) for _, (entry, rid) in chunk]
                for (key, _), p in zip(chunk, fp.image_probabilities(model, m, xs)):
                    table[key] = p
                n += len(chunk)
    finally:
        for m, enc in encoders.items():
            enc.train(modes[m])
            enc.to(devices[m])
            heads.heads[m].to(devices[m])
    for m in todo:
        if m not in heads.heads:
            for key in todo[m]:
                table.setdefault(key, None)  # type: ignore[arg-type]
    return n


class FindingsPromptDataModule(MedDataModule):
    """The manifest DataModule whose sources' samples carry the findings hint (see the module docstring)."""

    model: Any = None

    @classmethod
    def from_model(cls, cfg: Any, model: Any) -> "FindingsPromptDataModule":
        dm = super().from_model(cfg, model)
        dm.model = model
        dm.table = {}
        if any(p.requires_grad for p in model.encoders.parameters()):
            log.warning("model.findings_prompt: the encoders train in this stage; the hints are computed once with "
                        "the encoders as the stage starts, and inference will use the trained ones")
        return dm

    def _source(self, role: str, index: int, pipes: dict[str, Any]) -> Dataset:
        ds = super()._source(role, index, pipes)
        if not isinstance(ds, ManifestDataset):
            raise ConfigError(None, f"data.{role}.{index}: model.findings_prompt needs manifest sources (a chunk "
                                    "folder holds tokenised prompts, which the hint would have to change)")
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else None
        t0 = time.perf_counter()
        n = fill_table(self.model, ds, self.eval_pipes, self.table, device=device)
        if n:
            log.info("findings prompt: probabilities of %d images of data.%s.%d in %.1f s", n, role, index,
                     time.perf_counter() - t0)
        heads = self.model.findings_heads
        return HintedDataset(ds, self.table, heads.labels, self.model.config.findings_prompt, heads.thresholds)

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        heads, cfg = self.model.findings_heads, self.model.config.findings_prompt
        if cfg.calibrate and not heads.thresholds and self.train_set is not None:
            calibrate_heads(heads, self.train_set.datasets)


def calibrate_heads(heads: Any, parts: list[HintedDataset]) -> dict[str, dict[str, float]]:
    """Set ``heads.thresholds`` (in place) to the per-finding F1-optimal thresholds on the parts' labelled records."""
    probs, labels = [], []
    for part in parts:
        for i, rec in enumerate(part.records):
            p = part.probabilities(i)
            if p is not None and isinstance(rec.get("labels"), dict):
                probs.append(p)
                labels.append(rec["labels"])
    found = fp.calibrate(probs, labels, heads.labels)
    heads.thresholds.update({k: v["threshold"] for k, v in found.items()})
    log.info("findings prompt: thresholds calibrated on %d training records: %s", len(probs),
             ", ".join(f"{k} {v['threshold']:.2f} (F1 {v['f1']:.2f})" for k, v in found.items()) or "none")
    return found
