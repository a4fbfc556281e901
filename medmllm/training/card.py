"""A stage's export: the model, its resolved config with provenance, metrics and a model card.

The export is written into a temporary sibling folder that gets a ``COMPLETE`` marker last and
is then renamed into place (:func:`medmllm.files.atomic_dir`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import torch

from medmllm.config import to_plain
from medmllm.files import atomic_dir

log = logging.getLogger(__name__)


def data_files(data_cfg: dict[str, Any] | None) -> list[Path]:
    """Manifest files named in a data config (``data.train`` / ``data.val`` sources)."""
    out = []
    for key in ("train", "val"):
        for src in (data_cfg or {}).get(key) or []:
            path = src.get("path") if isinstance(src, dict) else src
            if isinstance(src, dict) and isinstance(src.get("synthetic"), dict):  # its generated manifest
                from medmllm.data.synthetic_source import manifest_path

                path = str(manifest_path(src["synthetic"], src.get("split") or key))
            if isinstance(path, str) and "://" not in path:
                out.append(Path(path))
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _precision(ctx: Any) -> str:
    from medmllm.hardware import cpu_class

    used = ctx.precision or ctx.train.precision
    return used if used == ctx.train.precision else f"{used} ({ctx.train.precision} on CPU class {cpu_class()})"


def model_card(ctx: Any, summary: Any, metrics: dict[str, Any], steps: int, sources: Iterable[Path]) -> str:
    """Markdown model card: intended use, data, training, metrics, limitations."""
    model = ctx.config.get("model") or {}
    mods = ", ".join(f"{m}: {c.get('encoder', {}).get('name')} -> {c.get('connector', {}).get('name')}"
                     for m, c in (model.get("modalities") or {}).items()) or "none (text only)"
    llm = model.get("llm") or {}
    lines = [
        f"# medmllm model: stage `{ctx.name}` ({ctx.stage.name})", "",
        f"Modalities: {mods}. LLM: `{llm.get('name')}` {llm.get('path') or ''}"
        f"{' with LoRA' if llm.get('lora') else ''}.", "",
        "## Intended use",
        "Research on radiology report generation from chest X-ray and CT (with optional clinical context). "
        "Not a medical device: every output must be reviewed by a qualified clinician; do not use for diagnosis.", "",
        "## Data",
    ]
    srcs = list(sources)
    lines += [f"- `{p.name}`" for p in srcs] or ["- (data given in the config)"]
    lines += ["", "## Training",
              f"Stage `{ctx.stage.name}`: {ctx.stage.description}. {steps} optimiser steps, seed {ctx.train.seed}, "
              f"precision {_precision(ctx)}, lr {ctx.train.optim.lr:g} ({ctx.train.optim.schedule}).", ""]
    if summary is not None:
        lines += ["```", *summary.lines(), "```", ""]
    lines += ["## Metrics (last validation)"]
    lines += [f"- {k}: {_fmt(v)}" for k, v in metrics.items()] or ["- none recorded (no validation data)"]
    lines += ["", "## Limitations",
              "- Trained and validated only on the data above; performance on other hospitals, scanners, ages or "
              "languages is unknown.",
              "- May write fluent but wrong findings (hallucinated or missed lesions, wrong side); small models "
              "and synthetic training data make this likely.",
              "- Metrics above are on the validation split used during training, not an independent test set.", ""]
    return "\n".join(lines)


def _best_into_module(trainer: Any, module: Any) -> str | None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    for cb in trainer.checkpoint_callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.monitor and cb.best_model_path:
            state = torch.load(cb.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state, strict=False)
            return cb.best_model_path
    return None


def best_score(trainer: Any) -> tuple[str, float] | None:
    """``(monitor, best value)`` of the best-checkpoint callback, when there is one."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    for cb in trainer.checkpoint_callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.monitor and cb.best_model_score is not None:
            return cb.monitor, float(cb.best_model_score)
    return None


def export_stage(ctx: Any, trainer: Any, module: Any, summary: Any) -> Path | None:
    """Write the stage's export (rank 0); returns its folder, or None when ``train.export`` is off."""
    from medmllm.data.prompts import training_prompts
    from medmllm.provenance import provenance

    ctx.dir.mkdir(parents=True, exist_ok=True)
    if not ctx.train.export:
        (ctx.dir / "DONE").write_text("done\n", encoding="utf-8")
        return None
    source = "last"
    if ctx.train.checkpoint.export == "best":
        source = _best_into_module(trainer, module) or "last (no best checkpoint)"
    metrics = {k: v for k, v in (getattr(module, "last_val", {}) or {}).items()}
    best = best_score(trainer)
    if best is not None:
        metrics[f"best {best[0]}"] = best[1]
    files = data_files(ctx.config.get("data"))
    extra = {
        "stage": {"name": ctx.name, "kind": ctx.stage.name, "index": ctx.index, "steps": int(trainer.global_step),
                  "weights": source},
        "train": {**to_plain(ctx.train), "precision_used": ctx.precision}, "data": to_plain(ctx.config.get("data") or {}),
        "metrics": metrics,
        "trainable": None if summary is None else {"trainable": summary.trainable, "total": summary.total},
        "provenance": provenance(ctx.config, data_files=files, seed=ctx.train.seed),
        "prompts": training_prompts(ctx.config.get("data")),
    }
    card = model_card(ctx, summary, metrics, int(trainer.global_step), files)
    with atomic_dir(ctx.export_dir, info={"stage": ctx.name, "steps": int(trainer.global_step)}) as tmp:
        ctx.stage.export(module, tmp, extra=extra, card=card)
    log.info("stage %s: exported to %s", ctx.name, ctx.export_dir)
    return ctx.export_dir
