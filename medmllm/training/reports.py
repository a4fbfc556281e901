"""Generated sample reports and clinical macro-F1 at each validation.

The first ``train.eval.clinical_subset`` validation samples are answered greedily; the first
``train.eval.num_samples`` answers are logged and appended to ``samples.jsonl`` in the stage
folder (with the reference), and when the report labeler (:mod:`medmllm.evaluation.labeler`) is
installed and the samples carry findings labels, the macro-F1 over the findings keys present in
the references is logged as ``val/clinical_macro_f1``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from typing import Any

import torch

from medmllm.findings import FINDING_KEYS

log = logging.getLogger(__name__)


def labeler_available() -> bool:
    """True when the report labeler module exists."""
    try:
        return importlib.util.find_spec("medmllm.evaluation.labeler") is not None
    except ImportError:
        return False


def findings_of(text: str, lang: str = "en") -> dict[str, int]:
    """Findings keys (1 positive, 0 otherwise) the labeler extracts from a report."""
    from medmllm.evaluation.labeler import label_report

    found = label_report(text, lang=lang)["findings"]
    return {k: int(found.get(k) == 1) for k in FINDING_KEYS}


def macro_f1(refs: list[dict[str, Any]], preds: list[dict[str, int]]) -> tuple[float | None, dict[str, float]]:
    """Macro-F1 over the findings keys positive in at least one reference; per-key F1."""
    per: dict[str, float] = {}
    for k in FINDING_KEYS:
        truth = [int((r or {}).get(k) == 1) for r in refs]
        if not any(truth):
            continue
        guess = [p.get(k, 0) for p in preds]
        tp = sum(t and g for t, g in zip(truth, guess))
        fp = sum((not t) and g for t, g in zip(truth, guess))
        fn = sum(t and not g for t, g in zip(truth, guess))
        per[k] = 2 * tp / max(1, 2 * tp + fp + fn)
    return (sum(per.values()) / len(per) if per else None), per


def _sample(ds: Any, i: int) -> dict[str, Any]:
    s = ds[i]
    msgs = list(s["messages"])
    ref = msgs[-1]["content"] if msgs and msgs[-1].get("role") == "assistant" else None
    labels = s.get("labels")
    lang = "zh" if ref and any("\u4e00" <= ch <= "\u9fff" for ch in ref) else "en"
    return {"id": str(s.get("id", i)), "messages": msgs, "pixels": s.get("pixels") or {}, "reference": ref,
            "labels": labels, "lang": lang}


@torch.no_grad()
def log_validation_reports(module: Any, ctx: Any, cfg: Any) -> dict[str, float]:
    """Generate for a few validation samples; log them; return ``{"val/clinical_macro_f1": x}`` if computed."""
    from medmllm.inference import collate_prompts, to_device

    n = max(int(cfg.num_samples), int(cfg.clinical_subset))
    trainer = module.trainer
    loaders = getattr(trainer, "val_dataloaders", None) if trainer is not None else None
    ds = getattr(loaders, "dataset", None)
    model = module.model
    if n <= 0 or ds is None or not hasattr(ds, "__len__") or not hasattr(model, "generate"):
        return {}
    samples = [_sample(ds, i) for i in range(min(n, len(ds)))]
    samples = [s for s in samples if s["reference"] is not None]
    if not samples:
        return {}
    was_training = model.training
    model.eval()
    texts: list[str] = []
    try:
        for start in range(0, len(samples), max(1, int(cfg.batch_size))):
            chunk = samples[start:start + cfg.batch_size]
            batch = to_device(collate_prompts(model, chunk, generation=True), module.device)
            new = model.generate(batch["input_ids"], batch["attention_mask"], batch["pixel_values"] or None,
                                 batch["image_sample_index"] or None, max_new_tokens=int(cfg.max_new_tokens))
            texts.extend(t.strip() for t in model.tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        model.train(was_training)
    step = int(trainer.global_step)
    shown = samples[: int(cfg.num_samples)]
    if trainer.is_global_zero and shown:
        ctx.dir.mkdir(parents=True, exist_ok=True)
        with open(ctx.dir / "samples.jsonl", "a", encoding="utf-8") as f:
            for k, s in enumerate(shown):
                f.write(json.dumps({"step": step, "sample": k, "reference": s["reference"], "generated": texts[k]},
                                   ensure_ascii=False) + "\n")
                log.info("step %d, validation sample %d:\n  generated: %s\n  reference: %s", step, k,
                         texts[k][:400], (s["reference"] or "")[:400])
    metrics: dict[str, float] = {}
    labelled = [(s, t) for s, t in zip(samples, texts) if s["labels"]]
    if labelled and labeler_available():
        preds = [findings_of(t, s["lang"]) for s, t in labelled]
        f1, _ = macro_f1([s["labels"] for s, _ in labelled], preds)
        if f1 is not None:
            metrics["val/clinical_macro_f1"] = float(f1)
            log.info("step %d: clinical macro-F1 %.3f on %d validation samples", step, f1, len(labelled))
    return metrics
