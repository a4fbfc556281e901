"""Optimiser parameter groups and learning-rate schedule of a training stage.

Each part of the model (``encoders``, ``connectors``, ``llm``) gets its own learning rate; within
a part, biases, norms and embeddings get no weight decay. The schedule is a linear warmup
followed by a cosine (or linear, or constant) decay to ``min_lr_ratio * lr``, stepped every
optimiser step. Gradient clipping and accumulation are the Trainer's (``gradient_clip_val``,
``accumulate_grad_batches``), configured from the same block.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable

import torch
from torch import nn

from medmllm.errors import ConfigError

log = logging.getLogger(__name__)

SCHEDULES = ("cosine", "linear", "constant")
NO_DECAY_HINTS = ("bias", "norm", "embed", "pos_embedding", "cls_token", "latents", "queries", "logit_scale")


def lr_lambda(step: int, *, total_steps: int, warmup_steps: int, schedule: str = "cosine",
              min_lr_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Warmup rises linearly from ``1 / (warmup_steps + 1)`` to 1; then ``cosine`` or ``linear``
    decays to ``min_lr_ratio`` at ``total_steps``; ``constant`` stays at 1.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(None, f"train.optim.schedule '{schedule}': expected one of {', '.join(SCHEDULES)}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    if schedule == "linear":
        shape = 1.0 - progress
    else:
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr_ratio + (1.0 - min_lr_ratio) * shape


def _no_decay(name: str, param: nn.Parameter) -> bool:
    low = name.lower()
    return param.ndim < 2 or any(h in low for h in NO_DECAY_HINTS)


def param_groups(parts: dict[str, Iterable[tuple[str, nn.Parameter]]], optim: Any) -> list[dict[str, Any]]:
    """Optimiser parameter groups: one learning rate per part, decay and no-decay split.

    Args:
        parts: ``{"encoders": [(name, param), ...], "connectors": ..., "llm": ...}``; only
            parameters with ``requires_grad`` are used.
        optim: an :class:`~medmllm.config.OptimConfig` (``lr``, ``lr_<part>``, ``weight_decay``).

    Returns:
        Groups for ``torch.optim`` with ``name`` (``"<part>"`` or ``"<part>/no_decay"``), ``lr``
        and ``weight_decay``; empty groups are left out.
    """
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for part, named in parts.items():
        lr = getattr(optim, f"lr_{part}", None)
        lr = optim.lr if lr is None else lr
        decay, no_decay = [], []
        for name, p in named:
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if _no_decay(name, p) else decay).append(p)
        if decay:
            groups.append({"name": part, "params": decay, "lr": float(lr), "weight_decay": float(optim.weight_decay)})
        if no_decay:
            groups.append({"name": f"{part}/no_decay", "params": no_decay, "lr": float(lr), "weight_decay": 0.0})
    return groups


def build_optimizer(groups: list[dict[str, Any]], optim: Any) -> torch.optim.Optimizer:
    """The optimiser named by ``optim.name`` (``adamw`` or ``sgd``) over ``groups``."""
    if not groups:
        raise ConfigError(None, "nothing to train: the stage froze every parameter (check train.trainable)")
    name = optim.name.lower()
    if name == "adamw":
        betas = tuple(float(b) for b in optim.betas)
        return torch.optim.AdamW(groups, lr=float(optim.lr), betas=betas, eps=float(optim.eps))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=float(optim.lr), momentum=float(optim.momentum))
    raise ConfigError(None, f"train.optim.name '{optim.name}': expected adamw or sgd")


def warmup_steps(optim: Any, total_steps: int) -> int:
    """Warmup length: ``warmup_steps`` if set, else ``warmup_ratio * total_steps``."""
    if optim.warmup_steps:
        return int(optim.warmup_steps)
    return int(round(float(optim.warmup_ratio) * total_steps))


def configure(parts: dict[str, Iterable[tuple[str, nn.Parameter]]], optim: Any, total_steps: int) -> dict[str, Any]:
    """What a LightningModule's ``configure_optimizers`` returns: optimiser + per-step scheduler."""
    groups = param_groups(parts, optim)
    opt = build_optimizer(groups, optim)
    total = max(1, int(total_steps))
    warm = warmup_steps(optim, total)
    kw = {"total_steps": total, "warmup_steps": warm, "schedule": optim.schedule,
          "min_lr_ratio": float(optim.min_lr_ratio)}
    lr_lambda(0, **kw)  # validates the schedule name before training starts
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, **kw))
    for g in groups:
        log.info("optimiser group %-22s lr %.2e  weight decay %.3g  %d tensors", g["name"], g["lr"],
                 g["weight_decay"], len(g["params"]))
    log.info("schedule: %s, %d warmup of %d steps, min lr ratio %.3g", optim.schedule, warm, total,
             float(optim.min_lr_ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}
