"""Findings read from a generated report by the labeler, as highlighted labels for the page."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from medmllm.findings import FINDING_KEYS, describe

log = logging.getLogger(__name__)


def label_text(text: str, language: str) -> dict[str, Any]:
    """Run the report labeler (``medmllm.evaluation.labeler.label_report``) on generated text.

    Returns ``{"findings": {key: 1|0|-1|None}, "chexpert": {...}, "possible": {...}}``; empty text
    gives empty dicts.
    """
    if not text.strip():
        return {"findings": {}, "chexpert": {}, "possible": {}}
    from medmllm.evaluation.labeler import label_report

    return label_report(text, language)


def highlight_findings(labels: Mapping[str, Any] | None, language: str = "en") -> list[tuple[str, str | None]]:
    """``gr.HighlightedText`` value: each positive finding as ``present``, uncertain as ``uncertain``,
    one the report only raises as a possibility ("may represent pneumonia") as ``possible``.

    When the labeler finds nothing abnormal but reads the report as normal, one ``normal`` label is
    shown; when it reads nothing at all, an empty list.
    """
    lang = language if language in ("en", "zh") else "en"
    found = (labels or {}).get("findings") or {}
    possible = set(((labels or {}).get("possible") or {}).get("findings") or ())
    items: list[tuple[str, str | None]] = []
    for key in FINDING_KEYS:
        if key == "normal":
            continue
        value = found.get(key)
        if value == 1:
            items.append((describe(key, lang), "present"))
        elif value == -1:
            items.append((describe(key, lang), "uncertain"))
        elif key in possible:
            items.append((describe(key, lang), "possible"))
    if not items and found.get("normal") == 1:
        items.append((describe("normal", lang), "normal"))
    out: list[tuple[str, str | None]] = []
    for i, item in enumerate(items):
        if i:
            out.append(("  ", None))  # spacing between labels
        out.append(item)
    return out
