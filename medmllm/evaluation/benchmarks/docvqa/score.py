"""DocVQA and InfographicVQA scored by ANLS, the official metric (Biten et al. 2019, the RRC evaluation).

Each answer and each reference is lower-cased, stripped and its whitespace collapsed; the normalised
Levenshtein distance ``NL = lev(reference, answer) / max(len(reference), len(answer))`` gives the
similarity ``1 - NL`` when ``NL < 0.5`` and 0 otherwise; a question scores its best similarity over its
reference answers and ANLS is the mean over questions (reported as a fraction in [0, 1], as the
leaderboards do). ``per_answer_type`` (InfographicVQA's ``answer_type``) and ``per_question_type``
(DocVQA's ``question_types``) average the same scores over the questions of each type.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from rapidfuzz.distance import Levenshtein

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.registry import BENCHMARKS

THRESHOLD = 0.5


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_score(prediction: str, answers: Sequence[str], threshold: float = THRESHOLD) -> float:
    """The ANLS of one answer against its references (see the module docstring)."""
    p = _norm(prediction)
    best = 0.0
    for a in answers:
        a = _norm(a)
        longest = max(len(a), len(p))
        nl = Levenshtein.distance(a, p) / longest if longest else 0.0
        best = max(best, 1.0 - nl if nl < threshold else 0.0)
    return best


def _mean_by(samples: Sequence[dict[str, Any]], field: str) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        for t in s.get(field) or []:
            groups[str(t)].append(s["anls"])
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}


class _ANLS(Benchmark):
    """ANLS scorer. Rows: ``{"question_id", "answers" (list of strings), "prediction"}``."""

    rule = ("ANLS (official): lower-cased, whitespace-collapsed answers; similarity 1 - normalised Levenshtein "
            "distance when that distance is below 0.5, else 0; best over the reference answers; mean over "
            "questions, a fraction in [0, 1]")
    row_fields = ("question_id", "answers", "prediction")
    key_fields = ("question_id",)
    max_new_tokens = 32

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"question_id": meta.get("question_id"), "answers": meta.get("answers"), "answer": record.get("answer"),
                "answer_type": meta.get("answer_type"), "question_types": meta.get("question_types")}

    def check_row(self, row: dict[str, Any]) -> str | None:
        answers = row["answers"]
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
            return f"answers must be a non-empty list of strings, got {answers!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        row["anls"] = anls_score(row["prediction"], row["answers"])
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"anls": sum(s["anls"] for s in samples) / len(samples),
                "per_answer_type": _mean_by(samples, "answer_type"),
                "per_question_type": _mean_by(samples, "question_types"), "threshold": THRESHOLD,
                "scale": "fraction"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"ANLS": results["anls"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        out = []
        for key, title in (("per_answer_type", "answer type"), ("per_question_type", "question type")):
            if results.get(key):
                out.append(Breakdown(f"ANLS per {title}", key, ["ANLS"], [(k, [v]) for k, v in results[key].items()],
                                     plot=0, item=title, xlim=(0, 1)))
        return out


@BENCHMARKS.register("docvqa")
class DocVQA(_ANLS):
    """DocVQA (ANLS)."""

    name = "docvqa"


@BENCHMARKS.register("infovqa")
class InfoVQA(_ANLS):
    """InfographicVQA (ANLS)."""

    name = "infovqa"
