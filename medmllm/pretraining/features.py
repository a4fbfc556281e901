"""Features of a pretrained encoder over a manifest, and the per-image rows the ``encoder`` benchmark scores.

For one modality: each distinct image of the manifest (its first record gives the report and the
labels) goes through the model's evaluation transforms and the encoder; the rows keep the pooled
encoder feature (for the linear probe), and with pretraining heads the normalised image and report
embeddings (retrieval), the prompt-similarity scores (zero-shot) and the head's probabilities.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

import numpy as np
import torch

from medmllm.evaluation.benchmarks.runner import progress_advancer
from medmllm.findings import _BASE_NAMES, describe, split_key  # base names: 'consolidation'
from medmllm.pretraining.data import report_text

log = logging.getLogger(__name__)


def zero_shot_prompts(keys: Sequence[str], lang: str = "en") -> tuple[list[str], list[str]]:
    """Positive and negative prompt per finding key: ``'right lower lobe consolidation'`` vs ``'no consolidation'``.

    ``normal`` is ``'no abnormality'`` vs ``'abnormality'`` (Chinese: ``'未见异常'`` vs ``'异常'``).
    """
    pos, neg = [], []
    for k in keys:
        base, _ = split_key(k)
        pos.append(describe(k, lang))
        if base == "normal":
            neg.append("abnormality" if lang == "en" else "异常")
        else:
            name = _BASE_NAMES[lang][base]
            neg.append(f"no {name}" if lang == "en" else f"未见{name}")
    return pos, neg


def eval_items(records: Sequence[dict[str, Any]], modality: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(record, image entry)`` for each distinct image of ``modality`` (first record that has it)."""
    out, seen = [], set()
    for rec in records:
        for im in rec.get("images") or []:
            if im.get("modality") != modality:
                continue
            key = (im.get("path"), im.get("series"))
            if key not in seen:
                seen.add(key)
                out.append((rec, im))
            break  # the first image of this modality in the record
    return out


@dataclasses.dataclass
class Encoded:
    """Encoder outputs of a list of images (row ``i`` is ``ids[i]``)."""

    ids: list[str]
    reports: list[str | None]
    labels: np.ndarray  # (N, K), NaN where unknown
    pooled: np.ndarray  # (N, D) mean of the encoder's tokens
    image: np.ndarray | None = None  # (N, E) normalised image embeddings (pretraining heads)
    head: np.ndarray | None = None  # (N, K) classification-head probabilities
    text: np.ndarray | None = None  # (N, E) normalised report embeddings (NaN rows: no report)
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # name -> (N, D') other encoders' features


def label_rows(records: Sequence[dict[str, Any]], keys: Sequence[str]) -> np.ndarray:
    """``(N, K)`` 0/1 labels of records, NaN where a label is missing or uncertain."""
    out = np.full((len(records), len(keys)), np.nan)
    for i, rec in enumerate(records):
        lab = rec.get("labels") or {}
        for j, k in enumerate(keys):
            if lab.get(k) in (0, 1):
                out[i, j] = float(lab[k])
    return out


@torch.no_grad()
def encode(model: Any, pre: Any, modality: str, items: list[tuple[dict[str, Any], dict[str, Any]]], dataset: Any,
           keys: Sequence[str], *, batch_size: int = 16, extra: dict[str, Any] | None = None,
           progress: bool = False) -> Encoded:
    """Run images through the encoder (and the pretrainer's projections / heads / text encoder when given).

    Args:
        model: the MedMLLM (gives the encoder unless ``encoder`` is given).
        pre: its EncoderPretrainer, or None (pooled features only).
        modality: ``xray`` or ``ct``.
        items: from :func:`eval_items`.
        dataset: a ManifestDataset over the manifest's image root (its ``image`` loads and transforms).
        keys: label names of the rows.
        extra: more encoders of the same input spec (the untrained control): their pooled features
            go to ``Encoded.extra[name]``, from the same decoded images.
    """

    enc = model.encoders[modality]
    device = next(enc.parameters()).device
    pooled, image, head = [], [], []
    others: dict[str, list[torch.Tensor]] = {name: [] for name in (extra or {})}
    bar = progress_advancer(progress, len(items), f"{modality} images")
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        x = torch.stack([dataset.image(im, rec["id"]) for rec, im in chunk]).to(device)  # (n, C, *spatial)
        p = enc(x).mean(1)  # (n, D)
        pooled.append(p.float().cpu())
        for name, e in (extra or {}).items():
            others[name].append(e(x).mean(1).float().cpu())
        if pre is not None:
            image.append(torch.nn.functional.normalize(pre.image_proj[modality](p).float(), dim=-1).cpu())
            if modality in pre.heads:
                head.append(torch.sigmoid(pre.heads[modality](p).float()).cpu())
        bar(len(chunk))
    bar(None)
    recs = [rec for rec, _ in items]
    out = Encoded(ids=[r["id"] for r in recs], reports=[report_text(r) for r in recs], labels=label_rows(recs, keys),
                  pooled=torch.cat(pooled).numpy(), extra={k: torch.cat(v).numpy() for k, v in others.items()})
    if image:
        out.image = torch.cat(image).numpy()
        out.head = torch.cat(head).numpy() if head else None
        out.text = text_embeddings(pre, out.reports, batch_size=max(batch_size, 32))
    return out


@torch.no_grad()
def text_embeddings(pre: Any, texts: Sequence[str | None], batch_size: int = 64) -> np.ndarray:
    """``(N, E)`` normalised text embeddings; rows of missing texts are NaN."""
    e = pre.text_proj.out_features
    out = np.full((len(texts), e), np.nan, dtype=np.float64)
    idx = [i for i, t in enumerate(texts) if t]
    for s in range(0, len(idx), batch_size):
        part = idx[s:s + batch_size]
        out[part] = pre.text_embedding([texts[i] for i in part]).cpu().numpy()
    return out


def retrieval_ranks(image: np.ndarray, text: np.ndarray, reports: Sequence[str]) -> list[dict[str, int]]:
    """Per pair ``i``: ``i2t_rank`` / ``t2i_rank`` (0-based rank of the first hit) and ``hits`` (gallery items
    that count as hits: those with the same report text), as :func:`medmllm.pretraining.metrics.retrieval_recall` counts."""
    sim = image @ text.T  # (N, N), both normalised
    groups = np.asarray([hash(r) for r in reports])
    same = groups[:, None] == groups[None, :]
    rows = []
    for i in range(len(reports)):
        i2t = np.argsort(-sim[i], kind="stable")
        t2i = np.argsort(-sim[:, i], kind="stable")
        rows.append({"i2t_rank": int(np.argmax(same[i][i2t])), "t2i_rank": int(np.argmax(same[:, i][t2i])),
                     "hits": int(same[i].sum()), "gallery": len(reports)})
    return rows


def untrained_copy(encoder: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A copy of ``encoder`` with every submodule's parameters (and norm statistics) re-initialised."""
    import copy

    fresh = copy.deepcopy(encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for mod in fresh.modules():
            if hasattr(mod, "reset_parameters") and callable(mod.reset_parameters):
                mod.reset_parameters()
    return fresh.eval()
