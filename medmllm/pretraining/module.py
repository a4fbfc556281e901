"""The LightningModule of the ``encoder`` stage: trains an EncoderPretrainer on image-report batches.

It reuses :class:`~medmllm.training.module.MedMLLMModule` for what every stage shares (frozen
encoders in eval mode, the feature cache, RNG states and trainable-only weights in checkpoints)
and replaces the steps: the loss is the pretrainer's (InfoNCE + BCE per modality), and validation
logs ``val/loss`` (sample-weighted), retrieval recall@1 both ways with its chance level, and the
mean AUROC of the classification head per modality (``val/<m>/i2t_r1`` ...).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from medmllm.pretraining.metrics import validation_metrics
from medmllm.training import optim as optim_lib
from medmllm.training.freeze import named_part_parameters
from medmllm.training.module import MedMLLMModule, rng_state

log = logging.getLogger(__name__)


class EncoderPretrainModule(MedMLLMModule):
    """Trains ``pretrainer`` (an :class:`~medmllm.pretraining.model.EncoderPretrainer`) in the encoder stage.

    Args:
        pretrainer: the wrapped model; trainable parameters are set by the stage beforehand.
        cfg: the stage's :class:`~medmllm.config.TrainConfig`.
        stage: the stage.
        ctx: the stage's run context.
    """

    def __init__(self, pretrainer: nn.Module, cfg: Any, *, stage: Any, ctx: Any = None):
        super().__init__(pretrainer, cfg, stage=stage, ctx=ctx)
        self._rows: dict[str, dict[str, list]] = {}
        self._warned_empty = False

    def forward(self, batch: dict[str, Any], features: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of a batch (see :meth:`EncoderPretrainer.forward`)."""
        if self.feature_cache is not None:
            self.feature_cache.set_keys(batch)
        try:
            return self.model(batch.get("pixel_values") or {}, batch.get("image_sample_index") or {},
                              batch["texts"], batch.get("label_dicts"), features=features)
        finally:
            if self.feature_cache is not None:
                self.feature_cache.clear_keys()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.record_samples:
            self.samples_seen.extend(batch.get("ids", []))
        out = self(batch)
        loss = out["loss"]
        if not loss.requires_grad:  # nothing to learn in this batch (one image, no labels): a zero step
            if not self._warned_empty:
                log.warning("encoder stage: batch %d has no pair to contrast and no labels (ids %s)", batch_idx,
                            batch.get("ids"))
                self._warned_empty = True
            loss = loss + 0.0 * self.model.logit_scale
        bsz = len(batch["texts"])
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=bsz)
        for k, v in out.items():
            if k != "loss":
                self.log(f"train/{k}", v.detach(), batch_size=bsz)
        self.log("train/temperature", 1.0 / self.model.logit_scale.detach().exp(), batch_size=bsz)
        self._rng_after_step = rng_state()
        return loss

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._rows = {}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        feats: dict[str, Any] = {}
        out = self(batch, features=feats)
        bsz = len(batch["texts"])
        self._val_sum += out["loss"].double() * bsz
        self._val_count += bsz
        labels = self.model.label_matrix(batch["label_dicts"]).cpu().numpy()  # (B, K), NaN = unknown
        txt = feats.get("text")
        for m in self.model.image_proj:
            f = feats.get(m)
            if f is None:
                continue
            r = self._rows.setdefault(m, {"image": [], "text": [], "report": [], "head": [], "labels": []})
            samples = f["samples"].tolist()
            for j, b in enumerate(samples):
                report = batch["texts"][b]
                if txt is not None and report:
                    r["image"].append(f["image"][j].cpu().numpy())
                    r["text"].append(txt[b].float().cpu().numpy())
                    r["report"].append(report)
                r["head"].append(None if f["head"] is None else f["head"][j].cpu().numpy())
                r["labels"].append(labels[b])

    def on_validation_epoch_end(self) -> None:
        val = (self._val_sum / self._val_count.clamp_min(1)).float()
        self.log("val/loss", val, prog_bar=True, sync_dist=False)
        self.last_val = {"val/loss": float(val)}
        for k, v in validation_metrics(self._rows, list(self.model.label_keys)).items():
            self.log(k, v, sync_dist=False, prog_bar=k.endswith("i2t_r1"))
            self.last_val[k] = v
        self._rows = {}

    def configure_optimizers(self) -> dict[str, Any]:
        """Groups: ``encoders`` (``lr_encoders``, default ``lr``) and ``pretrain`` (text encoder, heads: ``lr``)."""
        total = self.cfg.max_steps
        if (total is None or total < 0) and self._trainer is not None:
            total = int(self.trainer.estimated_stepping_batches)
        parts = named_part_parameters(self.model)
        parts["pretrain"] = [(f"pretrain.{n}", p) for n, p in self.model.head_parameters()]
        return optim_lib.configure(parts, self.cfg.optim, total)
