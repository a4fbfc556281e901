"""Radiology report generation: NLG metrics and clinical efficacy, with two controls.

Scoring is :func:`medmllm.evaluation.report_metrics.evaluate_reports` (pycocoevalcap BLEU-1..4,
METEOR, ROUGE-L, CIDEr after the ``coco`` or ``r2gen`` protocol; CE precision/recall/F1 of the labels
that :mod:`medmllm.evaluation.labeler` reads, against a record's ground-truth ``labels`` when it has
them). Scores are fractions (CIDEr on pycocoevalcap's 0-10 scale). Rows: ``{"id", "prediction",
"reference"}`` (optional ``lang``, ``labels``); ``medmllm score``'s ``{"id", "report"}`` rows are
accepted too. A run always adds the controls ``shuffled_images`` and ``constant_normal`` (see
:mod:`medmllm.evaluation.benchmarks.runner`), so a reader sees whether the model uses its images.

Bootstrap (``medmllm compare``): BLEU and CIDEr are recomputed by pycocoevalcap on each resample,
ROUGE-L is the mean of per-sample scores (as pycocoevalcap defines it) and CE is recomputed from the
per-sample labels; METEOR's corpus score needs the METEOR jar per draw and is not resampled.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Sequence

from medmllm.data.text import record_language, report_text
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.evaluation.benchmarks.options import Option
from medmllm.evaluation.benchmarks.runner import CONTROLS
from medmllm.registry import BENCHMARKS

NORMAL_REPORT = {
    "en": "Findings: The lungs are clear. There is no consolidation, pleural effusion or pneumothorax. "
          "The heart size is normal. Impression: No acute cardiopulmonary abnormality.",
    "zh": "所见：双肺纹理清晰，未见实变影，未见胸腔积液及气胸，心影大小正常。印象：心肺未见明显异常。",
}
LANGS = ("en", "zh")
PROTOCOL = Option("protocol", "text preparation before the NLG metrics", choices=("coco", "r2gen"), default="coco")
UNCERTAIN = Option("uncertain", "what uncertain findings count as in clinical efficacy",
                   choices=("positive", "negative"), default="positive")
PER_SAMPLE = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "pred_findings", "ref_findings",
              "ref_labels_source", "pred_chexpert", "ref_chexpert")


def record_lang(record: dict[str, Any]) -> str:
    """Language of a manifest record (:func:`medmllm.data.text.record_language`)."""
    return record_language(record)


def reference_text(record: dict[str, Any]) -> str | None:
    """The reference answer of a record (:func:`medmllm.data.text.report_text`)."""
    return report_text(record)


def _as_rows(raw: list[tuple[int, dict[str, Any]]], field: str) -> list[tuple[int, dict[str, Any]]]:
    """``medmllm score`` rows (``report``) -> benchmark rows (``prediction`` or ``reference``)."""
    out = []
    for n, r in raw:
        if field not in r and "report" in r and "messages" not in r:
            r = {**{k: v for k, v in r.items() if k != "report"}, field: r["report"]}
        out.append((n, r))
    return out


@BENCHMARKS.register("report")
class Report(Benchmark):
    """Report generation scorer.

    Args:
        lang: ``en`` or ``zh``; None takes it from the rows (one language per score).
        protocol: text preparation before the NLG metrics, ``coco`` or ``r2gen``.
        uncertain: CE policy for uncertain labels, ``positive`` or ``negative``.
    """

    name = "report"
    row_fields = ("id", "prediction", "reference")
    key_fields = ("id",)
    controls = CONTROLS
    options = (Option("lang", "only reports of this language (default: the rows' one language)", choices=LANGS),
               PROTOCOL, UNCERTAIN)

    lang: str | None
    protocol: str
    uncertain: str
    _memo: tuple[str, Any] | None = None

    @property
    def rule(self) -> str:  # type: ignore[override]
        return (f"pycocoevalcap BLEU-1..4/METEOR/ROUGE-L/CIDEr after the {self.protocol} protocol; clinical "
                f"efficacy of medmllm labeler findings (uncertain counted {self.uncertain}); fractions; controls: "
                "images shuffled across samples, constant normal report")

    def accepts(self, record: dict[str, Any]) -> bool:
        """Report records with a reference (of language ``lang`` when it is set)."""
        meta = record.get("meta") or {}
        return record.get("task") == "report" and meta.get("benchmark") in (None, "report") \
            and reference_text(record) is not None and (self.lang is None or record_lang(record) == self.lang)

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"reference": reference_text(record), "lang": record_lang(record), "labels": record.get("labels")}

    def constant_prediction(self, record: dict[str, Any]) -> str:
        return NORMAL_REPORT.get(record_lang(record), NORMAL_REPORT["en"])

    def preflight(self, records: Sequence[dict[str, Any]], references: bool) -> str | None:
        """Records in several languages need ``--lang`` (metrics are computed per language)."""
        langs = sorted({record_lang(r) for r in records})
        if self.lang is None and len(langs) > 1:
            return f"report records in several languages ({', '.join(langs)}): pick one with --lang"
        return None

    def check_row(self, row: dict[str, Any]) -> str | None:
        for f in ("prediction", "reference"):
            if row[f] is not None and not isinstance(row[f], str):
                return f"{f} must be a string, got {type(row[f]).__name__}"
        if row["reference"] is None:
            return "reference is null"
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def prepare(self, raw, where, references=None, references_where=None):
        raw = _as_rows(raw, "prediction")
        references = None if references is None else _as_rows(references, "reference")
        samples, skipped = super().prepare(raw, where, references, references_where)
        self.annotate_reports(samples, where)
        return samples, skipped

    def annotate_reports(self, samples: list[dict[str, Any]], where: str) -> None:
        """Add per-sample NLG scores and labels to report samples (one scoring call for all)."""
        from medmllm.evaluation.clinical import check_reference_labels

        langs = {s.get("lang") or "en" for s in samples}
        if self.lang is None and len(langs) > 1:
            raise InputError(where, f"reports in several languages ({', '.join(sorted(langs))}): score each with --lang")
        lang = self.lang or langs.pop()
        for s in samples:
            s["lang"] = lang
            if s.get("labels") is not None:
                try:
                    check_reference_labels(s["labels"])
                except ValueError as e:
                    raise InputError(where, f"id {s['id']!r}: {e}") from None
        per = {r["id"]: r for r in self._evaluate(samples).samples}
        for s in samples:
            s.update({k: per[self.unit(s)][k] for k in PER_SAMPLE})

    def _evaluate(self, samples: Sequence[dict[str, Any]]) -> Any:
        from medmllm.evaluation.report_metrics import evaluate_reports

        units = [self.unit(s) for s in samples]
        lang = samples[0].get("lang") or self.lang or "en"
        key = hashlib.sha256(json.dumps([units, [s["prediction"] for s in samples], [s["reference"] for s in samples],
                                         [s.get("labels") for s in samples], lang, self.protocol, self.uncertain],
                                        ensure_ascii=False).encode()).hexdigest()
        if self._memo is None or self._memo[0] != key:
            labels = {u: s["labels"] for u, s in zip(units, samples) if s.get("labels") is not None}
            try:
                scores = evaluate_reports({u: s["prediction"] for u, s in zip(units, samples)},
                                          {u: s["reference"] for u, s in zip(units, samples)},
                                          self.protocol, lang, self.uncertain, labels)
            except ValueError as e:
                raise InputError(None, str(e)) from None
            self._memo = (key, scores)
        return self._memo[1]

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        summary = dict(self._evaluate(samples).summary)
        for k in ("versions", "n", "rule"):
            summary.pop(k, None)
        return {**summary, "scale": "fraction"}

    def resampler(self, samples: Sequence[dict[str, Any]]) -> Callable[[Sequence[dict[str, Any]]], dict[str, Any]]:
        from medmllm.evaluation.report_text import prepare

        lang = samples[0].get("lang") or self.lang or "en"
        ids = [s["id"] for s in samples]
        gts, res = prepare({s["id"]: s["prediction"] for s in samples}, {s["id"]: s["reference"] for s in samples},
                           self.protocol, lang)
        tokens = {i: (gts[i], res[i]) for i in ids}

        def fast(draw: Sequence[dict[str, Any]]) -> dict[str, Any]:
            return fast_report_metrics(draw, self.unit, tokens, self.uncertain)

        return fast

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        ce = results.get("clinical") or {}
        return {"BLEU-1": results.get("bleu_1"), "BLEU-4": results.get("bleu_4"), "METEOR": results.get("meteor"),
                "ROUGE-L": results.get("rouge_l"), "CIDEr": results.get("cider"),
                "CE F1 (14, micro)": (ce.get("chexpert_14") or {}).get("micro", {}).get("f1"),
                "Findings F1 (macro)": (ce.get("findings") or {}).get("macro", {}).get("f1")}

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        return label_breakdowns(results.get("clinical") or {})


def fast_report_metrics(draw: Sequence[dict[str, Any]], unit: Callable[[dict[str, Any]], str],
                        tokens: dict[Any, tuple[list[str], list[str]]], uncertain: str) -> dict[str, Any]:
    """Report metrics of a bootstrap draw from prepared tokens and per-sample labels (no METEOR)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    from medmllm.evaluation.clinical import clinical_metrics

    gts = {unit(s): tokens[s["id"]][0] for s in draw}
    res = {unit(s): tokens[s["id"]][1] for s in draw}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    preds = [{"chexpert": s["pred_chexpert"], "findings": s["pred_findings"]} for s in draw]
    ce = clinical_metrics(preds, [s["ref_chexpert"] for s in draw], [s["ref_findings"] for s in draw], uncertain)
    return {**{f"bleu_{n + 1}": float(bleu[n]) for n in range(4)}, "rouge_l": sum(s["rouge_l"] for s in draw) / len(draw),
            "cider": float(cider), "clinical": ce}


def label_breakdowns(clinical: dict[str, Any], title_prefix: str = "", slug_prefix: str = "") -> list[Breakdown]:
    """Per-label F1 tables (and plots) of a CE block: findings keys and the 14 CheXpert observations."""
    out = []
    for group, title in (("findings", "findings keys"), ("chexpert_14", "CheXpert observations")):
        per = (clinical.get(group) or {}).get("per_label") or {}
        rows = [(k, [v.get("f1"), v.get("precision"), v.get("recall"), v.get("support")]) for k, v in per.items()]
        if rows:
            out.append(Breakdown(f"{title_prefix}F1 per label, {title}", f"{slug_prefix}f1_{group}",
                                 ["F1", "precision", "recall", "support"], rows, plot=0, item="label", xlim=(0, 1)))
    return out
