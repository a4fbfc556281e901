"""Metrics of a pretrained image encoder: retrieval recall@k, zero-shot and linear-probe AUROC.

Inputs are plain arrays so the functions serve any encoder: L2-normalised image and text
embeddings, and 0/1 label matrices over the findings keys. :func:`validation_metrics` is what the
``encoder`` stage logs at each validation; the ``encoder`` benchmark scores exports with the rest.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def retrieval_recall(image_emb: np.ndarray, text_emb: np.ndarray, ks: Sequence[int] = (1, 5, 10),
                     groups: Sequence[object] | None = None) -> dict[str, float]:
    """Image->text and text->image recall@k; pair ``i`` is the match of row ``i``.

    Args:
        image_emb: ``(N, E)`` image embeddings.
        text_emb: ``(N, E)`` text embeddings of the paired reports.
        ks: the k of recall@k.
        groups: optional group id per pair (e.g. the set of findings); a retrieved item of the same
            group counts as a hit (identical reports of different cases cannot be told apart).

    Returns:
        ``{"i2t_r1": ..., "t2i_r1": ..., ...}`` as fractions in [0, 1], plus ``chance_r{k}``.
    """
    img, txt = _normalise(image_emb), _normalise(text_emb)
    if img.shape != txt.shape:
        raise ValueError(f"image and text embeddings differ in shape: {img.shape} vs {txt.shape}")
    n = img.shape[0]
    sim = img @ txt.T  # (N, N)
    if groups is None:
        same = np.eye(n, dtype=bool)
    else:
        g = np.asarray([hash(x) for x in groups])
        same = g[:, None] == g[None, :]
    out: dict[str, float] = {}
    for name, s, hit in (("i2t", sim, same), ("t2i", sim.T, same.T)):
        order = np.argsort(-s, axis=1, kind="stable")
        hits_sorted = np.take_along_axis(hit, order, axis=1)
        for k in ks:
            out[f"{name}_r{k}"] = float(hits_sorted[:, :k].any(axis=1).mean())
    for k in ks:
        # chance of a hit among k random picks (without groups: k / N)
        out[f"chance_r{k}"] = float(np.mean([1 - none_in_k(n, int(same[i].sum()), k) for i in range(n)]))
    return out


def none_in_k(n: int, good: int, k: int) -> float:
    """P(no good item among k drawn without replacement from n, good of them good)."""
    k = min(k, n)
    p = 1.0
    for j in range(k):
        p *= max(n - good - j, 0) / (n - j)
    return p


def auroc_per_label(scores: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
    """AUROC of ``scores[:, j]`` against ``labels[:, j]``; None where a label has one class only."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, float | None] = {}
    for j, name in enumerate(names):
        y = labels[:, j]
        out[name] = None if len(np.unique(y)) < 2 else float(roc_auc_score(y, scores[:, j]))
    return out


def zero_shot_scores(image_emb: np.ndarray, positive_prompt_emb: np.ndarray,
                     negative_prompt_emb: np.ndarray, temperature: float = 0.01) -> np.ndarray:
    """Per-label probability that the image matches the positive prompt rather than the negative.

    Args:
        image_emb: ``(N, E)``.
        positive_prompt_emb: ``(L, E)`` one prompt per label ("right lower lobe consolidation").
        negative_prompt_emb: ``(L, E)`` its negation ("no consolidation").

    Returns:
        ``(N, L)`` softmax probability of the positive prompt.
    """
    img = _normalise(image_emb)
    pos = img @ _normalise(positive_prompt_emb).T
    neg = img @ _normalise(negative_prompt_emb).T
    z = (pos - neg) / temperature
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def linear_probe_scores(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, c: float = 1.0,
                        seed: int = 0) -> np.ndarray:
    """Logistic regression per label on standardised frozen features; ``(N_test, K)`` probabilities.

    Training rows whose label is NaN (unknown) are left out for that label; a label with one class
    in training predicts that class's constant (its AUROC is then 0.5 or undefined).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    tx, vx = scaler.transform(train_x), scaler.transform(test_x)
    train_y = np.asarray(train_y, dtype=np.float64)
    scores = np.zeros((vx.shape[0], train_y.shape[1]))
    for j in range(train_y.shape[1]):
        known = ~np.isnan(train_y[:, j])
        y = train_y[known, j]
        if len(np.unique(y)) < 2:
            scores[:, j] = float(y[0]) if len(y) else 0.0
            continue
        clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(tx[known], y)
        scores[:, j] = clf.predict_proba(vx)[:, 1]
    return scores


def linear_probe_auroc(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                       names: Sequence[str], c: float = 1.0, seed: int = 0) -> dict[str, float | None]:
    """Logistic regression per label on frozen features; AUROC on the test split."""
    return auroc_per_label(linear_probe_scores(train_x, train_y, test_x, c, seed), test_y, names)


def validation_metrics(rows: dict[str, dict[str, list]], label_keys: list[str]) -> dict[str, float]:
    """Retrieval recall@1/5 (reports with identical text count as hits) and mean head AUROC per modality.

    Args:
        rows: ``{m: {"image": [(E,)...], "text": [(E,)...], "report": [str...], "head": [(K,) | None...],
            "labels": [(K,) with NaN for unknown...]}}``.
        label_keys: the head's label names.
    """
    out: dict[str, float] = {}
    for m, r in rows.items():
        n = len(r["image"])
        if n >= 2 and r["text"]:
            rec = retrieval_recall(np.stack(r["image"]), np.stack(r["text"]), ks=(1, 5), groups=r["report"])
            for k in ("i2t_r1", "t2i_r1", "i2t_r5", "chance_r1"):
                out[f"val/{m}/{k}"] = rec[k]
        heads = [(h, y) for h, y in zip(r["head"], r["labels"]) if h is not None and not np.isnan(y).any()]
        if len(heads) >= 2:
            scores, labels = np.stack([h for h, _ in heads]), np.stack([y for _, y in heads])
            aucs = [v for v in auroc_per_label(scores, labels, label_keys).values() if v is not None]
            if aucs:
                out[f"val/{m}/head_auroc"] = float(np.mean(aucs))
    return out
