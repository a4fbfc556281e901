"""Radiology report text: sections, de-identification masks, and the text a model learns to write.

:func:`split_sections` cuts a report at its section headers (the header pattern and the section
each header names are the caller's: ``p2med-dir`` knows ``Findings:`` / 所见, MIMIC-CXR knows the
upper-case ``FINDINGS:`` / ``IMPRESSION:`` ... lines of its FINAL REPORTs via :func:`english_section`).

**Targets.** Papers differ in what the model writes (``docs/datasets.md`` says which uses which):
``findings`` (the FINDINGS section alone: R2Gen, R2GenGPT, PromptMRG, MAIRA-2 on MIMIC-CXR) or
``findings-impression`` (``Findings: ...`` and ``Impression: ...`` as ``p2med-dir`` writes them).

**Masks.** Public releases replace identifiers with a mask: ``XXXX`` (IU X-ray), ``___`` (MIMIC-CXR).
They are kept (the published reference reports hold them; the labeler reads them as neutral
words), written one way per release (:func:`normalise_masks`), and a section that holds nothing
but masks and punctuation counts as empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable

TARGETS = ("findings", "findings-impression")
MASKS = {"XXXX": re.compile(r"(?<![A-Za-z])X{3,}(?![A-Za-z])"), "___": re.compile(r"_{3,}")}
_EMPTY = re.compile(r"^[\W_]*$")

# English section headers -> section; the rest are kept as "other".
_ENGLISH = (
    ("findings", r"findings?(?: and impressions?)?|description"),
    ("impression", r"impressions?|conclusions?|opinion|summary|diagnosis"),
    ("indication", (r"indications?|clinical (?:indications?|history|information|info|details)|history|"
                    r"reason for (?:exam(?:ination)?|study|request)|clinical question|clinical")),
    ("comparison", r"comparisons?|prior(?: studies| study)?"),
    ("technique", r"techniques?|procedure|procedure comments?|protocol"),
    ("examination", r"exam(?:ination)?s?|study|type of (?:exam(?:ination)?|study)"),
)
_ENGLISH_RX = [(name, re.compile(rf"^(?:{rx})$", re.IGNORECASE)) for name, rx in _ENGLISH]
# An upper-case header at the start of a line, followed by a colon ("FINDINGS:", "WET READ:").
UPPER_HEADER = re.compile(r"(?m)^[ \t]*(?P<header>[A-Z][A-Z /&()'-]{1,48}?)[ \t]*:")


def split_sections(text: str, pattern: re.Pattern[str],
                   name_of: Callable[[re.Match[str]], str]) -> tuple[str, list[tuple[str, str]]]:
    """``(text before the first header, [(section, body), ...])`` in report order.

    Args:
        text: the report.
        pattern: matches one header (its whole match is removed from the text).
        name_of: the section a header names.
    """
    matches = list(pattern.finditer(text))
    if not matches:
        return text.strip(), []
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append((name_of(m), text[m.end():end].strip()))
    return text[:matches[0].start()].strip(), out


def english_section(header: str) -> str:
    """The section an English header names (``findings``, ``impression``, ``indication``,
    ``comparison``, ``technique``, ``examination``), or ``other``."""
    h = " ".join(header.split()).strip(" :")
    return next((name for name, rx in _ENGLISH_RX if rx.match(h)), "other")


def english_sections(text: str) -> tuple[str, dict[str, str]]:
    """Preamble and ``{section: body}`` of a report with upper-case headers (repeated sections joined)."""
    pre, parts = split_sections(text, UPPER_HEADER, lambda m: english_section(m.group("header")))
    out: dict[str, str] = {}
    for name, body in parts:
        body = tidy(body)
        if body:
            out[name] = f"{out[name]} {body}" if name in out else body
    return tidy(pre), out


def tidy(text: str | None) -> str:
    """Whitespace (line breaks of fixed-width reports) collapsed to single spaces."""
    return " ".join(str(text or "").split())


def normalise_masks(text: str, mask: str) -> tuple[str, int]:
    """Every de-identification mask of a release written as ``mask`` (``XXXX`` or ``___``); the count."""
    return MASKS[mask].subn(mask, text)


def is_empty(text: str | None) -> bool:
    """True for None, blank text, or text of masks and punctuation only (``XXXX.``, ``___ ___``)."""
    if not text:
        return True
    stripped = text
    for rx in MASKS.values():
        stripped = rx.sub("", stripped)
    return bool(_EMPTY.match(stripped))


def report_answer(findings: str, impression: str, target: str) -> tuple[str | None, str | None]:
    """The assistant turn for ``target`` and, when there is none, the reason (a skip reason).

    ``findings``: the findings text as is (the published references are that text alone).
    ``findings-impression``: ``Findings: ...`` / ``Impression: ...`` lines, either may be absent.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "findings":
        return (None, "no findings section (--target findings)") if is_empty(findings) else (findings, None)
    lines = [f"{name}: {text}" for name, text in (("Findings", findings), ("Impression", impression))
             if not is_empty(text)]
    return ("\n".join(lines), None) if lines else (None, "no findings or impression")
