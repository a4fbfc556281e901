"""Running the ``encoder`` benchmark on a checkpoint and a manifest (``EncoderBenchmark.run_checkpoint``).

Writes ``OUT/results.json`` (metrics per modality, controls, prompts, split sizes), ``results.md``
(headline and per-label tables), ``results.samples.jsonl`` (one row per evaluated image) and
``results.auroc.png`` (per-label AUROC of zero-shot, linear probe and head, one panel per modality).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medmllm.errors import InputError
from medmllm.files import atomic_write_with

log = logging.getLogger(__name__)

PLOT = "results.auroc.png"


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _lang(records: list[dict[str, Any]]) -> str:
    for r in records:
        lang = (r.get("report") or {}).get("language")
        if lang in ("en", "zh"):
            return lang
    return "en"


def _rows(enc: Any, keys: list[str], preds: dict[str, np.ndarray | None], ranks: dict[int, dict[str, int]],
          modality: str) -> list[dict[str, Any]]:
    rows = []
    for i, sid in enumerate(enc.ids):
        pred: dict[str, Any] = {}
        for name, scores in preds.items():
            if scores is not None:
                pred[name] = {k: float(scores[i, j]) for j, k in enumerate(keys)}
        pred.update(ranks.get(i) or {})
        labels = {k: None if math.isnan(v) else int(v) for k, v in zip(keys, enc.labels[i].tolist())}
        rows.append({"id": sid, "modality": modality, "labels": labels, "prediction": pred})
    return rows


def run_encoder_benchmark(bench: Any, checkpoint: str | os.PathLike, data: str | os.PathLike,
                          out_dir: str | os.PathLike, *, batch_size: int = 16, split: str | None = None,
                          limit: int | None = None, probe_limit: int = 5000, lang: str | None = None,
                          controls: list[str] | None = None, seed: int = 0, device: str = "auto",
                          cache_dir: str | None = None, model: str | None = None,
                          progress: bool = False) -> dict[str, Any]:
    """See :meth:`medmllm.pretraining.benchmark.EncoderBenchmark.run_checkpoint`."""
    from medmllm.config import TransformConfig, from_dict
    from medmllm.data.cache import TensorCache
    from medmllm.data.dataset import ManifestDataset
    from medmllm.data.schema import image_root, read_manifest
    from medmllm.data.transforms import build_pipelines
    from medmllm.evaluation.benchmarks.results import build_results, write_results
    from medmllm.pretraining.features import (
        encode,
        eval_items,
        retrieval_ranks,
        text_embeddings,
        untrained_copy,
        zero_shot_prompts,
    )
    from medmllm.pretraining.metrics import linear_probe_scores, zero_shot_scores
    from medmllm.findings import FINDING_KEYS
    from medmllm.models.checkpoint import read_export
    from medmllm.pretraining.heads import has_heads, load_pretrainer

    controls = ["untrained_encoder"] if controls is None else list(controls)
    bad = sorted(set(controls) - {"untrained_encoder"})
    if bad:
        raise InputError(None, f"encoder benchmark: unknown control(s) {bad}; valid: untrained_encoder")
    root, doc = read_export(checkpoint)
    records = read_manifest(data)
    splits = {r.get("split") for r in records}
    ev_split = split or ("test" if "test" in splits else "val" if "val" in splits else None)
    if ev_split is None or ev_split not in splits:
        raise InputError(data, f"no records of split {ev_split or 'test/val'} to evaluate on")
    ev_recs = [r for r in records if r.get("split") == ev_split]
    tr_recs = [r for r in records if r.get("split") == "train"] if ev_split != "train" else []

    pre = load_pretrainer(root) if has_heads(root) else None
    if pre is None:
        from medmllm.models.mllm import load_model

        mm = load_model(root)
        log.info("%s has no pretraining heads: linear probe only", root)
    else:
        mm = pre.model
    dev = _device(device)
    (pre if pre is not None else mm).to(dev).eval()
    tcfg = from_dict(TransformConfig, (doc.get("data") or {}).get("transforms"), "data.transforms")
    pipes = build_pipelines({m: mm.input_spec(m) for m in mm.encoders}, tcfg, train=False)
    ds = ManifestDataset([], image_root(data), pipes, cache=TensorCache(cache_dir) if cache_dir else None,
                         name=str(data))
    keys = list(pre.label_keys) if pre is not None else list(FINDING_KEYS)
    lang = lang or _lang(ev_recs)
    pos, neg = zero_shot_prompts(keys, lang)
    pos_e = neg_e = None
    if pre is not None:
        pos_e, neg_e = text_embeddings(pre, pos), text_embeddings(pre, neg)

    samples: list[dict[str, Any]] = []
    ctrl_samples: list[dict[str, Any]] = []
    sizes: dict[str, dict[str, int]] = {}
    for m in mm.encoders:
        items = eval_items(ev_recs, m)[:limit]
        if not items:
            continue
        tr_items = eval_items(tr_recs, m)[:probe_limit]
        extra = {"untrained": untrained_copy(mm.encoders[m], seed).to(dev)} if "untrained_encoder" in controls \
            and len(tr_items) >= 2 else {}
        ev = encode(mm, pre, m, items, ds, keys, batch_size=batch_size, extra=extra, progress=progress)
        tr = encode(mm, None, m, tr_items, ds, keys, batch_size=batch_size, extra=extra,
                    progress=progress) if len(tr_items) >= 2 else None
        preds: dict[str, np.ndarray | None] = {"zero_shot": None, "linear_probe": None, "head": ev.head}
        if tr is not None:
            preds["linear_probe"] = linear_probe_scores(tr.pooled, tr.labels, ev.pooled, seed=seed)
        ranks: dict[int, dict[str, int]] = {}
        if ev.image is not None:
            preds["zero_shot"] = zero_shot_scores(ev.image, pos_e, neg_e)
            with_text = [i for i, t in enumerate(ev.reports) if t]
            if len(with_text) >= 2:
                r = retrieval_ranks(ev.image[with_text], ev.text[with_text], [ev.reports[i] for i in with_text])
                ranks = dict(zip(with_text, r))
        samples += _rows(ev, keys, preds, ranks, m)
        if tr is not None and "untrained" in ev.extra:
            scores = linear_probe_scores(tr.extra["untrained"], tr.labels, ev.extra["untrained"], seed=seed)
            ctrl_samples += _rows(ev, keys, {"linear_probe": scores}, {}, m)
        sizes[m] = {"n_eval": len(items), "n_probe_train": len(tr_items)}
    if not samples:
        raise InputError(data, f"no {'/'.join(mm.encoders)} images in split {ev_split}")
    skipped = sum(1 for r in ev_recs if not any(im.get("modality") in mm.encoders for im in r.get("images") or []))
    metrics = bench.aggregate(samples)
    extra_res: dict[str, Any] = {
        "eval_split": ev_split, "sizes": sizes, "heads": pre is not None, "lang": lang,
        "prompts": {k: [p, q] for k, p, q in zip(keys, pos, neg)},
        "run": {"batch_size": batch_size, "limit": limit, "probe_limit": probe_limit, "seed": seed,
                "device": str(dev)},
        "files": {"plots": [PLOT]},
    }
    if ctrl_samples:
        extra_res["controls"] = {"untrained_encoder": bench.aggregate(ctrl_samples)}
    results = build_results(bench, {**metrics, "n": len(samples), "skipped": skipped},
                            model=model or str(checkpoint), data=str(data), seed=seed, config=doc.get("model"),
                            data_files=[data], extra=extra_res)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_auroc(results, out / PLOT)
    write_results(out / "results.json", bench, results, samples)
    return results


def plot_auroc(results: dict[str, Any], path: Path) -> None:
    """Grouped bars of per-label AUROC (zero-shot, linear probe, head; untrained control dashed), per modality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mods = results.get("modalities") or []
    keys = list(dict.fromkeys(k for m in mods for k in (results[m].get("n_pos") or {})))
    ctrl = ((results.get("controls") or {}).get("untrained_encoder") or {})
    series = [("zero_shot", "zero-shot", "#4C72B0"), ("linear_probe", "linear probe", "#55A868"),
              ("head", "head", "#C44E52")]
    fig, axes = plt.subplots(1, max(1, len(mods)), figsize=(5.5 * max(1, len(mods)), 0.32 * len(keys) + 2.4),
                             sharey=True, squeeze=False)
    y = np.arange(len(keys))[::-1]
    for ax, m in zip(axes[0], mods):
        r = results[m]
        for j, (name, label, colour) in enumerate(series):
            vals = [((r.get(name) or {}).get("auroc") or {}).get(k) for k in keys]
            ax.barh(y + (1 - j) * 0.27, [v if v is not None else 0 for v in vals], height=0.27, color=colour,
                    label=f"{label} (mean {((r.get(name) or {}).get('mean_auroc') or float('nan')):.2f})")
        cvals = [(((ctrl.get(m) or {}).get("linear_probe") or {}).get("auroc") or {}).get(k) for k in keys]
        if any(v is not None for v in cvals):
            ax.scatter([v if v is not None else np.nan for v in cvals], y, marker="|", s=120, color="black",
                       label="probe, untrained encoder")
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("AUROC")
        ax.set_title(m)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    axes[0][0].set_yticks(y, keys, fontsize=8)
    fig.suptitle(f"Per-label AUROC: {results.get('model')}", fontsize=9)
    fig.tight_layout()
    try:
        atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
