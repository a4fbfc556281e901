"""The P2Med-style clinical task suite over a manifest: each task scored by its own rule.

Tasks (the record's ``task``) and how each is scored (fractions):

- ``report``: NLG + clinical efficacy, exactly as the ``report`` benchmark
  (:mod:`medmllm.evaluation.benchmarks.report`).
- ``vqa`` (closed questions): ``accuracy``. A yes/no reference (Yes/No, 是/否) is compared with the
  yes/no the answer starts with (English: its first word; Chinese: 是/有/存在 vs 否/不/无/没有/未); any
  other reference (e.g. "Right", "双侧") must be the start of the normalised answer (lower case,
  punctuation and spaces removed). ``yes_no_accuracy`` and ``unparsed`` are reported too.
- ``diagnosis``: precision/recall/F1 (micro, and macro over the keys present in the references) of
  the findings keys that :func:`medmllm.evaluation.labeler.label_report` reads from the answer,
  against the record's ground-truth ``labels`` (else the labels read from the reference text).
- ``summary``: ``rouge_l`` (pycocoevalcap ROUGE-L after the report protocol, mean over samples).

Rows: ``{"id", "task", "prediction", "reference"}`` (optional ``lang``, ``labels``). With records in
two languages each task is reported per language (``report:en``, ``report:zh`` ...). Results hold the
tasks under ``tasks``; a run adds the two controls (images shuffled across samples; a constant normal
answer: the normal report, or "No"/"否" for closed questions).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Callable, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.evaluation.benchmarks.options import Option
from medmllm.evaluation.benchmarks.report import (LANGS, NORMAL_REPORT, PROTOCOL, UNCERTAIN, Report,
                                                  fast_report_metrics, label_breakdowns, record_lang, reference_text)
from medmllm.evaluation.benchmarks.runner import CONTROLS
from medmllm.registry import BENCHMARKS

TASKS = ("report", "vqa", "diagnosis", "summary")
NORMAL_ANSWER = {"en": "No.", "zh": "否。"}
_EN_YN = re.compile(r"\s*(yes|no)\b", re.IGNORECASE)
_ZH_YES = ("是", "有", "存在")
_ZH_NO = ("否", "不", "无", "没有", "未")
_PUNCT = re.compile(r"[\W_]+")


def closed_answer(text: str, lang: str) -> str | None:
    """``'yes'``/``'no'`` for a yes/no answer, else None."""
    t = (text or "").strip()
    if lang == "zh":
        if t.startswith(_ZH_NO):  # before yes: 不是 is no
            return "no"
        if t.startswith(_ZH_YES):
            return "yes"
        return None
    m = _EN_YN.match(t)
    return m.group(1).lower() if m else None


def _norm(text: str) -> str:
    return _PUNCT.sub("", (text or "").lower())


@BENCHMARKS.register("clinical")
class Clinical(Benchmark):
    """Clinical task suite scorer.

    Args:
        lang: force one language for all rows (default: each row's ``lang``).
        protocol: report text protocol for the NLG metrics, ``coco`` or ``r2gen``.
        uncertain: CE policy for uncertain labels, ``positive`` or ``negative``.
    """

    name = "clinical"
    row_fields = ("id", "task", "prediction", "reference")
    key_fields = ("id",)
    controls = CONTROLS
    options = (Option("lang", "force one language for all rows (default: each row's)", choices=LANGS),
               PROTOCOL, UNCERTAIN)

    lang: str | None
    protocol: str
    uncertain: str

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._reports: dict[str, Report] = {}

    @property
    def rule(self) -> str:  # type: ignore[override]
        return (f"P2Med-style suite: report = NLG ({self.protocol} protocol) + CE; vqa = closed-answer accuracy; "
                f"diagnosis = findings-label F1 (labeler, uncertain counted {self.uncertain}); summary = ROUGE-L; "
                "fractions; controls: images shuffled across samples, constant normal answer")

    def _report(self, lang: str) -> Report:
        if lang not in self._reports:
            self._reports[lang] = Report(lang=lang, protocol=self.protocol, uncertain=self.uncertain)
        return self._reports[lang]

    def accepts(self, record: dict[str, Any]) -> bool:
        meta = record.get("meta") or {}
        if record.get("task") not in TASKS or meta.get("benchmark") not in (None, "clinical"):
            return False
        return (record.get("answer") if record["task"] == "vqa" else reference_text(record)) is not None

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        ref = record.get("answer") if record.get("task") == "vqa" else reference_text(record)
        return {"task": record.get("task"), "reference": ref, "lang": record_lang(record),
                "labels": record.get("labels")}

    def constant_prediction(self, record: dict[str, Any]) -> str:
        table = NORMAL_ANSWER if record.get("task") == "vqa" else NORMAL_REPORT
        return table.get(record_lang(record), table["en"])

    def check_row(self, row: dict[str, Any]) -> str | None:
        if row["task"] not in TASKS:
            return f"task {row['task']!r} is not one of {', '.join(TASKS)}"
        if not isinstance(row["reference"], str):
            return "reference must be a string"
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            return f"prediction must be a string, got {type(row['prediction']).__name__}"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        row["lang"] = self.lang or row.get("lang") or "en"
        if row["task"] == "vqa":
            ref = closed_answer(row["reference"], row["lang"])
            if ref is not None:
                got = closed_answer(row["prediction"], row["lang"])
                row.update(kind="yes_no", parsed=got, correct=got == ref)
            else:
                pred, want = _norm(row["prediction"]), _norm(row["reference"])
                row.update(kind="open", parsed=pred[:len(want)] or None, correct=bool(want) and pred.startswith(want))
        return row

    def prepare(self, raw, where, references=None, references_where=None):
        from medmllm.evaluation.clinical import check_reference_labels
        from medmllm.evaluation.labeler import label_report

        samples, skipped = super().prepare(raw, where, references, references_where)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            groups[(s["task"], s["lang"])].append(s)
        for (task, lang), group in groups.items():
            if task == "report":
                self._report(lang).annotate_reports(group, where)
            elif task == "diagnosis":
                for s in group:
                    s["pred_findings"] = label_report(s["prediction"], lang)["findings"]
                    try:
                        s["ref_findings"] = (check_reference_labels(s["labels"]) if s.get("labels") is not None
                                             else label_report(s["reference"], lang)["findings"])
                    except ValueError as e:
                        raise InputError(where, f"id {s['id']!r}: {e}") from None
            elif task == "summary":
                for s, score in zip(group, self._rouge(group, lang)):
                    s["rouge_l"] = score
        return samples, skipped

    def _rouge(self, group: Sequence[dict[str, Any]], lang: str) -> list[float]:
        from pycocoevalcap.rouge.rouge import Rouge

        from medmllm.evaluation.report_text import prepare

        ids = [str(i) for i in range(len(group))]
        gts, res = prepare({i: s["prediction"] for i, s in zip(ids, group)},
                           {i: s["reference"] for i, s in zip(ids, group)}, self.protocol, lang)
        _, each = Rouge().compute_score(gts, res)
        return [float(x) for x in each]

    def _task_metrics(self, task: str, lang: str, group: Sequence[dict[str, Any]], fast: Callable | None) -> dict[str, Any]:
        from medmllm.evaluation.clinical import ce_group
        from medmllm.findings import FINDING_KEYS

        if task == "report":
            return fast(group) if fast is not None else self._report(lang).aggregate(group)
        if task == "vqa":
            yn = [s for s in group if s["kind"] == "yes_no"]
            return {"accuracy": sum(s["correct"] for s in group) / len(group),
                    "yes_no_accuracy": sum(s["correct"] for s in yn) / len(yn) if yn else None,
                    "unparsed": sum(1 for s in yn if s["parsed"] is None), "n": len(group)}
        if task == "diagnosis":
            ce = ce_group([s["pred_findings"] for s in group], [s["ref_findings"] for s in group], FINDING_KEYS,
                          self.uncertain)
            return {**ce, "n": len(group)}
        return {"rouge_l": sum(s["rouge_l"] for s in group) / len(group), "n": len(group)}

    def _metrics(self, samples: Sequence[dict[str, Any]], fast: dict[str, Callable] | None) -> dict[str, Any]:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for s in samples:
            groups[(s["task"], s["lang"])].append(s)
        several = len({lang for _, lang in groups}) > 1
        tasks = {}
        for (task, lang), group in sorted(groups.items(), key=lambda kv: (TASKS.index(kv[0][0]), kv[0][1])):
            f = None if fast is None else fast.get(lang)
            tasks[f"{task}:{lang}" if several else task] = self._task_metrics(task, lang, group, f)
        return {"tasks": tasks, "uncertain": self.uncertain, "protocol": self.protocol, "scale": "fraction"}

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self._metrics(samples, None)

    def resampler(self, samples: Sequence[dict[str, Any]]) -> Callable[[Sequence[dict[str, Any]]], dict[str, Any]]:
        from medmllm.evaluation.report_text import prepare

        fast: dict[str, Callable] = {}
        for lang in {s["lang"] for s in samples if s["task"] == "report"}:
            reps = [s for s in samples if s["task"] == "report" and s["lang"] == lang]
            gts, res = prepare({s["id"]: s["prediction"] for s in reps}, {s["id"]: s["reference"] for s in reps},
                               self.protocol, lang)
            tokens = {s["id"]: (gts[s["id"]], res[s["id"]]) for s in reps}
            fast[lang] = lambda draw, tokens=tokens: fast_report_metrics(draw, self.unit, tokens, self.uncertain)
        return lambda draw: self._metrics(draw, fast)

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        cols: dict[str, Any] = {}
        for key, m in (results.get("tasks") or {}).items():
            task = key.split(":")[0]
            if task == "report":
                ce = m.get("clinical") or {}
                cols[f"{key} BLEU-4"] = m.get("bleu_4")
                cols[f"{key} ROUGE-L"] = m.get("rouge_l")
                cols[f"{key} findings F1"] = (ce.get("findings") or {}).get("macro", {}).get("f1")
            elif task == "vqa":
                cols[f"{key} accuracy"] = m.get("accuracy")
            elif task == "diagnosis":
                cols[f"{key} F1 (macro)"] = (m.get("macro") or {}).get("f1")
            else:
                cols[f"{key} ROUGE-L"] = m.get("rouge_l")
        return cols

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        out: list[Breakdown] = []
        for key, m in (results.get("tasks") or {}).items():
            slug = key.replace(":", "_") + "_"
            if key.startswith("report"):
                out += [b for b in label_breakdowns(m.get("clinical") or {}, f"{key}: ", slug) if "findings" in b.slug]
            elif key.startswith("diagnosis"):
                out += [b for b in label_breakdowns({"findings": m}, f"{key}: ", slug)]
        return out
