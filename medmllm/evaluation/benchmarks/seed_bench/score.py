"""SEED-Bench scored by either of its two methods, always labelled in results (``method``):

- ``likelihood`` (the official one): the model reads the image and the question (without the option
  list) and each choice text is scored as its answer; the choice with the lowest mean token loss is the
  prediction. Rows written by the runner carry ``losses`` (one per choice) and the chosen letter.
- ``generation``: the model sees the question with lettered options and answers with a letter, which
  :func:`medmllm.evaluation.benchmarks.mcq.extract_letter` reads (anything else is wrong and counted
  in ``unparsed``).

``overall`` is the accuracy over all questions in %; ``per_dimension`` the accuracy of each dimension
(named by ``dimension`` in the row, else by the SEED-Bench v1 name of ``question_type_id``).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown, Predictor, group_counts, percent
from medmllm.evaluation.benchmarks.mcq import LETTERS, extract_letter
from medmllm.registry import BENCHMARKS

METHODS = ("likelihood", "generation")
DIMENSIONS = {1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes", 4: "Instance Location",
              5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
              9: "Text Understanding", 10: "Action Recognition", 11: "Action Prediction",
              12: "Procedure Understanding"}
_PLACEHOLDER = re.compile(r"<xray>|<ct>")


def likelihood_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record whose prompt is the image placeholders and the bare question (no option list).

    This is the prompt of the official likelihood method; each choice is then scored as the reply.
    """
    question = (record.get("meta") or {}).get("question")
    if not question:
        return record
    msgs = list(record.get("messages") or [])
    for i, m in enumerate(msgs):
        if m.get("role") == "user":
            holders = _PLACEHOLDER.findall(m.get("content", ""))
            msgs[i] = {**m, "content": "".join(h + "\n" for h in holders) + question}
            break
    return {**record, "messages": [m for m in msgs if m.get("role") != "assistant"]}


@BENCHMARKS.register("seed-bench")
class SeedBench(Benchmark):
    """SEED-Bench scorer. Rows: ``{"question_id", "question_type_id", "answer", "prediction"}``.

    Args:
        method: ``likelihood`` or ``generation``; None takes it from the rows' ``method`` field
            (``evaluate`` predicts with ``likelihood``, the official method, by default).
    """

    name = "seed-bench"
    row_fields = ("question_id", "question_type_id", "answer", "prediction")
    key_fields = ("question_id",)
    max_new_tokens = 16
    methods = METHODS

    @property
    def rule(self) -> str:  # type: ignore[override]
        how = {"likelihood": "choice with the lowest mean token loss given image + question (official)",
               "generation": "letter extracted from the generated answer (bare letter, 'B.', '(B)', "
                             "'The answer is B.'; else wrong)"}
        return f"SEED-Bench accuracy in %, method {self.method or '?'}: {how.get(self.method or '', '')}"

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {"question_id": meta.get("question_id"), "question_type_id": meta.get("question_type_id"),
                "dimension": meta.get("dimension"), "answer": record.get("answer"),
                "n_choices": len(record.get("choices") or []) or None}

    def accepts(self, record: dict[str, Any]) -> bool:
        meta = record.get("meta") or {}
        return meta.get("benchmark") == self.name and "video" not in str(meta.get("data_type") or "image").lower()

    def prepare(self, raw, where, references=None, references_where=None):
        methods = {r.get("method") for _, r in raw} - {None}
        if len(methods) > 1:
            raise InputError(where, f"rows mix methods {sorted(methods)}")
        if methods:
            (from_rows,) = methods
            if from_rows not in METHODS:
                raise InputError(where, f"method {from_rows!r} is not one of {', '.join(METHODS)}")
            if self.method not in (None, from_rows):
                raise InputError(where, f"rows were made with method {from_rows!r}, not {self.method!r}")
            self.method = from_rows
        if self.method is None:
            raise InputError(where, "rows carry no 'method': say which (--method likelihood|generation)")
        return super().prepare(raw, where, references, references_where)

    def check_row(self, row: dict[str, Any]) -> str | None:
        if not isinstance(row["answer"], str) or len(row["answer"]) != 1 or row["answer"] not in LETTERS:
            return f"answer must be an option letter, got {row['answer']!r}"
        losses = row.get("losses")
        if losses is not None and (not isinstance(losses, list) or not losses
                                   or not all(isinstance(x, (int, float)) for x in losses)):
            return "losses must be a non-empty list of numbers"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        losses = row.get("losses")
        if self.method == "likelihood" and losses:
            letter: str | None = LETTERS[min(range(len(losses)), key=lambda i: losses[i])]
        else:
            letter = extract_letter(row["prediction"], row.get("n_choices"))
        dim = row.get("dimension") or DIMENSIONS.get(_int(row["question_type_id"]), str(row["question_type_id"]))
        row.update(parsed=letter, correct=letter == row["answer"], dimension=dim, method=self.method)
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        groups = group_counts(samples, "dimension")
        order = sorted(groups, key=lambda d: (_dim_order(d), d))
        correct = sum(1 for s in samples if s["correct"])
        return {"method": samples[0]["method"] if samples else self.method,
                "overall": percent(correct, len(samples)),
                "per_dimension": {d: percent(*groups[d]) for d in order},
                "per_dimension_n": {d: groups[d][1] for d in order},
                "unparsed": sum(1 for s in samples if s["parsed"] is None), "scale": "percent"}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        return {"Method": results["method"], "Overall": results["overall"], **results["per_dimension"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        rows = [(d, [v, results["per_dimension_n"][d]]) for d, v in results["per_dimension"].items()]
        return [Breakdown(f"SEED-Bench accuracy per dimension ({results['method']})", "per_dimension",
                          ["accuracy (%)", "n"], rows, plot=0, item="dimension", xlim=(0, 100))]

    def predict(self, predictor: Predictor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.method is None:
            self.method = self.methods[0]
        if self.method == "generation":
            return [{**p, "method": "generation"} for p in super().predict(predictor, records)]
        out = []
        for rec in records:
            choices = list(rec.get("choices") or [])
            if not choices:
                raise InputError(None, f"record {rec.get('id')}: no choices to score")
            losses = [float(x) for x in predictor.choice_losses(likelihood_record(rec), choices)]
            if len(losses) != len(choices):
                raise RuntimeError(f"predictor returned {len(losses)} losses for {len(choices)} choices")
            best = min(range(len(losses)), key=lambda i: losses[i])
            out.append({"prediction": LETTERS[best], "losses": losses, "method": "likelihood"})
        return out


def _int(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _dim_order(name: str) -> int:
    for k, v in DIMENSIONS.items():
        if v == name:
            return k
    return 99
