"""Clinical efficacy (CE): precision, recall and F1 of labels of generated vs reference reports.

Conventions (recorded in every result):

- a label value is 1, 0, -1 (uncertain) or None (not mentioned). The ``uncertain`` policy decides
  what -1 counts as, for predictions and references alike: ``"positive"`` (-1 -> 1) or
  ``"negative"`` (-1 -> 0). None counts as 0.
- per label: ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
  ``f1 = 2 tp / (2 tp + fp + fn)``; a label with reference positives but no predicted positives
  has precision 0 (scikit-learn's ``zero_division=0``); a quantity with nothing to count is None.
- **micro**: tp/fp/fn pooled over all labels of the group;
  **macro**: the mean over the labels *present in the references* (at least one positive
  reference), listed in ``macro_labels``. Labels that never occur in the references do not
  dilute the macro average but their false positives do count in micro.
- groups: ``chexpert_14`` (the 14 CheXpert observations, No Finding included), ``chexpert_5``
  (Cardiomegaly, Edema, Consolidation, Atelectasis, Pleural Effusion) and ``findings`` (the
  findings keys of :mod:`medmllm.findings`; ``findings.macro.f1`` is the quickstart's quality bar).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from medmllm.files import atomic_write_with
from medmllm.findings import ABNORMAL_KEYS, CHEXPERT_5, CHEXPERT_LABELS, FINDING_KEYS

POLICIES = ("positive", "negative")
GROUPS: dict[str, tuple[str, ...]] = {"chexpert_14": CHEXPERT_LABELS, "chexpert_5": CHEXPERT_5,
                                      "findings": FINDING_KEYS}


def binarize(value: int | None, uncertain: str) -> int:
    """1/0 for a label value under the uncertain policy."""
    if value == -1:
        return 1 if uncertain == "positive" else 0
    return 1 if value == 1 else 0


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    precision = _ratio(tp, tp + fp)
    if precision is None and tp + fn:
        precision = 0.0
    return {"precision": precision, "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def ce_group(preds: Sequence[Mapping[str, int | None]], refs: Sequence[Mapping[str, int | None]],
             labels: Sequence[str], uncertain: str = "positive") -> dict[str, Any]:
    """Micro/macro precision, recall, F1 and a per-label table for one group of labels.

    Args:
        preds: per sample, label -> value (1/0/-1/None; missing = None).
        refs: the same for the references, aligned with ``preds``.
        labels: the labels of the group.
        uncertain: ``"positive"`` or ``"negative"``.

    Returns:
        ``{"micro": {precision, recall, f1}, "macro": {...}, "macro_labels": [...],
        "per_label": {label: {tp, fp, fn, tn, support, precision, recall, f1}}}``.
    """
    if uncertain not in POLICIES:
        raise ValueError(f"uncertain must be one of {', '.join(POLICIES)}, got {uncertain!r}")
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    per: dict[str, dict[str, Any]] = {}
    for label in labels:
        tp = fp = fn = tn = 0
        for p, r in zip(preds, refs):
            pv, rv = binarize(p.get(label), uncertain), binarize(r.get(label), uncertain)
            tp += pv and rv
            fp += pv and not rv
            fn += rv and not pv
            tn += not pv and not rv
        per[label] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": tp + fn, **_scores(tp, fp, fn)}
    totals = [sum(per[lb][k] for lb in labels) for k in ("tp", "fp", "fn")]
    present = [lb for lb in labels if per[lb]["support"] > 0]
    macro = {k: (sum(per[lb][k] for lb in present) / len(present) if present else None)
             for k in ("precision", "recall", "f1")}
    return {"micro": _scores(*totals), "macro": macro, "macro_labels": present, "per_label": per}


def clinical_metrics(pred_labels: Sequence[Mapping[str, Mapping[str, int | None]]],
                     ref_chexpert: Sequence[Mapping[str, int | None]],
                     ref_findings: Sequence[Mapping[str, int | None]], uncertain: str = "positive",
                     reference_label_sources: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The ``clinical`` block of a score: the three groups plus the conventions used.

    Args:
        pred_labels: labeler output of each prediction (``{"chexpert": ..., "findings": ...}``).
        ref_chexpert: CheXpert labels of each reference (labeler on the reference text).
        ref_findings: findings labels of each reference (given ground truth or labeler).
        uncertain: the uncertain policy.
        reference_label_sources: how many reference findings came from where (recorded as is).
    """
    out: dict[str, Any] = {"uncertain": uncertain,
                           "reference_labels": dict(reference_label_sources or {}),
                           "labels_from": "medmllm.evaluation.labeler (predictions and reference text)"}
    pc = [p["chexpert"] for p in pred_labels]
    pf = [p["findings"] for p in pred_labels]
    out["chexpert_14"] = ce_group(pc, ref_chexpert, CHEXPERT_LABELS, uncertain)
    out["chexpert_5"] = ce_group(pc, ref_chexpert, CHEXPERT_5, uncertain)
    out["findings"] = ce_group(pf, ref_findings, FINDING_KEYS, uncertain)
    return out


def check_reference_labels(labels: Any) -> dict[str, int | None]:
    """Validate a reference ``labels`` dict (findings keys -> 1/0/-1/null) and complete it.

    Missing keys are None; a missing ``normal`` is derived (1 when no abnormal key is 1 or -1).

    Raises:
        ValueError: not a dict, an unknown key, or a value other than 1, 0, -1, null.
    """
    if not isinstance(labels, Mapping):
        raise ValueError(f"'labels' must be an object of findings keys, got {type(labels).__name__}")
    unknown = sorted(set(labels) - set(FINDING_KEYS))
    if unknown:
        raise ValueError(f"unknown findings keys in 'labels': {', '.join(map(str, unknown[:5]))}; "
                         f"valid: {', '.join(FINDING_KEYS)}")
    out: dict[str, int | None] = {}
    for k in FINDING_KEYS:
        v = labels.get(k)
        if v is not None and (isinstance(v, bool) or v not in (1, 0, -1)):
            raise ValueError(f"label '{k}' must be 1, 0, -1 or null, got {v!r}")
        out[k] = None if v is None else int(v)
    if labels.get("normal") is None:
        out["normal"] = 0 if any(out[k] in (1, -1) for k in ABNORMAL_KEYS) else 1
    return out


def plot_per_label_f1(clinical: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """PNG bar chart of per-label F1 (CheXpert 14 and findings keys); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("chexpert_14", "CheXpert observations"), ("findings", "findings keys")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 6), constrained_layout=True)
    for ax, (group, title) in zip(axes, groups):
        per = clinical[group]["per_label"]
        names = list(per)[::-1]
        f1 = [per[n]["f1"] or 0.0 for n in names]
        colors = ["tab:blue" if per[n]["support"] else "lightgray" for n in names]
        ax.barh(names, f1, color=colors)
        for y, n in enumerate(names):
            ax.text(min(f1[y], 0.97) + 0.01, y, "n/a" if per[n]["f1"] is None else f"{f1[y]:.2f}",
                    va="center", fontsize=8)
        macro = clinical[group]["macro"]["f1"]
        ax.set_title(f"{title}: macro-F1 {'n/a' if macro is None else f'{macro:.3f}'}")
        ax.set_xlim(0, 1.1)
        ax.set_xlabel("F1 (n/a: in neither references nor predictions)")
    fig.suptitle(f"per-label F1, uncertain findings counted {clinical['uncertain']}")
    try:
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
