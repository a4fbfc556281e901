"""ScienceQA scored on the test split.

The model answers with a letter; :func:`medmllm.evaluation.benchmarks.mcq.extract_letter` accepts a
bare letter, ``B.``, ``(B)``, a letter followed by its option text, and ``The answer is B.``. Any other
answer is wrong and counted in ``unparsed``. ``accuracy`` is over all questions, ``img_accuracy`` over
questions with an image (the IMG column of the paper), ``per_subject`` over each subject (natural,
social, language science); all in %.
"""

from __future__ import annotations

from typing import Any, Sequence

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown, group_counts, percent
from medmllm.evaluation.benchmarks.mcq import LETTERS, extract_letter
from medmllm.registry import BENCHMARKS

_SUBJECT_SHORT = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}


@BENCHMARKS.register("scienceqa")
class ScienceQA(Benchmark):
    """ScienceQA scorer. Rows: ``{"pid", "answer" (letter), "prediction", "has_image", "subject"}``."""

    name = "scienceqa"
    rule = ("ScienceQA accuracy in %: option letter read from the answer (bare letter, 'B.', '(B)', "
            "'B. text', 'The answer is B.'); anything else wrong and counted as unparsed; IMG = questions "
            "with an image")
    row_fields = ("pid", "answer", "prediction", "has_image", "subject")
    key_fields = ("pid",)
    max_new_tokens = 32

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"pid": meta.get("pid"), "answer": record.get("answer"), "has_image": bool(meta.get("has_image")),
                "subject": meta.get("subject"), "n_choices": len(record.get("choices") or []) or None}

    def check_row(self, row: dict[str, Any]) -> str | None:
        if not isinstance(row["answer"], str) or len(row["answer"]) != 1 or row["answer"] not in LETTERS:
            return f"answer must be an option letter, got {row['answer']!r}"
        if not isinstance(row["has_image"], bool):
            return f"has_image must be true or false, got {row['has_image']!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        letter = extract_letter(row["prediction"], row.get("n_choices"))
        row.update(parsed=letter, correct=letter == row["answer"])
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        correct = sum(1 for s in samples if s["correct"])
        img = [s for s in samples if s["has_image"]]
        subjects = group_counts(samples, "subject")
        return {"accuracy": percent(correct, len(samples)),
                "img_accuracy": percent(sum(1 for s in img if s["correct"]), len(img)),
                "per_subject": {k: percent(*subjects[k]) for k in sorted(subjects, key=str)},
                "per_subject_n": {k: subjects[k][1] for k in sorted(subjects, key=str)},
                "n_img": len(img), "unparsed": sum(1 for s in samples if s["parsed"] is None), "scale": "percent"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        cols = {"Avg": results["accuracy"], "IMG": results["img_accuracy"]}
        for k, v in results["per_subject"].items():
            cols[_SUBJECT_SHORT.get(k, k)] = v
        cols["Unparsed"] = results["unparsed"]
        return cols

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(k, [v, results["per_subject_n"][k]]) for k, v in results["per_subject"].items()]
        return [Breakdown("ScienceQA accuracy per subject", "per_subject", ["accuracy (%)", "n"], rows, plot=0,
                          item="subject", xlim=(0, 100))]
