"""OCR answers scored by character-level edit distance (the ICDAR 2019 LSVT "1 - N.E.D." family).

Both texts are normalised first: Unicode NFKC (full-width letters, digits and punctuation -> half-width,
the ideographic space -> a space), lower case (``casefold``), and every whitespace removed (line breaks
and spaces between the transcriptions of "read all" answers are layout, not text; Chinese has none).
Per sample: ``edits`` = Levenshtein distance, ``ned`` = ``edits / max(len(reference), len(answer))``
(0 for two empty texts), ``exact`` = equal texts. Metrics (fractions in [0, 1]):

- ``one_minus_ned``: mean of ``1 - ned`` (LSVT's end-to-end metric, PaddleOCR's ``norm_edit_dis``);
- ``char_accuracy``: ``1 - sum(edits) / sum(len(reference))``, floored at 0 (1 - character error rate);
- ``exact_match``: share of exact answers;
- the same per record kind (``per_task``: read / region / question) and per dataset (``per_dataset``).
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Any, Sequence

from rapidfuzz.distance import Levenshtein

from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.registry import BENCHMARKS


def normalise_text(text: str) -> str:
    """NFKC (full-width -> half-width), case-folded, all whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def char_scores(prediction: str, reference: str) -> dict[str, Any]:
    """``{"edits", "ref_len", "ned", "exact"}`` of one answer against its reference."""
    p, r = normalise_text(prediction), normalise_text(reference)
    edits = Levenshtein.distance(r, p)
    longest = max(len(r), len(p))
    return {"edits": edits, "ref_len": len(r), "ned": edits / longest if longest else 0.0, "exact": p == r}


def _summary(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ref = sum(s["ref_len"] for s in samples)
    return {"one_minus_ned": sum(1.0 - s["ned"] for s in samples) / len(samples),
            "char_accuracy": max(0.0, 1.0 - sum(s["edits"] for s in samples) / ref) if ref else None,
            "exact_match": sum(bool(s["exact"]) for s in samples) / len(samples), "n": len(samples)}


def _by(samples: Sequence[dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[str(s.get(field))].append(s)
    return {k: _summary(v) for k, v in sorted(groups.items())}


@BENCHMARKS.register("ocr")
class OCR(Benchmark):
    """OCR scorer. Rows: ``{"id", "answer", "prediction"}`` (+ ``ocr_task``, ``dataset``)."""

    name = "ocr"
    rule = ("character-level: NFKC (full-width -> half-width), case-folded, whitespace removed; "
            "1 - N.E.D. (mean of 1 - edit distance / longer length), character accuracy "
            "(1 - total edits / total reference characters) and exact match; fractions")
    row_fields = ("id", "answer", "prediction")
    key_fields = ("id",)
    max_new_tokens = 128

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"answer": record.get("answer"), "ocr_task": meta.get("ocr_task"), "dataset": meta.get("dataset")}

    def check_row(self, row: dict[str, Any]) -> str | None:
        if not isinstance(row["answer"], str) or not row["answer"].strip():
            return f"answer must be a non-empty string, got {row['answer']!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        row.update(char_scores(row["prediction"], row["answer"]))
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out = _summary(samples)
        out.pop("n")
        return {**out, "per_task": _by(samples, "ocr_task"), "per_dataset": _by(samples, "dataset"),
                "scale": "fraction"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"1-NED": results["one_minus_ned"], "Char acc": results["char_accuracy"],
                "Exact": results["exact_match"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(k, [v["one_minus_ned"], v["char_accuracy"], v["exact_match"], v["n"]])
                for k, v in results["per_task"].items()]
        return [Breakdown("OCR per record kind", "per_task", ["1-NED", "char acc", "exact", "n"], rows, plot=0,
                          item="kind", xlim=(0, 1))]
