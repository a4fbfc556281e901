"""The text of a record: its report, its language, a patient's age in words.

One rule for each, used by inference, evaluation, the app and the synthetic generator:

- :func:`report_text`: a record's report is its last non-empty assistant turn (the text a model
  is trained to write), else its ``report`` object ``{"findings", "impression"}`` written with
  section headers by :func:`format_report` (``"Findings: ... Impression: ..."``,
  ``"所见：... 印象：..."``), else None.
- :func:`detect_language`: ``"zh"`` when a text holds CJK characters, else ``"en"``;
  :func:`record_language`: the language a record declares (``meta.lang``, ``report.language``,
  ``lang``), else the one its report text is written in.
- :func:`age_text`: ``"3 years 2 months"`` / ``"3岁2月"`` (infants in months), the wording of
  the training records' patient line.
"""

from __future__ import annotations

import re
from typing import Any

LANGS = ("en", "zh")
CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
"""Character class of the CJK ideographs (basic, extension A, compatibility, supplementary planes)."""
_CJK_CHAR = re.compile(f"[{CJK}]")
HEADERS = {"en": ("Findings:", "Impression:"), "zh": ("所见：", "印象：")}
_SECTIONS = ("findings", "impression")


def detect_language(text: str | None) -> str:
    """``'zh'`` when ``text`` contains a CJK ideograph, else ``'en'``."""
    return "zh" if text and _CJK_CHAR.search(text) else "en"


def declared_language(record: dict[str, Any]) -> str | None:
    """The language a record states: ``meta.lang``, ``report.language`` or ``lang`` (``en``/``zh``), else None."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    report = record.get("report") if isinstance(record.get("report"), dict) else {}
    for lang in (meta.get("lang"), report.get("language"), record.get("lang")):
        if lang in LANGS:
            return lang
    return None


def record_language(record: dict[str, Any]) -> str:
    """The declared language of a record, else the language of its report text, else ``'en'``."""
    return declared_language(record) or detect_language(report_text(record))


def format_report(report: dict[str, Any], lang: str | None = None, sep: str = " ") -> str:
    """A ``{"findings", "impression"}`` object as one text with section headers (empty sections left out).

    Args:
        report: the report object (``language`` in it is used when ``lang`` is None).
        lang: ``en`` or ``zh`` headers (None: the object's ``language``, else detected from its text).
        sep: between the sections (``" "``; the synthetic answers use a line break).

    Raises:
        TypeError: a section that is not a string.
    """
    parts = {k: report.get(k) for k in _SECTIONS}
    for k, v in parts.items():
        if v is not None and not isinstance(v, str):
            raise TypeError(f"report.{k} must be a string, got {type(v).__name__}")
    lang = lang if lang in LANGS else report.get("language")
    if lang not in LANGS:
        lang = detect_language(" ".join(v for v in parts.values() if v))
    heads = HEADERS[lang]
    gap = "" if lang == "zh" else " "
    return sep.join(f"{h}{gap}{parts[k]}" for h, k in zip(heads, _SECTIONS) if parts[k])


def report_text(record: dict[str, Any]) -> str | None:
    """A record's report text: its last non-empty assistant turn, else its formatted ``report`` object."""
    msgs = record.get("messages")
    for m in reversed(msgs if isinstance(msgs, list) else []):
        if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str) \
                and m["content"].strip():
            return m["content"]
    rep = record.get("report")
    if isinstance(rep, dict):
        return format_report(rep, declared_language(record)) or None
    return None


def age_text(months: int, lang: str) -> str:
    """``'3 years 2 months'`` / ``'3岁2月'``; infants in months (``'6 months'``, ``'6月龄'``)."""
    y, m = divmod(int(months), 12)
    if lang == "zh":
        return f"{m}月龄" if y == 0 else (f"{y}岁" if m == 0 else f"{y}岁{m}月")
    if y == 0:
        return f"{m} month{'s' if m != 1 else ''}"
    return f"{y} year{'s' if y != 1 else ''}" + (f" {m} month{'s' if m != 1 else ''}" if m else "")
