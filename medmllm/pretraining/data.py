"""Batches of the ``encoder`` pretraining stage: each sample's images, report text and labels.

The stage reads the same manifests (or litdata chunks) as every other stage, through the same
DataModule, so the tensor cache, the training augmentation and the mixture sampler all apply. Only
the collator differs: no LLM tokens, but the report of each sample (``batch["texts"]``) and its
finding labels (``batch["label_dicts"]``)::

    {"ids": [...], "pixel_values": {m: (N_m, C, *spatial)}, "image_sample_index": {m: (N_m,)},
     "texts": [str | None, ...], "label_dicts": [dict | None, ...]}

The report text is the record's ``report`` (findings, then impression) or, failing that, the last
assistant turn (a caption, or the report written as the answer). With ``dedupe`` a manifest
contributes one sample per distinct (images, report) pair: a synthetic case's report variants with
and without clinical context share both and would otherwise be drawn several times per epoch.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L

from medmllm.data.collate import Collator
from medmllm.data.datamodule import MedDataModule
from medmllm.data.dataset import ManifestDataset
from medmllm.errors import InputError

log = logging.getLogger(__name__)


def report_text(sample: dict[str, Any]) -> str | None:
    """The report of a record or dataset sample: ``findings`` + ``impression``, else the last assistant turn."""
    rep = sample.get("report")
    if isinstance(rep, dict):
        parts = [str(rep[k]).strip() for k in ("findings", "impression") if isinstance(rep.get(k), str)]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    for msg in reversed(sample.get("messages") or []):
        if msg.get("role") == "assistant" and isinstance(msg.get("content"), str) and msg["content"].strip():
            return msg["content"].strip()
    return None


def image_key(record: dict[str, Any]) -> tuple:
    """The images of a record as a hashable key (modality, path, series), in manifest order."""
    return tuple((im.get("modality"), im.get("path"), im.get("series")) for im in record.get("images") or [])


def select_records(records: list[dict[str, Any]], dedupe: bool = True) -> list[dict[str, Any]]:
    """Records with at least one image; with ``dedupe`` the first of each (images, report) pair."""
    out, seen = [], set()
    for rec in records:
        key = image_key(rec)
        if not key:
            continue
        if dedupe:
            k = (key, report_text(rec))
            if k in seen:
                continue
            seen.add(k)
        out.append(rec)
    return out


class EncoderCollator:
    """Samples -> an encoder-pretraining batch (pixels batched per modality as for the LLM stages)."""

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        pixel_values, sample_index, _ = Collator._pixels(samples)
        return {"ids": [s["id"] for s in samples], "pixel_values": pixel_values, "image_sample_index": sample_index,
                "texts": [report_text(s) for s in samples], "label_dicts": [s.get("labels") for s in samples]}


class EncoderDataModule(MedDataModule):
    """The manifest DataModule with the :class:`EncoderCollator` and record selection.

    Build it with :meth:`MedDataModule.from_model` (``EncoderDataModule.from_model(cfg, model)``);
    ``dedupe`` may be changed before ``setup``.
    """

    def __init__(self, *args: Any, dedupe: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.collator = EncoderCollator()
        self.dedupe = dedupe

    def _source(self, *args: Any, **kwargs: Any) -> Any:
        ds = super()._source(*args, **kwargs)
        if isinstance(ds, ManifestDataset):
            before = len(ds.records)
            ds.records = select_records(ds.records, self.dedupe)
            if not ds.records:
                raise InputError(ds.name, "no record with an image for the encoder stage")
            if len(ds.records) < before:
                log.info("%s: %d of %d records used by the encoder stage (with images%s)", ds.name,
                         len(ds.records), before, ", one per distinct images + report" if self.dedupe else "")
        return ds


def encoder_datamodule(ctx: Any, model: Any) -> L.LightningDataModule:
    """The stage's DataModule for the MedMLLM ``model``, wrapped resumable (see ``builders.default_datamodule``)."""
    from medmllm.training.builders import default_datamodule

    dm = default_datamodule(ctx, model, EncoderDataModule)
    dm.inner.dedupe = ctx.train.pretrain.dedupe
    return dm
