"""Everything a stage is built from, in one place: ``build_stage(ctx)`` and the stage's Trainer.

:func:`build_stage` turns a stage's run context (:class:`~medmllm.training.plan.StageContext`)
into its model, DataModule, LightningModule and trainable summary through the stage's hooks
(:class:`~medmllm.training.stages.Stage`); ``medmllm train`` and ``medmllm validate`` both use it.
The DataModule is wrapped so that its training loader is resumable mid-epoch and sharded by rank
(:mod:`medmllm.training.resumable_loader`). The Trainer gets: the strategy from
:mod:`medmllm.training.strategies`, atomic checkpoint IO, checkpoint callbacks (best on
``train.checkpoint.monitor``, last, every N steps), a CSV logger and the progress bar unless quiet.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple

import lightning as L
from torch import nn

from medmllm.errors import ConfigError
from medmllm.hardware import resolve_precision
from medmllm.training.resumable_loader import ResumableData
from medmllm.training.strategies import build_strategy, cuda_missing, resolve_accelerator

log = logging.getLogger(__name__)


class BuiltStage(NamedTuple):
    """What :func:`build_stage` returns: the stage's model, DataModule (None when not built), module, summary."""

    model: nn.Module
    datamodule: L.LightningDataModule | None
    module: L.LightningModule
    summary: Any


def build_stage(ctx: Any, *, data: bool = True) -> BuiltStage:
    """Build a stage from its context: seed, model, freeze policy, DataModule, LightningModule.

    Args:
        ctx: the stage's :class:`~medmllm.training.plan.StageContext`.
        data: build the DataModule (``validate --no-data`` skips it).
    """
    L.seed_everything(ctx.train.seed, workers=True, verbose=False)
    model = ctx.stage.build_model(ctx)
    summary = ctx.stage.apply(model, dataclasses.asdict(ctx.train.trainable))
    setup_model(model, ctx)
    datamodule = ctx.stage.build_datamodule(ctx, model) if data else None
    module = ctx.stage.build_module(model, ctx)
    if hasattr(module, "enable_feature_cache"):
        module.enable_feature_cache(ctx.augmented)
    return BuiltStage(model, datamodule, module, summary)


def default_datamodule(ctx: Any, model: nn.Module, datamodule_class: Any = None) -> ResumableData:
    """The manifest DataModule of ``ctx.data`` for the MedMLLM ``model``, wrapped resumable.

    Also records in ``ctx`` which modalities are augmented during training (the feature cache
    is only used for the others).

    Args:
        ctx: the stage's run context.
        model: the MedMLLM (tokenizer, sizes, token counts).
        datamodule_class: a :class:`~medmllm.data.datamodule.MedDataModule` subclass (default: itself).
    """
    from medmllm.data.datamodule import MedDataModule

    data_cfg = ctx.data
    aug = data_cfg.transforms.augment
    augmented = aug.enabled and aug.prob > 0
    ctx.augmented = {m: augmented for m in getattr(model, "encoders", {})}
    if datamodule_class is None and getattr(model, "findings_heads", None) is not None:
        from medmllm.training.findings_hints import FindingsPromptDataModule

        datamodule_class = FindingsPromptDataModule  # samples carry the findings hint of their images
    return ResumableData((datamodule_class or MedDataModule).from_model(data_cfg, model), seed=ctx.train.seed)


def setup_model(model: nn.Module, ctx: Any) -> None:
    """Gradient checkpointing of the LLM when ``train.gradient_checkpointing`` is set."""
    if not ctx.train.gradient_checkpointing:
        return
    llm = getattr(model, "llm", None)
    if llm is None or not hasattr(llm, "gradient_checkpointing_enable"):
        raise ConfigError(None, "train.gradient_checkpointing: the model's LLM does not support it")
    llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(llm, "config"):
        llm.config.use_cache = False
    log.info("gradient checkpointing on for the LLM")


def checkpoint_callbacks(ctx: Any, has_val: bool) -> list[Any]:
    """Best (on the monitored metric), last, and every-N-steps checkpoint callbacks."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    ck = ctx.train.checkpoint
    if ck.mode not in ("min", "max"):
        raise ConfigError(None, f"train.checkpoint.mode '{ck.mode}': expected min or max")
    cbs = []
    every = ck.every_n_steps
    if has_val and ck.monitor and ck.save_top_k != 0:
        cbs.append(ModelCheckpoint(dirpath=ctx.ckpt_dir, filename="best-step{step:06d}", monitor=ck.monitor,
                                   mode=ck.mode, save_top_k=ck.save_top_k, auto_insert_metric_name=False,
                                   save_last=ck.save_last and not every))
    if every:
        cbs.append(ModelCheckpoint(dirpath=ctx.ckpt_dir, filename="step-{step:06d}", every_n_train_steps=every, auto_insert_metric_name=False,
                                   save_top_k=-1, monitor=None, save_last=ck.save_last))
    if ck.save_last and not any(getattr(c, "save_last", False) for c in cbs):
        cbs.append(ModelCheckpoint(dirpath=ctx.ckpt_dir, filename="last-tmp", save_top_k=0, monitor=None,
                                   save_last=True, save_on_train_epoch_end=True))
    return cbs


def progress_bar() -> Any:
    """Lightning's tqdm progress bar without the logger version number."""
    from lightning.pytorch.callbacks import TQDMProgressBar

    class _Bar(TQDMProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            items = super().get_metrics(trainer, pl_module)
            items.pop("v_num", None)
            return items

    return _Bar()


def build_trainer(ctx: Any, model: nn.Module | None = None, *, for_training: bool = True,
                  has_val: bool = True) -> L.Trainer:
    """The Lightning Trainer of a stage."""
    from lightning.pytorch.loggers import CSVLogger

    from medmllm.training.checkpointing import AtomicCheckpointIO

    t = ctx.train
    acc = resolve_accelerator(t.accelerator)
    if for_training and cuda_missing(t.accelerator):
        raise ConfigError(None, f"train.accelerator '{t.accelerator}': this machine has no CUDA GPU "
                                "(use auto or cpu here)")
    strategy = build_strategy(t.strategy, model, accelerator=t.accelerator, for_training=for_training)
    plugins = [] if t.strategy.name.startswith("deepspeed") else [AtomicCheckpointIO()]
    accumulate = max(1, int(t.optim.accumulate))
    val_kw: dict[str, Any]
    if t.val_every_n_steps:
        val_kw = {"val_check_interval": int(t.val_every_n_steps) * accumulate, "check_val_every_n_epoch": None}
    else:
        val_kw = {"check_val_every_n_epoch": 1}
    limit_val = t.limit_val_batches if has_val else 0
    ckpt_callbacks = checkpoint_callbacks(ctx, has_val)
    callbacks = ckpt_callbacks + list(ctx.extra_callbacks)
    if not ctx.quiet:
        callbacks.append(progress_bar())
    if t.max_steps <= 0 and t.max_epochs <= 0:
        raise ConfigError(None, "train: set max_steps or max_epochs")
    ctx.precision = resolve_precision(t.precision, acc)
    return L.Trainer(
        accelerator=acc, devices=t.devices, num_nodes=t.num_nodes, strategy=strategy,
        precision=ctx.precision, max_steps=t.max_steps, max_epochs=t.max_epochs,
        limit_val_batches=limit_val, log_every_n_steps=t.log_every_n_steps,
        gradient_clip_val=t.optim.grad_clip,
        accumulate_grad_batches=accumulate, deterministic=t.deterministic, default_root_dir=ctx.dir,
        callbacks=callbacks, logger=CSVLogger(ctx.dir, name="logs"), plugins=plugins,
        enable_progress_bar=not ctx.quiet, enable_model_summary=False, use_distributed_sampler=False,
        num_sanity_val_steps=0, enable_checkpointing=bool(ckpt_callbacks), **val_kw)
