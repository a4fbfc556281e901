"""Build everything a training config describes without training (``medmllm validate``).

For each stage, with the same :func:`~medmllm.training.builders.build_stage` as ``train``: the
model (from its own config; a previous stage's export does not exist yet), the freeze policy, the
DataModule with one training batch and its loss, the optimiser groups, the
Lightning strategy (GPU-only strategies are built and flagged on a CPU machine) and, where the
strategy can run here, the Trainer. Nothing is written outside a temporary folder.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from medmllm.training.plan import build_plan

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ValidationReport:
    """Printable lines and per-stage facts (parameters, batch loss, strategy ...)."""

    lines: list[str]
    stages: list[dict[str, Any]]


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n:,}"


def _first_batch_loss(module: Any, dm: Any) -> tuple[float, int, int | None, int | None]:
    dm.setup("fit")
    loader = dm.train_dataloader()
    batch = next(iter(loader))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log() without a Trainer
        loss = module.training_step(batch, 0)
    inner = getattr(dm, "inner", dm)
    n_train = len(inner.train_set) if getattr(inner, "train_set", None) is not None else None
    n_val = len(inner.val_set) if getattr(inner, "val_set", None) is not None else None
    return float(loss), len(batch.get("ids") or batch["input_ids"]), n_train, n_val


def validate_stage(ctx: Any, *, build_data: bool = True) -> tuple[list[str], dict[str, Any]]:
    """Build one stage as ``train`` does (:func:`~medmllm.training.builders.build_stage`); return lines and facts."""
    from medmllm.hardware import resolve_precision
    from medmllm.training import optim as optim_lib
    from medmllm.training.builders import build_stage, build_trainer
    from medmllm.training.freeze import named_part_parameters
    from medmllm.training.strategies import (GPU_ONLY, build_strategy, cuda_missing, describe, gpu_only_reason,
                                             resolve_accelerator)

    t = ctx.train
    lines = [f"stage {ctx.index + 1} '{ctx.name}' [{ctx.stage.name}]: {ctx.stage.description}"]
    init = (ctx.config.get("model") or {}).get("init_from")
    if init and not Path(init).exists():
        lines.append(f"  model.init_from {init} does not exist yet: built from the config instead")
        ctx.config = copy.deepcopy(ctx.config)
        ctx.config["model"]["init_from"] = None
    if ctx.index > 0 and not init:
        lines.append("  starts from the previous stage's export when trained (built from the config here)")
    fp = (ctx.config.get("model") or {}).get("findings_prompt")
    if fp and fp.get("heads") and not Path(fp["heads"]).exists():
        lines.append(f"  model.findings_prompt.heads {fp['heads']} does not exist yet: untrained heads here")
        ctx.config = copy.deepcopy(ctx.config)
        ctx.config["model"]["findings_prompt"]["heads"] = None
    elif fp and not fp.get("heads") and not ctx.config["model"].get("init_from") and ctx.stage.name != "encoder":
        lines.append("  findings prompt: heads from the encoder stage's export when trained (untrained heads here)")
    ctx.validating = True
    model, dm, module, summary = build_stage(ctx, data=build_data)
    lines += ["  " + s for s in summary.lines()]
    facts: dict[str, Any] = {"name": ctx.name, "stage": ctx.stage.name, "trainable": summary.num_trainable,
                             "total": summary.num_total}
    if dm is not None:
        loss, bsz, n_train, n_val = _first_batch_loss(module, dm)
        facts.update(batch_loss=loss, n_train=n_train, n_val=n_val)
        lines.append(f"  data: {n_train if n_train is not None else '?'} training samples, "
                     f"{n_val if n_val is not None else 0} validation; first batch of {bsz}: loss {loss:.4f}")
    groups = optim_lib.param_groups(named_part_parameters(model), t.optim)
    lines.append(f"  optimiser: {t.optim.name}, {t.optim.schedule} schedule, warmup "
                 f"{optim_lib.warmup_steps(t.optim, max(1, t.max_steps))} of {t.max_steps} steps, clip {t.optim.grad_clip}, "
                 f"accumulate {t.optim.accumulate}")
    for g in groups:
        lines.append(f"    {g['name']:<22} lr {g['lr']:.2e}  wd {g['weight_decay']:g}  "
                     f"{_count(sum(p.numel() for p in g['params']))} parameters")
    strategy = build_strategy(t.strategy, model, accelerator=t.accelerator, for_training=False)
    facts["strategy"] = strategy
    here = resolve_precision(t.precision, resolve_accelerator(t.accelerator))
    shown = t.precision if here == t.precision else f"{t.precision} (here: {here})"
    lines.append(f"  strategy: {describe(strategy)}; precision {shown}; {t.devices} device(s) x {t.num_nodes} node(s)")
    if t.strategy.name in GPU_ONLY and not torch.cuda.is_available():
        lines.append("  note: " + gpu_only_reason(t.strategy.name))
    elif cuda_missing(t.accelerator):
        lines.append(f"  note: train.accelerator '{t.accelerator}' needs CUDA GPUs, which this machine lacks; "
                     "the Trainer is not built here")
    else:
        build_trainer(ctx, model, for_training=False)
    return lines, facts


def validate_config(cfg: dict[str, Any], *, build_data: bool = True) -> ValidationReport:
    """Build every stage of ``cfg``; raises on the first problem (bad key, missing file, mismatch)."""
    with tempfile.TemporaryDirectory(prefix="medmllm-validate-") as tmp:
        plan = build_plan(cfg, Path(tmp), quiet=True)
        lines: list[str] = [f"{len(plan)} stage{'s' * (len(plan) > 1)}: "
                            + " -> ".join(f"{c.name} [{c.stage.name}]" for c in plan)]
        stages = []
        for ctx in plan:
            s_lines, facts = validate_stage(ctx, build_data=build_data)
            lines += s_lines
            stages.append(facts)
    return ValidationReport(lines, stages)
