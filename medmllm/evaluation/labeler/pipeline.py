"""Rule-based clinical labeler: radiology report text -> CheXpert observations and findings keys.

Pipeline (one report):

1. normalise (lexicon-specific: case, masks, abbreviations, list numbering), drop sections that
   describe the request rather than the image (indication, history, comparison, technique);
2. split into sentences;
3. find *mentions* (lexicon patterns -> concepts of :mod:`medmllm.evaluation.labeler.concepts`) and
   *locations* (lobes and sides);
4. give each mention a status from the nearest trigger whose scope reaches it: uncertainty (-1),
   negation (0), else positive (1). Hedges come in two strengths: a *probable* reading ("likely",
   "favored", "suggestive of", "borderline", "X versus Y", 考虑) is uncertain (-1); a hedge that
   only *raises a possibility* ("may represent", "possible", "concerning for", "cannot be
   excluded", "differential includes"; 可能, 可疑, 不除外, 待排) makes the mention *speculative*:
   it keeps status -1 with ``speculative`` set and is listed under ``possible``, but sets no label
   (human indexers of real reports record probable findings and leave possibilities out:
   docs/labeler.md). Scopes run forward to a terminator ("but", "however", a new statement after a
   comma ...) or backward to the clause start; a negated list runs on across sized items when it
   closes with "or" ("no consolidation, large effusion, or pneumothorax"); double negations
   ("cannot be excluded") are hedges and win over the plain negation inside them; pseudo negations
   ("no change in") are neutral; a mention reached by "history of", or after "if" / "recommend" in
   its sentence, asserts nothing and is dropped;
5. attach each location to the nearest mention that takes locations; a mention with none borrows
   the location of the nearest same-family mention of the sentence (unless either is negated);
6. aggregate per label over the report: positive > uncertain > negative > not mentioned (None);
   speculative mentions only fill ``possible``.
   ``No Finding`` is 1 when no CheXpert pathology is positive or uncertain; ``normal`` when no
   abnormal findings key is either (hyperinflation is abnormal but not a CheXpert pathology).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, Iterable

from medmllm.evaluation.labeler.concepts import CONCEPTS, Concept
from medmllm.evaluation.labeler.locations import attach_locations, find_locations
from medmllm.evaluation.labeler.scope import SPECULATIVE, Scopes, find_triggers, non_overlapping
from medmllm.findings import ABNORMAL_KEYS, CHEXPERT_LABELS, FINDING_KEYS, LOBE_SIDE, LOBES, SIDES

LANGS = ("en", "zh")
# 3: low-probability hedges deny, non-lung sites and other body parts; 4: speculative hedges (docs/labeler.md)
LABELER_VERSION = "4"
_NOT_PATHOLOGY = {"No Finding", "Support Devices"}
_WORD = re.compile(r"\w")


@dataclass
class Mention:
    """One observation found in the text (offsets into the normalised text)."""

    concept: Concept
    start: int
    end: int
    head_start: int
    head_end: int
    text: str
    fixed: int | None = None
    status: int = 1
    lobes: frozenset = frozenset()
    sides: frozenset = frozenset()
    sentence: int = 0
    plural: bool = False
    speculative: bool = False  # status -1 from a hedge that only raises a possibility: sets no label


@lru_cache(maxsize=None)
def _lexicon(lang: str) -> dict[str, Any]:
    if lang == "en":
        from medmllm.evaluation.labeler import lexicon_en as lex
    elif lang == "zh":
        from medmllm.evaluation.labeler import lexicon_zh as lex
    else:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return _compile(lex)


def _compile(lex: ModuleType) -> dict[str, Any]:
    return {
        "normalize": lex.normalize,
        "header": lex.SECTION_HEADER,
        "skip": lex.SKIP_SECTIONS,
        "read_parts": lex.READ_PARTS,
        "sentence_end": lex.SENTENCE_END,
        "mentions": [(re.compile(p), CONCEPTS[c], fixed) for p, c, fixed in lex.MENTIONS],
        "locations": [(re.compile(p), how) for p, how in lex.LOCATIONS],
        "location_join": lex.LOCATION_JOIN,
        "pseudo": [re.compile(p) for p in lex.PSEUDO],
        "triggers": [(re.compile(p), kind, direction) for p, kind, direction in lex.TRIGGERS],
        "terminators": lex.TERMINATORS,
        "backward_stop": lex.BACKWARD_STOP,
        "comma_break": lex.COMMA_BREAK,
        "list_item": lex.LIST_ITEM,
        "list_end": lex.LIST_END,
        "hypothetical": lex.HYPOTHETICAL,
        "plural": lex.PLURAL,
    }


# --------------------------------------------------------------------------- text -> sentences
def _sections(text: str, lex: dict[str, Any]) -> list[tuple[int, int]]:
    """Spans of the text to read: everything except skipped sections (indication, history, other body parts)."""
    heads = list(lex["header"].finditer(text))
    if not heads:
        return [(0, len(text))]
    spans = [(0, heads[0].start())]
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        part = h.groupdict().get("part")
        if (part in lex["read_parts"]) if part else (h.group(1) not in lex["skip"]):
            spans.append((h.end(), end))
    return spans


def _sentences(text: str, lex: dict[str, Any]) -> list[tuple[int, int]]:
    out = []
    for s0, s1 in _sections(text, lex):
        pos = s0
        for m in lex["sentence_end"].finditer(text, s0, s1):
            if _WORD.search(text, pos, m.start()):
                out.append((pos, m.start()))
            pos = m.end()
        if _WORD.search(text, pos, s1):
            out.append((pos, s1))
    return out


# --------------------------------------------------------------------------- matching helpers
def _find_mentions(text: str, lex: dict[str, Any]) -> list[Mention]:
    found = []
    for pat, concept, fixed in lex["mentions"]:
        for m in pat.finditer(text):
            if m.end() == m.start():
                continue
            hs, he = (m.span("head") if "head" in pat.groupindex and m.group("head") else m.span())
            found.append(Mention(concept, m.start(), m.end(), hs, he, m.group(0), fixed))
    return non_overlapping(found, len(text), first=lambda m: m.concept.explains_away)


# --------------------------------------------------------------------------- public API
def extract_mentions(text: str, lang: str = "en") -> list[Mention]:
    """Every mention in ``text`` with its status, lobes and sides (for explaining a label).

    Args:
        text: report text (any length; empty gives no mentions).
        lang: ``"en"`` or ``"zh"``.

    Returns:
        Mentions in text order; ``status`` is 1, 0 or -1 (``speculative`` marks the -1 of a hedge
        that only raises a possibility).
    """
    return _extract(text, lang)[0]


def _extract(text: str, lang: str) -> tuple[list[Mention], bool]:
    """Mentions, and whether the report has any sentence to read."""
    lex = _lexicon(lang)
    norm = lex["normalize"](text or "")
    sents = _sentences(norm, lex)
    if not sents:
        return [], False
    starts = [a for a, _ in sents]

    def sentence_of(pos: int) -> int:
        i = bisect_right(starts, pos) - 1
        return i if i >= 0 and pos < sents[i][1] else -1

    scopes = Scopes(norm, lex, find_triggers(norm, lex["pseudo"], lex["triggers"]))
    hypothetical = [h.start() for h in lex["hypothetical"].finditer(norm)]
    kept = []
    for m in _find_mentions(norm, lex):
        m.sentence = sentence_of(m.head_start)
        if m.sentence < 0:
            continue  # inside a skipped section
        i = bisect_right(hypothetical, m.start) - 1
        if i >= 0 and hypothetical[i] >= sents[m.sentence][0]:
            continue  # after "if" / "recommend" in its sentence: asserts nothing
        status = m.fixed if m.fixed is not None else scopes.status(m.start, m.head_start, m.head_end,
                                                                   sents[m.sentence])
        if status is None:
            continue  # "history of ...": the past, not this image
        m.speculative = status == SPECULATIVE
        m.status = -1 if m.speculative else status
        m.plural = bool(lex["plural"].search(m.text))
        kept.append(m)
    locs = find_locations(norm, lex)
    for loc in locs:
        loc.sentence = sentence_of(loc.start)
    attach_locations(kept, locs, scopes)
    return kept, True


def _merge(store: dict[str, list[int]], key: str, status: int) -> None:
    store.setdefault(key, []).append(status)


def _findings_of(m: Mention, out: dict[str, list[int]]) -> None:
    c, s = m.concept, m.status
    for base in c.findings:
        if base == "consolidation":
            if m.lobes:
                lobes = m.lobes
            elif c.located_only or s != 0:
                lobes = frozenset()
            else:
                lobes = frozenset(lo for lo in LOBES if LOBE_SIDE[lo] in (m.sides or set(SIDES)))
            for lo in lobes:
                _merge(out, f"consolidation:{lo}", s)
        elif c.family == "side":
            sides = m.sides if m.sides else (frozenset(SIDES) if s == 0 or m.plural else ())
            for side in sides:
                _merge(out, f"{base}:{side}", s)
        else:
            _merge(out, base, s)
    if s == 0:
        for base in c.negates_findings:
            for key in FINDING_KEYS:
                if key.partition(":")[0] == base:
                    _merge(out, key, 0)


def _aggregate(statuses: Iterable[int]) -> int:
    st = set(statuses)
    return 1 if 1 in st else (-1 if -1 in st else 0)


def label_report(text: str, lang: str = "en") -> dict[str, Any]:
    """Label one report.

    Args:
        text: the report (findings and/or impression; section headers are understood).
        lang: ``"en"`` or ``"zh"``.

    Returns:
        ``{"chexpert": {observation: 1|0|-1|None for the 14 CHEXPERT_LABELS},
        "findings": {key: 1|0|-1|None for FINDING_KEYS},
        "possible": {"chexpert": [...], "findings": [...]}}``. None means not mentioned; an empty
        report gives None everywhere. ``possible`` lists what the report raises only as a
        possibility ("may represent pneumonia", "cannot exclude a small effusion") and labels
        neither positive nor uncertain; those mentions set no label (CheXpert's labeler would
        give them -1: set ``-1`` where a label is None or 0 to read the report its way).
    """
    mentions, has_text = _extract(text, lang)
    chex: dict[str, list[int]] = {}
    finds: dict[str, list[int]] = {}
    spec_chex: dict[str, list[int]] = {}
    spec_finds: dict[str, list[int]] = {}
    for m in mentions:
        to_chex, to_finds = (spec_chex, spec_finds) if m.speculative else (chex, finds)
        for obs in m.concept.chexpert:
            _merge(to_chex, obs, m.status)
        if m.status != 0:
            for obs in m.concept.implies:
                _merge(to_chex, obs, m.status)
        _findings_of(m, to_finds)
    chexpert = {c: (_aggregate(chex[c]) if c in chex else None) for c in CHEXPERT_LABELS}
    findings = {k: (_aggregate(finds[k]) if k in finds else None) for k in FINDING_KEYS}
    if has_text:
        # No Finding (CheXpert): no CheXpert pathology; findings "normal": no abnormal findings key either
        # (hyperinflation is abnormal but names no CheXpert observation)
        pathology = any(v in (1, -1) for c, v in chexpert.items() if c not in _NOT_PATHOLOGY)
        chexpert["No Finding"] = 0 if pathology else 1
        findings["normal"] = 0 if pathology or any(findings[k] in (1, -1) for k in ABNORMAL_KEYS) else 1
    possible = {
        "chexpert": [c for c in CHEXPERT_LABELS if c in spec_chex and chexpert[c] not in (1, -1)],
        "findings": [k for k in FINDING_KEYS if k in spec_finds and findings[k] not in (1, -1)],
    }
    return {"chexpert": chexpert, "findings": findings, "possible": possible}


def label_reports(texts: Iterable[str], lang: str = "en") -> list[dict[str, Any]]:
    """:func:`label_report` over many reports."""
    return [label_report(t, lang) for t in texts]
