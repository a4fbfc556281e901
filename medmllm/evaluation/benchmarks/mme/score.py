"""MME scored by the official rule.

Official parsing (the MME ``calculation.py``): the answer is lower-cased; ``yes`` or ``no`` exactly is
that answer; otherwise the first four characters decide (``yes`` in them -> yes, else ``no`` in them ->
no, else "other", which is wrong). Surrounding whitespace is removed first (the official result files
hold one stripped answer per tab-separated line). Per subtask: ``acc`` = % of questions right,
``acc_plus`` = % of images with both questions right, ``score = acc + acc_plus`` (max 200).
``perception`` = sum of the 10 perception subtask scores (max 2000), ``cognition`` = sum of the 4
cognition subtask scores (max 800); a subtask absent from the predictions is listed in
``missing_subtasks`` and adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.evaluation.benchmarks.mme import COGNITION, PERCEPTION, SUBTASKS
from medmllm.registry import BENCHMARKS


def parse_yes_no(text: str) -> str:
    """Official MME answer parsing: ``'yes'``, ``'no'`` or ``'other'``."""
    t = text.strip().lower()
    if t in ("yes", "no"):
        return t
    head = t[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


@BENCHMARKS.register("mme")
class MME(Benchmark):
    """MME scorer. Rows: ``{"subtask", "image", "question", "answer", "prediction"}``."""

    name = "mme"
    rule = ("MME official: lower-case; 'yes'/'no' exactly, else the first 4 characters decide, else wrong; "
            "acc and acc+ (both questions of an image right) per subtask in %, score = acc + acc+; "
            "perception = sum of 10 subtask scores, cognition = sum of 4")
    row_fields = ("subtask", "image", "question", "answer", "prediction")
    key_fields = ("subtask", "image", "question")
    unit_fields = ("subtask", "image")
    max_new_tokens = 16

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"subtask": meta.get("subtask"), "image": meta.get("image"), "question": meta.get("question"),
                "answer": record.get("answer")}

    def check_row(self, row: dict[str, Any]) -> str | None:
        if row["subtask"] not in SUBTASKS:
            return f"subtask {row['subtask']!r} is not an MME subtask ({', '.join(SUBTASKS)})"
        if not isinstance(row["answer"], str) or row["answer"].strip().lower() not in ("yes", "no"):
            return f"answer must be 'Yes' or 'No', got {row['answer']!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_yes_no(row["prediction"])
        row["parsed"] = parsed
        row["correct"] = parsed == row["answer"].strip().lower()
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        images: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        other: dict[str, int] = defaultdict(int)
        for s in samples:
            images[s["subtask"]][self.unit(s)].append(bool(s["correct"]))
            other[s["subtask"]] += s["parsed"] == "other"
        subtasks: dict[str, dict[str, Any]] = {}
        incomplete = 0
        for name in SUBTASKS:
            if name not in images:
                continue
            per_image = images[name].values()
            n_q = sum(len(v) for v in per_image)
            acc = 100.0 * sum(sum(v) for v in per_image) / n_q
            acc_plus = 100.0 * sum(all(v) for v in per_image) / len(per_image)
            incomplete += sum(len(v) != 2 for v in per_image)
            subtasks[name] = {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus, "n_questions": n_q,
                              "n_images": len(per_image), "other": other[name]}
        perception = sum((subtasks[s]["score"] for s in PERCEPTION if s in subtasks), 0.0)
        cognition = sum((subtasks[s]["score"] for s in COGNITION if s in subtasks), 0.0)
        return {"perception": perception, "cognition": cognition, "total": perception + cognition,
                "subtasks": subtasks, "missing_subtasks": [s for s in SUBTASKS if s not in subtasks],
                "incomplete_images": incomplete, "scale": "MME points (acc and acc+ in %)"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"Perception": results["perception"], "Cognition": results["cognition"], "Total": results["total"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(name, [v["acc"], v["acc_plus"], v["score"], v["n_images"]])
                for name, v in results["subtasks"].items()]
        return [Breakdown("MME score per subtask (acc + acc+)", "subtasks", ["acc (%)", "acc+ (%)", "score", "images"],
                          rows, plot=2, item="subtask", xlim=(0, 200))]
