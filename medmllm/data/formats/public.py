"""What the converters of the public report datasets share: one report record, and the CheXpert labels.

IU X-ray, R2Gen annotations, MIMIC-CXR, CheXpert Plus and CT-RATE become ``report`` records alike:
the images, a user turn asking for the report (with the indication as clinical context, as
``medmllm generate --context`` asks), the target text (:func:`~medmllm.data.formats.sections.report_answer`),
``report`` with findings / impression, and the dataset's own facts in ``meta``.

Labels: the manifest's ``labels`` holds findings keys (:mod:`medmllm.findings`), which ``medmllm
score`` takes as ground truth in place of the reference text; a public dataset's labels (the 14
CheXpert observations, CT-RATE's 18 abnormalities) cannot fill those keys (no lobe, no side), and a
key left out would count as absent. They are kept in ``meta.chexpert`` / ``meta.ct_labels`` instead;
``score`` then labels both texts, as the published clinical-efficacy protocols do.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from medmllm.data.formats.common import Conversion, report_request
from medmllm.data.formats.sections import TARGETS, report_answer
from medmllm.data.schema import MODALITIES, new_record
from medmllm.errors import InputError
from medmllm.findings import CHEXPERT_LABELS

# CheXpert CSV values (MIMIC-CXR chexpert/negbio, CheXpert Plus): 1.0 positive, 0.0 negative,
# -1.0 uncertain, blank not mentioned.
_LABEL_VALUES = {"1": 1, "1.0": 1, "0": 0, "0.0": 0, "-1": -1, "-1.0": -1, "": None}


def check_target(target: str) -> str:
    """``--target`` checked (``findings`` or ``findings-impression``)."""
    if target not in TARGETS:
        raise InputError(None, f"--target: '{target}' is not one of {', '.join(TARGETS)}")
    return target


def chexpert_values(row: dict[str, Any], where: str) -> dict[str, int | None] | None:
    """The 14 CheXpert observations of a CSV/JSON row (1 / 0 / -1 / None), or None when it has none.

    Raises:
        InputError: a value other than 1, 0, -1 or blank.
    """
    if not any(c in row for c in CHEXPERT_LABELS):
        return None
    out: dict[str, int | None] = {}
    for c in CHEXPERT_LABELS:
        v = row.get(c)
        key = "" if v is None else str(v).strip()
        if key.lower() in ("nan", "none", "null"):
            key = ""
        if key not in _LABEL_VALUES:
            raise InputError(where, f"label {c} = {v!r}; expected 1.0, 0.0, -1.0 or blank")
        out[c] = _LABEL_VALUES[key]
    return out


def add_report_record(conv: Conversion, *, sid: str, patient_id: str, split: str, images: list[dict[str, Any]],
                      findings: str, impression: str, target: str, context: str | None = None,
                      sections: dict[str, str] | None = None, meta: dict[str, Any] | None = None) -> bool:
    """Append one report record; count a skip (and return False) when it has no target text."""
    answer, why = report_answer(findings, impression, target)
    if answer is None:
        conv.skip(why or "no report text", sid)
        return False
    counts = Counter(im["modality"] for im in images)
    conv.records.append(new_record(
        id=sid, patient_id=patient_id, split=split, task="report", images=images,
        report={"findings": findings, "impression": impression, "language": "en"},
        messages=[{"role": "user", "content": report_request({m: counts[m] for m in MODALITIES}, context=context)},
                  {"role": "assistant", "content": answer}],
        meta={**(meta or {}), **({"sections": sections} if sections else {}), "target": target}))
    return True
