"""The LightningModule of the report-writing stages (``align``, ``report``, ``instruct``, ``clinical``).

Loss: token cross-entropy on the assistant tokens (:func:`medmllm.models.loss.token_loss_sums`),
normalised by the number of supervised tokens of the whole (all-rank) batch, so that N processes
with batch B give the same gradient as one process with batch N*B. Validation logs ``val/loss`` (token-weighted over the whole
validation set), a few generated sample reports, and clinical macro-F1 on a small subset when
the report labeler is available. Frozen encoders run in eval mode and, when their inputs are not
augmented, through a :class:`~medmllm.training.feature_cache.FeatureCache`. Checkpoints keep
the RNG states of every rank (exact resume) and, by default, only the trained weights.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from medmllm.errors import InputError
from medmllm.models.loss import token_loss_sums
from medmllm.training import optim as optim_lib
from medmllm.training.feature_cache import FeatureCache
from medmllm.training.freeze import named_part_parameters

log = logging.getLogger(__name__)


def rng_state() -> dict[str, Any]:
    """The RNG states of torch, Python, NumPy (and CUDA) of this process, as a checkpoint stores them."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                       int(np_state[3]), float(np_state[4])]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class MedMLLMModule(L.LightningModule):
    """Trains a MedMLLM (or any model with the same forward) in one stage.

    Args:
        model: the model; its trainable parameters are set by ``stage.apply`` beforehand.
        cfg: the stage's :class:`~medmllm.config.TrainConfig`.
        stage: the :class:`~medmllm.training.stages.Stage` (its ``frozen_modules`` stay in eval mode).
        ctx: the stage's run context (validation samples for reports and F1, augmentation flags).
    """

    def __init__(self, model: nn.Module, cfg: Any, *, stage: Any, ctx: Any = None):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.stage = stage
        self.ctx = ctx
        self.strict_loading = not cfg.checkpoint.trainable_only
        self.feature_cache: FeatureCache | None = None
        self._frozen = stage.frozen_modules(model)
        self._val_sum = self._val_count = None
        self._rng_to_restore: dict[str, Any] | None = None
        self._rng_after_step: dict[str, Any] | None = None
        self.samples_seen: list[str] = []  # sample ids trained on, in order, when record_samples is set
        self.record_samples = False
        self.last_val: dict[str, Any] = {}

    def enable_feature_cache(self, augmented: dict[str, bool] | None = None) -> list[str]:
        """Cache the outputs of frozen encoders whose training inputs are not augmented."""
        fc = self.cfg.feature_cache
        enc = getattr(self.model, "encoders", None)
        if not fc.enabled or enc is None:
            return []
        dtype = getattr(torch, fc.dtype) if fc.dtype else None
        cache = FeatureCache(fc.max_gb, dtype)
        frozen = {id(m) for m in self._frozen}
        for m, e in enc.items():
            if id(e) in frozen and not (augmented or {}).get(m, False):
                cache.attach(m, e)
        if cache.modalities:
            self.feature_cache = cache
            log.info("feature cache on for frozen encoder(s): %s", ", ".join(cache.modalities))
        return cache.modalities

    def _set_frozen_eval(self) -> None:
        for m in self._frozen:
            m.eval()

    def on_fit_start(self) -> None:
        self.model.train()
        self._set_frozen_eval()

    def on_train_epoch_start(self) -> None:
        # Lightning keeps the modes modules come with; a model loaded from an export is in eval mode.
        self.model.train()
        self._set_frozen_eval()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        self._set_frozen_eval()

    def on_validation_end(self) -> None:
        if self._rng_after_step is not None and self._trainer is not None and self.trainer.state.fn == "fit":
            set_rng_state(self._rng_after_step)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Logits ``(B, L, V)`` of a collated batch."""
        if self.feature_cache is not None:
            self.feature_cache.set_keys(batch)
        try:
            out = self.model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                             pixel_values=batch.get("pixel_values") or None,
                             image_sample_index=batch.get("image_sample_index") or None)
        finally:
            if self.feature_cache is not None:
                self.feature_cache.clear_keys()
        return out.logits

    def _absent_modalities_term(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """Zero-valued term through the encoder/connector of each modality missing from the batch.

        Under DDP every rank must produce gradients for the same parameters (a rank whose batch
        has no CT would otherwise leave the CT connector's all-reduce unfinished), and under
        FSDP/ZeRO-3 every rank must run the same sharded modules. A zero image keeps them in the
        graph with zero gradient, which is exactly what a single process computes.
        """
        enc, con = getattr(self.model, "encoders", None), getattr(self.model, "connectors", None)
        if enc is None or self._trainer is None or self.trainer.world_size <= 1:
            return None
        sharded = self.cfg.strategy.name in ("fsdp", "deepspeed_stage_3")
        present = set(batch.get("pixel_values") or {})
        total = None
        for m in enc:
            mods = [enc[m]] + ([con[m]] if con is not None and m in con else [])
            if m in present or not (sharded or any(p.requires_grad for x in mods for p in x.parameters())):
                continue
            spec = self.model.input_spec(m)
            x = torch.zeros((1, int(spec["channels"]), *spec["spatial_size"]), device=self.device)  # (1, C, *S)
            feats = enc[m](x)  # (1, T, D)
            if len(mods) > 1:
                feats = mods[1](feats, enc[m].grid(tuple(x.shape[1:])))
            term = feats.float().sum() * 0.0
            total = term if total is None else total + term
        return total

    def _global_count(self, n: torch.Tensor) -> torch.Tensor:
        if self._trainer is None or self.trainer.world_size <= 1:
            return n
        return self.trainer.strategy.reduce(n.float(), reduce_op="sum")

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.record_samples:
            self.samples_seen.extend(batch.get("ids", []))
        sums, counts = token_loss_sums(self(batch), batch["labels"])
        n_local = counts.sum()
        if n_local == 0 and (self._trainer is None or self.trainer.world_size <= 1):
            raise InputError(None, f"training batch {batch_idx} has no supervised tokens (ids: {batch.get('ids')})")
        world = 1 if self._trainer is None else self.trainer.world_size
        n_global = self._global_count(n_local.detach().clone())  # reduced in place
        loss = sums.sum() * world / n_global.clamp_min(1)
        absent = self._absent_modalities_term(batch)
        if absent is not None:
            loss = loss + absent
        self.log("train/loss", sums.sum().detach() / n_local.clamp_min(1), prog_bar=True, batch_size=len(counts))
        # The RNG state between two training steps is what a checkpoint stores and what the next
        # step starts from (backward and the optimiser draw no random numbers); validation in
        # between is made RNG-neutral (on_validation_end).
        self._rng_after_step = rng_state()
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._val_count = torch.zeros((), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        sums, counts = token_loss_sums(self(batch), batch["labels"])
        self._val_sum += sums.sum().double()
        self._val_count += counts.sum().double()

    def on_validation_epoch_end(self) -> None:
        # Every rank evaluates the whole validation set (it is not sharded), so no reduction.
        total, count = self._val_sum, self._val_count
        val = (total / count.clamp_min(1)).float()
        self.log("val/loss", val, prog_bar=True, sync_dist=False)
        self.last_val = {"val/loss": float(val)}
        if self.ctx is not None and self._trainer is not None and not self.trainer.sanity_checking:
            from medmllm.training.reports import log_validation_reports

            metrics = log_validation_reports(self, self.ctx, self.cfg.eval)
            for k, v in metrics.items():
                self.log(k, v, sync_dist=False)
                self.last_val[k] = v

    def configure_optimizers(self) -> dict[str, Any]:
        total = self.cfg.max_steps
        if (total is None or total < 0) and self._trainer is not None:
            total = int(self.trainer.estimated_stepping_batches)
        return optim_lib.configure(named_part_parameters(self.model), self.cfg.optim, total)

    def _frozen_fingerprint(self) -> torch.Tensor:
        sums = [p.detach().double().sum() for p in self.model.parameters() if not p.requires_grad]
        return torch.stack(sums).cpu() if sums else torch.zeros(0, dtype=torch.float64)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        mine = self._rng_after_step or rng_state()
        states = [mine]
        if self._trainer is not None and self.trainer.world_size > 1 and torch.distributed.is_initialized():
            states = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(states, mine)
        checkpoint["medmllm_rng"] = states
        if self.cfg.checkpoint.trainable_only:
            frozen = {f"model.{n}" for n, p in self.model.named_parameters() if not p.requires_grad}
            sd = checkpoint["state_dict"]
            checkpoint["state_dict"] = {k: v for k, v in sd.items() if k not in frozen}
            checkpoint["medmllm_frozen_fingerprint"] = self._frozen_fingerprint()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        fp = checkpoint.get("medmllm_frozen_fingerprint")
        if fp is not None:
            mine = self._frozen_fingerprint()
            if mine.shape != fp.shape or not torch.allclose(mine, fp.to(mine.dtype), rtol=1e-6, atol=1e-6):
                raise InputError(None, "resume: the frozen weights rebuilt from the config differ from those the "
                                       "checkpoint was trained with (changed config, init_from or seed?)")
        states = checkpoint.get("medmllm_rng") or []
        rank = 0 if self._trainer is None else self.trainer.global_rank
        if states:
            self._rng_to_restore = states[rank] if rank < len(states) else states[0]
