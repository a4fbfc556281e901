"""ChartQA scored by relaxed accuracy; DVQA by exact match.

ChartQA (the paper, section 5.1, after Methani et al. 2020; the reference implementation is
pix2struct's ``relaxed_correctness``, which mPLUG-Owl3 and most MLLM papers use): the answer and the
label are stripped; when both read as numbers (a trailing ``%`` divides by 100) and the label is not
0, the answer is right when ``|answer - label| / |label| <= 0.05``; otherwise (words, or a label of 0)
it must equal the label ignoring case. ``accuracy`` is over all questions, ``human`` / ``augmented``
over ChartQA-H / ChartQA-M and ``average`` is their mean (the papers' "avg."); all in %.

DVQA: the answer, stripped, lower-cased and without a final period, must equal the label; accuracy
in % overall and per question template (structure / data / reasoning) and subset (easy / hard).
"""

from __future__ import annotations

from typing import Any, Sequence

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown, group_counts, percent
from medmllm.registry import BENCHMARKS

MAX_RELATIVE_CHANGE = 0.05


def _to_float(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, label: str, max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """ChartQA's relaxed correctness of one answer (see the module docstring)."""
    p, t = prediction.strip(), label.strip()
    pf, tf = _to_float(p), _to_float(t)
    if pf is not None and tf:
        return abs(pf - tf) / abs(tf) <= max_relative_change
    return p.lower() == t.lower()


class _ShortAnswer(Benchmark):
    """A short-answer benchmark whose rows are ``{"question_id", "answer", "prediction", "subset"}``."""

    row_fields = ("question_id", "answer", "prediction")
    key_fields = ("question_id",)
    max_new_tokens = 32

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"question_id": meta.get("question_id"), "answer": record.get("answer"),
                "subset": meta.get("subset"), "template_id": meta.get("template_id")}

    def check_row(self, row: dict[str, Any]) -> str | None:
        if not isinstance(row["answer"], str) or not row["answer"].strip():
            return f"answer must be a non-empty string, got {row['answer']!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def correct(self, prediction: str, answer: str) -> bool:
        raise NotImplementedError

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        row["correct"] = self.correct(row["prediction"], row["answer"])
        return row

    def _per(self, samples: Sequence[dict[str, Any]], field: str) -> dict[str, float | None]:
        groups = group_counts(samples, field)
        return {str(k): percent(*groups[k]) for k in sorted(groups, key=str) if k is not None}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(k, [v]) for k, v in results["per_subset"].items()]
        return [Breakdown(f"{self.name} accuracy per subset (%)", "subsets", ["accuracy (%)"], rows, plot=0,
                          item="subset", xlim=(0, 100))]


@BENCHMARKS.register("chartqa")
class ChartQA(_ShortAnswer):
    """ChartQA scorer (relaxed accuracy). Rows: ``{"question_id", "answer", "prediction", "subset"}``."""

    name = "chartqa"
    rule = ("ChartQA relaxed accuracy in %: numeric answers within 5% of a non-zero label (a trailing % divides "
            "by 100), any other answer equal to the label ignoring case; average = mean of human and augmented")

    def correct(self, prediction: str, answer: str) -> bool:
        return relaxed_correct(prediction, answer)

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        per = self._per(samples, "subset")
        subsets = [per[s] for s in ("human", "augmented") if per.get(s) is not None]
        return {"accuracy": percent(sum(bool(s["correct"]) for s in samples), len(samples)),
                "human": per.get("human"), "augmented": per.get("augmented"),
                "average": sum(subsets) / len(subsets) if subsets else None, "per_subset": per, "scale": "percent"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"Human": results["human"], "Augmented": results["augmented"], "Average": results["average"],
                "All": results["accuracy"]}


def dvqa_normalise(text: str) -> str:
    """DVQA answer comparison form: stripped, lower case, no final period."""
    t = text.strip().lower()
    return t[:-1].rstrip() if t.endswith(".") else t


@BENCHMARKS.register("dvqa")
class DVQA(_ShortAnswer):
    """DVQA scorer (exact match). Rows: ``{"question_id", "answer", "prediction", "template_id", "subset"}``."""

    name = "dvqa"
    rule = "DVQA accuracy in %: the answer, stripped, lower-cased and without a final period, equals the label"

    def correct(self, prediction: str, answer: str) -> bool:
        return dvqa_normalise(prediction) == dvqa_normalise(answer)

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"accuracy": percent(sum(bool(s["correct"]) for s in samples), len(samples)),
                "per_template": self._per(samples, "template_id"), "per_subset": self._per(samples, "subset"),
                "scale": "percent"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"Accuracy": results["accuracy"], **{k.capitalize(): v for k, v in results["per_template"].items()}}
