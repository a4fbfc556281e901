"""Report-generation metrics: pycocoevalcap's NLG scores plus clinical efficacy.

NLG: pycocoevalcap's ``Bleu(4)`` (``option="closest"``), ``Meteor`` (METEOR 1.5 jar, ``-norm``),
``Rouge`` (ROUGE-L, beta 1.2) and ``Cider`` (pycocoevalcap's CIDEr, which is the CIDEr-D form:
clipped n-gram counts, Gaussian length penalty sigma 6, x10; idf from the scored references) are
called directly on the texts that the protocol of :mod:`medmllm.evaluation.report_text` prepared,
so the numbers are the ones pycocoevalcap gives for the same ``gts``/``res``. BLEU, METEOR,
ROUGE-L are fractions in [0, 1]; CIDEr is on pycocoevalcap's 0-10 scale.

One METEOR JVM per process: :func:`get_meteor` starts it on first use and every later call
reuses it (starting it costs seconds; it is closed at exit). Chinese has no METEOR (``meteor``
is None and ``notes.meteor`` says why).

Clinical efficacy: the labeler (:mod:`medmllm.evaluation.labeler`) reads every prediction and
reference; :mod:`medmllm.evaluation.clinical` compares them. When a reference carries ground-truth
``labels`` (findings keys), ``clinical.findings`` compares against those instead of the labels
read from that reference's text (``clinical.reference_labels`` counts both sources).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from medmllm.evaluation.report_text import LANGS, PROTOCOLS, prepare

log = logging.getLogger(__name__)

METRIC_KEYS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")
METEOR_ZH_NOTE = ("METEOR is not computed for Chinese: METEOR 1.5 has no Chinese stemmer, synonyms or "
                  "paraphrase tables, so its score would reduce to a unigram F-mean with a fragmentation "
                  "penalty and is not comparable with published METEOR")

_meteor = None
_meteor_lock = threading.Lock()


def get_meteor():
    """The process-wide pycocoevalcap ``Meteor`` (one JVM), started on first use."""
    global _meteor
    with _meteor_lock:
        if _meteor is not None and _meteor.meteor_p.poll() is not None:
            log.warning("the METEOR JVM exited (code %s); starting a new one", _meteor.meteor_p.returncode)
            _meteor = None
        if _meteor is None:
            from medmllm.evaluation.java import require_java

            require_java("METEOR")
            from pycocoevalcap.meteor.meteor import Meteor

            t0 = time.perf_counter()
            _meteor = Meteor()
            log.debug("METEOR JVM started in %.1f s", time.perf_counter() - t0)
        return _meteor


@atexit.register
def close_meteor() -> None:
    """Stop the METEOR JVM (a later :func:`get_meteor` starts a new one)."""
    global _meteor
    with _meteor_lock:
        m, _meteor = _meteor, None
    if m is not None:
        with m.lock:  # pycocoevalcap's own lock: no scoring is in flight
            m.meteor_p.stdin.close()
            m.meteor_p.kill()  # pycocoevalcap's __del__ repeats these later; both are no-ops then
            m.meteor_p.wait()


@dataclass
class ReportScores:
    """Everything one scoring run produced."""

    summary: dict[str, Any]
    samples: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)


def nlg_scores(gts: dict[str, list[str]], res: dict[str, list[str]], lang: str = "en",
               timings: dict[str, float] | None = None) -> tuple[dict[str, float | None], dict[str, list]]:
    """Corpus and per-sample BLEU-1..4, METEOR, ROUGE-L, CIDEr from pycocoevalcap.

    Args:
        gts: ``{id: [reference text]}`` already prepared by a protocol.
        res: ``{id: [prediction text]}`` with the same ids in the same order.
        lang: ``"zh"`` skips METEOR.
        timings: filled with seconds per metric when given.

    Returns:
        ``(corpus, per_sample)``: metric -> score, and metric -> list of per-sample scores.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    timings = {} if timings is None else timings
    corpus: dict[str, float | None] = {}
    per: dict[str, list] = {}
    t = time.perf_counter()
    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    timings["bleu"] = time.perf_counter() - t
    for n in range(4):
        corpus[f"bleu_{n + 1}"] = float(bleu[n])
        per[f"bleu_{n + 1}"] = [float(x) for x in bleu_each[n]]
    t = time.perf_counter()
    if lang == "zh":
        corpus["meteor"], per["meteor"] = None, [None] * len(gts)
    else:
        meteor, meteor_each = get_meteor().compute_score(gts, res)
        corpus["meteor"], per["meteor"] = float(meteor), [float(x) for x in meteor_each]
    timings["meteor"] = time.perf_counter() - t
    t = time.perf_counter()
    rouge, rouge_each = Rouge().compute_score(gts, res)
    corpus["rouge_l"], per["rouge_l"] = float(rouge), [float(x) for x in rouge_each]
    timings["rouge_l"] = time.perf_counter() - t
    t = time.perf_counter()
    cider, cider_each = Cider().compute_score(gts, res)
    corpus["cider"], per["cider"] = float(cider), [float(x) for x in cider_each]
    timings["cider"] = time.perf_counter() - t
    return corpus, per


def evaluate_reports(predictions: Mapping[str, str], references: Mapping[str, str], protocol: str = "coco",
                     lang: str = "en", uncertain: str = "positive",
                     reference_labels: Mapping[str, Mapping[str, int | None]] | None = None) -> ReportScores:
    """Score generated reports against references: NLG metrics, clinical efficacy, per-sample rows.

    Args:
        predictions: id -> generated report.
        references: id -> reference report; must have exactly the ids of ``predictions``.
        protocol: ``"coco"`` (PTB tokenizer) or ``"r2gen"`` (R2Gen report cleaning).
        lang: ``"en"`` or ``"zh"``.
        uncertain: count uncertain labels as ``"positive"`` or ``"negative"``.
        reference_labels: optional id -> ground-truth findings labels (see
            :func:`medmllm.evaluation.clinical.check_reference_labels`); ids without an entry use
            the labels read from their reference text.

    Returns:
        :class:`ReportScores` whose ``summary`` is the OUT.json dict of ``medmllm score``.

    Raises:
        ValueError: mismatched ids, no samples, or a bad protocol/lang/uncertain/label.
    """
    from medmllm.evaluation.clinical import POLICIES, check_reference_labels, clinical_metrics
    from medmllm.evaluation.labeler import LABELER_VERSION, label_report
    from medmllm.provenance import versions

    if protocol not in PROTOCOLS or lang not in LANGS or uncertain not in POLICIES:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, lang one of {LANGS}, uncertain one of "
                         f"{POLICIES}; got {protocol!r}, {lang!r}, {uncertain!r}")
    missing = [i for i in references if i not in predictions]
    extra = [i for i in predictions if i not in references]
    if missing or extra:
        raise ValueError(f"ids differ: {len(missing)} references without a prediction {missing[:10]}, "
                         f"{len(extra)} predictions without a reference {extra[:10]}")
    if not references:
        raise ValueError("nothing to score: no reports")
    from medmllm.evaluation.report_io import MAX_REPORT_CHARS

    too_long = [i for d in (references, predictions) for i, t in d.items() if len(t) > MAX_REPORT_CHARS]
    if too_long:
        raise ValueError(f"reports longer than {MAX_REPORT_CHARS:,} characters (ROUGE-L is quadratic): {too_long[:10]}")
    ids = list(references)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    gts, res = prepare(predictions, references, protocol, lang)
    timings["prepare"] = time.perf_counter() - t
    corpus, per = nlg_scores(gts, res, lang, timings)

    t = time.perf_counter()
    pred_labels = [label_report(predictions[i], lang) for i in ids]
    ref_read = [label_report(references[i], lang) for i in ids]
    timings["labeler"] = time.perf_counter() - t
    given = dict(reference_labels or {})
    ref_findings = [check_reference_labels(given[i]) if i in given else r["findings"] for i, r in zip(ids, ref_read)]
    n_given = sum(i in given for i in ids)
    t = time.perf_counter()
    clinical = clinical_metrics(pred_labels, [r["chexpert"] for r in ref_read], ref_findings, uncertain,
                                {"given": n_given, "from_reference_text": len(ids) - n_given})
    timings["clinical"] = time.perf_counter() - t

    vers = versions(("medmllm", "pycocoevalcap"))
    if lang == "en" or protocol == "coco":
        from medmllm.evaluation.java import java_version

        vers["java"] = java_version()
    vers["labeler"] = LABELER_VERSION
    summary: dict[str, Any] = {**corpus, "clinical": clinical, "protocol": protocol, "lang": lang, "n": len(ids),
                               "rule": f"pycocoevalcap Bleu(4)/Meteor/Rouge/Cider after the {protocol} protocol"
                                       + (" with character tokens" if lang == "zh" else ""),
                               "versions": vers}
    if lang == "zh":
        summary["notes"] = {"meteor": METEOR_ZH_NOTE}
    samples = []
    for k, i in enumerate(ids):
        row: dict[str, Any] = {"id": i, **{m: per[m][k] for m in METRIC_KEYS}}
        row.update(pred_findings=pred_labels[k]["findings"], ref_findings=ref_findings[k],
                   ref_labels_source="given" if i in given else "reference_text",
                   pred_chexpert=pred_labels[k]["chexpert"], ref_chexpert=ref_read[k]["chexpert"])
        samples.append(row)
    return ReportScores(summary, samples, timings)


def score_reports(predictions: Mapping[str, str], references: Mapping[str, str], protocol: str = "coco",
                  lang: str = "en", uncertain: str = "positive",
                  reference_labels: Mapping[str, Mapping[str, int | None]] | None = None) -> dict[str, Any]:
    """The OUT.json dict of ``medmllm score`` (see :func:`evaluate_reports` for the arguments).

    Top-level keys: ``bleu_1`` .. ``bleu_4``, ``meteor``, ``rouge_l``, ``cider``, ``clinical``,
    ``protocol``, ``lang``, ``n``, ``rule``, ``versions`` (and ``notes`` for Chinese).
    """
    return evaluate_reports(predictions, references, protocol, lang, uncertain, reference_labels).summary
