"""Video-MME scored by the official rule (``evaluation/eval_your_results.py`` of the release).

Letter extraction, as the official ``extract_characters_regex``: the answer is stripped; the phrases
``The best answer is``, ``The correct answer is``, ``The answer is``, ``The answer``, and the two
strings the official list runs together (a missing comma: ``The best option isThe correct option is``,
``Best answer:Best option:``) are removed; an answer of more than 10 words without any of A-D is
unanswered; otherwise the first capital A, B, C or D anywhere in it is the answer (so ``Based on ...``
answers B, as officially). An unanswered question is left out of the accuracy (``answered`` is the
official denominator) and counted in ``unparsed``; ``accuracy_all`` counts it wrong (lmms-eval's
convention). Accuracy in % overall, per duration (short / medium / long), per task type, per domain and
per sub-category. ``subtitles`` (``with`` / ``without``) says whether the prompts held the videos'
subtitles: the two settings are reported as separate results, never mixed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown, Predictor, group_counts, percent, prompt_record
from medmllm.evaluation.benchmarks.options import Option
from medmllm.evaluation.benchmarks.video_mme import DOMAINS, DURATIONS, TASK_TYPES, video_mme_prompt
from medmllm.registry import BENCHMARKS

log = logging.getLogger(__name__)

SETTINGS = ("without", "with")
OFFICIAL_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                     "The best option is" "The correct option is",  # joined in the official list (no comma)
                     "Best answer:" "Best option:")
_LETTER = re.compile(r"[ABCD]")


def extract_answer(text: Any) -> str | None:
    """The official Video-MME letter of an answer, or None when it gives none (module docstring)."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    for prefix in OFFICIAL_PREFIXES:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not _LETTER.search(s):
        return None
    m = _LETTER.search(s)
    return m.group(0) if m else None


@BENCHMARKS.register("video-mme")
class VideoMME(Benchmark):
    """Video-MME scorer. Rows: ``{"question_id", "video_id", "duration", "domain", "task_type", "answer",
    "prediction"}`` (+ ``sub_category``, ``subtitles``)."""

    name = "video-mme"
    rule = ("Video-MME official: prefixes removed, first capital A-D is the answer (none, or over 10 words "
            "without one: unanswered, left out of the accuracy); accuracy in % of answered questions overall, "
            "per duration, task type, domain and sub-category")
    row_fields = ("question_id", "video_id", "duration", "domain", "task_type", "answer", "prediction")
    key_fields = ("question_id",)
    unit_fields = ("video_id",)  # a video's three questions are resampled together
    max_new_tokens = 16
    options = (Option("subtitles", "video-mme: the videos' subtitles in the prompt (with) or not (without; the "
                                   "default of evaluate; scoring's default: the rows' 'subtitles')", choices=SETTINGS),)
    subtitles: str | None = None

    def bind(self, results: Path, image_root: Path | None = None) -> None:
        self._root = image_root

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        meta = record.get("meta") or {}
        return {k: meta.get(k) for k in ("question_id", "video_id", "duration", "domain", "sub_category",
                                         "task_type")} | {"answer": record.get("answer")}

    def prepare(self, raw, where, references=None, references_where=None):
        settings = {r.get("subtitles") for _, r in raw} - {None}
        if len(settings) > 1:
            raise InputError(where, "rows mix answers made with and without subtitles; score them apart")
        if settings:
            (given,) = settings
            if given not in SETTINGS:
                raise InputError(where, f"subtitles {given!r} is not one of {', '.join(SETTINGS)}")
            if self.subtitles not in (None, given):
                raise InputError(where, f"rows were made {given} subtitles, not {self.subtitles}")
            self.subtitles = given
        self.subtitles = self.subtitles or "without"
        return super().prepare(raw, where, references, references_where)

    def check_row(self, row: dict[str, Any]) -> str | None:
        if row["answer"] not in ("A", "B", "C", "D"):
            return f"answer must be A, B, C or D, got {row['answer']!r}"
        if row["duration"] not in DURATIONS:
            return f"duration must be one of {', '.join(DURATIONS)}, got {row['duration']!r}"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        letter = extract_answer(row["prediction"])
        row.update(parsed=letter, correct=letter == row["answer"], subtitles=self.subtitles)
        return row

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        answered = [s for s in samples if s["parsed"] is not None]
        correct = sum(1 for s in answered if s["correct"])

        def per(field: str, order: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, int]]:
            groups = group_counts(answered, field)
            keys = [k for k in order if k in groups] + sorted((k for k in groups if k not in order), key=str)
            return {k: percent(*groups[k]) for k in keys}, {k: groups[k][1] for k in keys}

        out: dict[str, Any] = {"subtitles": samples[0]["subtitles"] if samples else self.subtitles,
                               "overall": percent(correct, len(answered)),
                               "accuracy_all": percent(correct, len(samples)),
                               "answered": len(answered), "unparsed": len(samples) - len(answered),
                               "scale": "percent"}
        for field, order in (("duration", DURATIONS), ("task_type", TASK_TYPES), ("domain", DOMAINS),
                             ("sub_category", ())):
            out[f"per_{field}"], out[f"per_{field}_n"] = per(field, order)
        return out

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        per = results["per_duration"]
        return {"Subtitles": results["subtitles"], "Overall": results["overall"],
                **{d.capitalize(): per.get(d) for d in DURATIONS}, "Unparsed": results["unparsed"]}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        out = []
        for field, title in (("duration", "duration"), ("domain", "domain"), ("task_type", "task type")):
            rows = [(k, [v, results[f"per_{field}_n"][k]]) for k, v in results[f"per_{field}"].items()]
            out.append(Breakdown(f"Video-MME accuracy per {title} ({results['subtitles']} subtitles)",
                                 f"per_{field}", ["accuracy (%)", "answered"], rows, plot=0, item=title,
                                 xlim=(0, 100)))
        return out

    def predict(self, predictor: Predictor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.subtitles = self.subtitles or "without"
        prompts = [self._with_subtitles(r) if self.subtitles == "with" else prompt_record(r) for r in records]
        texts = predictor.generate(prompts)
        if len(texts) != len(records):
            raise RuntimeError(f"predictor returned {len(texts)} answers for {len(records)} records")
        return [{"prediction": t, "subtitles": self.subtitles} for t in texts]

    def _with_subtitles(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record asked with its video's subtitle lines (a video without subtitles: the plain prompt)."""
        from medmllm.evaluation.benchmarks.video_mme.subtitles import read_srt, subtitle_text

        meta = record.get("meta") or {}
        rel = meta.get("subtitle_path")
        if not rel:
            return prompt_record(record)
        root = getattr(self, "_root", None)
        if root is None:
            raise InputError(None, "video-mme --subtitles with: the manifest's folder is not known (bind)")
        text = subtitle_text(read_srt(Path(root) / rel))
        msgs = [dict(m) for m in prompt_record(record)["messages"]]
        msgs[-1]["content"] = video_mme_prompt(meta["question"], list(meta["options"]), text or None)
        return {**record, "messages": msgs}
