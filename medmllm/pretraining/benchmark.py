"""``encoder``: what a pretrained image encoder knows, without the LLM.

For each modality of a checkpoint, over the distinct images of a manifest's evaluation split
(``test``, else ``val``):

- **zero-shot** finding classification: AUROC per label of ``sim(image, "right lower lobe
  consolidation") - sim(image, "no consolidation")`` (prompts from :func:`medmllm.findings.describe`);
- **retrieval**: image->report and report->image recall@1/5/10 among the split's reports, with
  the chance level (reports with identical text count as hits);
- **linear probe**: logistic regression per label on the frozen pooled encoder features of the
  ``train`` split, AUROC on the evaluation split (works for any checkpoint, pretraining heads or not);
- **head**: AUROC of the multi-label head trained with the encoder.

Control ``untrained_encoder``: the linear probe on an untrained encoder of the same architecture.
Rows (``results.samples.jsonl``) hold per image its labels and ``prediction`` (scores and retrieval
ranks), so ``aggregate`` is pure and ``medmllm compare`` can bootstrap two results.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.evaluation.benchmarks.options import Option
from medmllm.pretraining.metrics import none_in_k
from medmllm.registry import BENCHMARKS

log = logging.getLogger(__name__)

KS = (1, 5, 10)
SCORERS = ("zero_shot", "linear_probe", "head")


def _auroc(y: list[float], s: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y), np.asarray(s))) if len(set(y)) == 2 else None


def modality_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Retrieval recall and per-label AUROC of one modality's rows."""
    out: dict[str, Any] = {"n": len(rows)}
    ranked = [r["prediction"] for r in rows if r["prediction"].get("i2t_rank") is not None]
    if ranked:
        ret: dict[str, float] = {}
        for k in KS:
            ret[f"i2t_r{k}"] = float(np.mean([p["i2t_rank"] < k for p in ranked]))
            ret[f"t2i_r{k}"] = float(np.mean([p["t2i_rank"] < k for p in ranked]))
        for k in KS:
            ret[f"chance_r{k}"] = float(np.mean([1 - none_in_k(p["gallery"], p["hits"], k) for p in ranked]))
        out["retrieval"] = ret
    keys = list(dict.fromkeys(k for r in rows for k in r["labels"]))
    for scorer in SCORERS:
        per: dict[str, float | None] = {}
        for key in keys:
            y, s = [], []
            for r in rows:
                lab, sc = r["labels"].get(key), (r["prediction"].get(scorer) or {}).get(key)
                if lab in (0, 1) and sc is not None:
                    y.append(float(lab))
                    s.append(float(sc))
            if s:
                per[key] = _auroc(y, s)
        if per:
            vals = [v for v in per.values() if v is not None]
            out[scorer] = {"mean_auroc": float(np.mean(vals)) if vals else None, "auroc": per}
    out["n_pos"] = {k: int(sum(r["labels"].get(k) == 1 for r in rows)) for k in keys}
    return out


@BENCHMARKS.register("encoder")
class EncoderBenchmark(Benchmark):
    """Zero-shot, retrieval, linear-probe and head metrics of a checkpoint's image encoders."""

    name = "encoder"
    rule = ("zero-shot: AUROC per label of sim(image, finding prompt) - sim(image, 'no <finding>'); retrieval: "
            "recall@k of the paired report among the split's reports (identical texts count as hits); linear "
            "probe: logistic regression per label on frozen pooled features of the train split, AUROC on the "
            "evaluation split; head: AUROC of the pretraining classification head")
    row_fields = ("id", "modality", "labels", "prediction")
    key_fields = ("id", "modality")
    evaluates_checkpoint = True
    options = (Option("lang", "language of the zero-shot prompts (default: the reports')", choices=("en", "zh")),)

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def check_row(self, row: dict[str, Any]) -> str | None:
        if not isinstance(row.get("labels"), dict) or not isinstance(row.get("prediction"), dict):
            return "labels and prediction must be objects"
        return None

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        mods = list(dict.fromkeys(s["modality"] for s in samples))
        return {"modalities": mods, **{m: modality_metrics([s for s in samples if s["modality"] == m])
                                       for m in mods}}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in results.get("modalities") or []:
            r = results.get(m) or {}
            ret = r.get("retrieval") or {}
            out[f"{m} i2t R@1"] = ret.get("i2t_r1")
            out[f"{m} t2i R@1"] = ret.get("t2i_r1")
            out[f"{m} R@1 chance"] = ret.get("chance_r1")
            for scorer, label in (("zero_shot", "zero-shot"), ("linear_probe", "probe"), ("head", "head")):
                out[f"{m} {label} AUROC"] = (r.get(scorer) or {}).get("mean_auroc")
        return out

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        out = []
        for m in results.get("modalities") or []:
            r = results.get(m) or {}
            keys = list(r.get("n_pos") or {})
            rows = [(k, [*((r.get(s) or {}).get("auroc", {}).get(k) for s in SCORERS), r["n_pos"][k]]) for k in keys]
            out.append(Breakdown(f"AUROC per label ({m})", f"auroc-{m}", ["zero-shot", "linear probe", "head",
                                                                          "positives"], rows, item="finding"))
            ret = r.get("retrieval")
            if ret:
                rows = [(d, [ret[f"{d}_r{k}"] for k in KS]) for d in ("i2t", "t2i", "chance")]
                out.append(Breakdown(f"Retrieval recall ({m})", f"retrieval-{m}", [f"R@{k}" for k in KS], rows,
                                     item="direction"))
        return out

    def run_checkpoint(self, checkpoint: str, data: str, out_dir: Any, *, batch_size: int = 16,
                       split: str | None = None, limit: int | None = None, probe_limit: int = 5000,
                       lang: str | None = None, controls: list[str] | None = None, seed: int = 0,
                       device: str = "auto", cache_dir: str | None = None, model: str | None = None,
                       progress: bool = False) -> dict[str, Any]:
        """Evaluate ``checkpoint``'s encoders on manifest ``data``; write ``out_dir/results.*``.

        Args:
            checkpoint: an export folder (with pretraining heads for zero-shot, retrieval and head
                metrics; any export for the linear probe).
            data: a manifest with a ``train`` split (probe training) and the evaluation split.
            out_dir: where ``results.json``, ``.md``, ``.samples.jsonl`` and ``results.auroc.png`` go.
            batch_size: images per encoder call.
            split: the evaluation split (default ``test``, else ``val``).
            limit: most evaluation images per modality.
            probe_limit: most training images per modality for the probe.
            lang: prompt language (default: the reports').
            controls: ``["untrained_encoder"]`` (default) or ``[]``.
            seed: probe and untrained-encoder seed.
            device: ``auto`` (CUDA when available), ``cpu``, ``cuda:1`` ...
            cache_dir: tensor cache of the preprocessed images.
            model: the model's name in the results (default: the checkpoint path).
            progress: progress bars.

        Returns:
            The results dictionary (as written to ``results.json``).
        """
        from medmllm.pretraining.benchmark_run import run_encoder_benchmark

        return run_encoder_benchmark(self, checkpoint, data, out_dir, batch_size=batch_size, split=split, limit=limit,
                                     probe_limit=probe_limit, lang=lang, controls=controls, seed=seed, device=device,
                                     cache_dir=cache_dir, model=model, progress=progress)
