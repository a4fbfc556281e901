"""Run one training stage or a pipeline of stages from a config; resume a run folder exactly.

``train(cfg)`` plans the stages (:mod:`medmllm.training.plan`), writes the run's resolved config,
and for each stage: builds it (:func:`medmllm.training.builders.build_stage`: the model, from the
previous stage's export when chained, the stage's freeze policy, the DataModule and the
LightningModule), fits with Lightning
(checkpoints: best on the monitored metric, last, every N steps; atomic writes), and exports the
model (model card, resolved config and provenance included). ``train(..., resume=RUN_DIR)``
skips finished stages and continues the interrupted one from its ``last.ckpt``: optimiser,
scheduler, loops, RNG states and the position in the epoch are restored.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from medmllm.config import dump_yaml, read_yaml
from medmllm.errors import ConfigError, InputError
from medmllm.training.checkpointing import require_complete
from medmllm.training.plan import RUN_DIR_ENV, StageContext, build_plan, default_run_dir, resolved_document

log = logging.getLogger(__name__)

RUN_CONFIG = "config.yaml"


@dataclasses.dataclass
class RunResult:
    """What a run produced: its folder, each stage's export and last validation metrics."""

    run_dir: Path
    exports: dict[str, Path]
    metrics: dict[str, dict[str, Any]]
    modules: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def export(self) -> Path | None:
        """The final stage's export."""
        return list(self.exports.values())[-1] if self.exports else None


def is_rank_zero() -> bool:
    """True in the process that writes run files (rank 0 of the whole job)."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if var in os.environ:
            return int(os.environ[var]) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
    return True


def _link_final(run_dir: Path, export: Path) -> None:
    link = run_dir / "export"
    tmp = run_dir / ".export.link-tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(export, run_dir), tmp)
    os.replace(tmp, link)


def run_stage(ctx: StageContext, *, resume_ckpt: Path | None = None) -> tuple[Path | None, Any]:
    """Train one stage (resuming from ``resume_ckpt`` when given) and export it; returns (export, module)."""
    from medmllm.training.builders import build_stage, build_trainer
    from medmllm.training.card import export_stage

    model, datamodule, module, summary = build_stage(ctx)
    data = ctx.config.get("data") or {}
    trainer = build_trainer(ctx, model, has_val=bool(data.get("val")) if "val" in data else True)
    ctx.dir.mkdir(parents=True, exist_ok=True)
    if resume_ckpt is not None:
        log.info("stage %s: resuming from %s", ctx.name, resume_ckpt)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None)
    if trainer.interrupted:
        raise KeyboardInterrupt
    export = None
    if trainer.is_global_zero:
        export = export_stage(ctx, trainer, module, summary)
    trainer.strategy.barrier("medmllm-export")
    if export is None and ctx.train.export:
        export = ctx.export_dir
    return export, module


def load_run_config(run_dir: Path) -> dict[str, Any]:
    """The config saved in a run folder (for ``--resume``)."""
    f = run_dir / RUN_CONFIG
    if not f.is_file():
        raise InputError(run_dir, f"not a medmllm run folder (no {RUN_CONFIG})")
    doc = read_yaml(f)
    doc.pop("resolved_stages", None)
    doc.pop("provenance", None)
    return doc


def train(cfg: dict[str, Any] | None = None, *, config_path: str | os.PathLike | None = None,
          resume: str | os.PathLike | None = None, overrides: list[tuple[str, Any]] = (),
          quiet: bool = False, callbacks: list[Any] | None = None) -> RunResult:
    """Run the stages of ``cfg`` in order (or continue the run folder ``resume``).

    Args:
        cfg: the config (``model``, ``data``, ``train``, optional ``pipeline``).
        config_path: where ``cfg`` came from (names the run folder; provenance).
        resume: a run folder to continue; its saved config is used, with ``overrides`` applied.
        overrides: ``(dotted key, value)`` pairs applied on resume (e.g. a longer ``max_steps``).
        quiet: no progress bars.
        callbacks: extra Lightning callbacks for every stage (tests, tooling).
    """
    from medmllm.config import set_dotted
    from medmllm.provenance import provenance

    if resume is not None:
        run_dir = Path(resume)
        cfg = load_run_config(run_dir)
        for k, v in overrides:
            log.warning("resume: overriding %s = %r", k, v)
            set_dotted(cfg, k, v)
    elif cfg is None:
        raise ConfigError(None, "train: give a config or a run folder to resume")
    else:
        run_dir = default_run_dir(cfg, config_path)
    run_dir = run_dir.resolve()
    os.environ[RUN_DIR_ENV] = str(run_dir)  # DDP children started by Lightning use the same folder
    plan = build_plan(cfg, run_dir, quiet=quiet)
    if is_rank_zero():
        if resume is None and (run_dir / RUN_CONFIG).exists():
            raise InputError(run_dir, "already holds a run; continue it with --resume or choose another "
                                      "train.run_dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        doc = resolved_document(cfg, plan)
        doc["provenance"] = provenance(cfg, seed=plan[0].train.seed)
        dump_yaml(doc, run_dir / RUN_CONFIG)
    log.info("run folder: %s (%d stage%s: %s)", run_dir, len(plan), "s" * (len(plan) > 1),
             ", ".join(f"{c.name} [{c.stage.name}]" for c in plan))
    result = RunResult(run_dir, {}, {})
    previous: StageContext | None = None
    for ctx in plan:
        ctx.extra_callbacks = list(callbacks or [])
        if previous is not None and previous.train.export:
            previous.stage.hand_off(require_complete(previous.export_dir), ctx.config)
        if resume is not None and ctx.done:
            log.info("stage %s: already finished (%s)", ctx.name, ctx.export_dir)
            result.exports[ctx.name] = ctx.export_dir
            previous = ctx
            continue
        ckpt = ctx.last_ckpt if (resume is not None and ctx.last_ckpt.is_file()) else None
        export, module = run_stage(ctx, resume_ckpt=ckpt)
        if export is not None:
            result.exports[ctx.name] = export
        result.metrics[ctx.name] = dict(getattr(module, "last_val", {}) or {})
        result.modules[ctx.name] = module
        previous = ctx
    if result.export is not None and is_rank_zero():
        _link_final(run_dir, result.export)
    torch.distributed.barrier() if torch.distributed.is_available() and torch.distributed.is_initialized() else None
    return result
