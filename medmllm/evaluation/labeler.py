"""Rule-based clinical labeler: radiology report text -> CheXpert observations and findings keys.

Pipeline (one report):

1. normalise (lexicon-specific: case, masks, abbreviations, list numbering), drop sections that
   describe the request rather than the image (indication, history, comparison, technique);
2. split into sentences;
3. find *mentions* (lexicon patterns -> concepts of :mod:`medmllm.evaluation.concepts`) and
   *locations* (lobes and sides);
4. give each mention a status from the nearest trigger whose scope reaches it: uncertainty (-1),
   negation (0), else positive (1). Scopes run forward to a terminator ("but", "however", a new
   statement after a comma ...) or backward to the clause start; double negations ("cannot be
   excluded") are uncertainty triggers and win over the plain negation inside them; pseudo
   negations ("no change in") are neutral;
5. attach each location to the nearest mention that takes locations; a mention with none borrows
   the location of the nearest same-family mention of the sentence (unless either is negated);
6. aggregate per label over the report: positive > uncertain > negative > not mentioned (None).
   ``No Finding`` / ``normal`` are 1 when nothing abnormal is positive or uncertain, else 0.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, Iterable

from medmllm.evaluation.concepts import CONCEPTS, Concept
from medmllm.evaluation.labeler_scope import Occupancy, Scopes, find_triggers
from medmllm.findings import ABNORMAL_KEYS, CHEXPERT_LABELS, FINDING_KEYS, LOBE_SIDE, LOBES, SIDES

LANGS = ("en", "zh")
LABELER_VERSION = "1"
_NOT_PATHOLOGY = {"No Finding", "Support Devices"}
_LEVEL_LOBE = {("right", "upper"): "RUL", ("right", "middle"): "RML", ("right", "mid"): "RML",
               ("right", "lower"): "RLL", ("left", "upper"): "LUL", ("left", "middle"): "LUL",
               ("left", "mid"): "LUL", ("left", "lower"): "LLL"}
_ZH_SIDE = {"右": "right", "左": "left"}
_ZH_LEVEL = {"上": "upper", "中": "middle", "下": "lower"}
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


@dataclass
class _Span:
    start: int
    end: int
    lobes: frozenset = frozenset()
    sides: frozenset = frozenset()
    sentence: int = -1


@lru_cache(maxsize=None)
def _lexicon(lang: str) -> dict[str, Any]:
    if lang == "en":
        from medmllm.evaluation import lexicon_en as lex
    elif lang == "zh":
        from medmllm.evaluation import lexicon_zh as lex
    else:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return _compile(lex)


def _compile(lex: ModuleType) -> dict[str, Any]:
    return {
        "normalize": lex.normalize,
        "header": lex.SECTION_HEADER,
        "skip": lex.SKIP_SECTIONS,
        "sentence_end": lex.SENTENCE_END,
        "mentions": [(re.compile(p), CONCEPTS[c], fixed) for p, c, fixed in lex.MENTIONS],
        "locations": [(re.compile(p), how) for p, how in lex.LOCATIONS],
        "location_join": lex.LOCATION_JOIN,
        "pseudo": [re.compile(p) for p in lex.PSEUDO],
        "triggers": [(re.compile(p), kind, direction) for p, kind, direction in lex.TRIGGERS],
        "terminators": lex.TERMINATORS,
        "backward_stop": lex.BACKWARD_STOP,
        "comma_break": lex.COMMA_BREAK,
        "plural": lex.PLURAL,
    }


# --------------------------------------------------------------------------- text -> sentences
def _sections(text: str, lex: dict[str, Any]) -> list[tuple[int, int]]:
    """Spans of the text to read: everything except skipped sections (indication, history ...)."""
    heads = list(lex["header"].finditer(text))
    if not heads:
        return [(0, len(text))]
    spans = [(0, heads[0].start())]
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        if h.group(1) not in lex["skip"]:
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
def _non_overlapping(spans: list, n: int) -> list:
    """Longest first, then earliest; drop anything overlapping a kept span."""
    occ = Occupancy(n)
    kept: list = []
    for s in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
        if occ.free(s.start, s.end):
            occ.take(s.start, s.end)
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def _find_mentions(text: str, lex: dict[str, Any]) -> list[Mention]:
    found = []
    for pat, concept, fixed in lex["mentions"]:
        for m in pat.finditer(text):
            if m.end() == m.start():
                continue
            hs, he = (m.span("head") if "head" in pat.groupindex and m.group("head") else m.span())
            found.append(Mention(concept, m.start(), m.end(), hs, he, m.group(0), fixed))
    return _non_overlapping(found, len(text))


def _location_sets(how: str, m: re.Match) -> tuple[frozenset, frozenset]:
    g = m.groupdict()
    side = g.get("side")
    side = _ZH_SIDE.get(side, side) if side else None
    if how in LOBES:
        lobes = {how}
    elif how == "lobe_code":
        lobes = {g["lobe"].upper()}
    elif how in ("side_levels", "zh_side_levels"):
        words = re.findall(r"upper|middle|mid|lower|[上中下]", g["levels"])
        lobes = {_LEVEL_LOBE[(side, _ZH_LEVEL.get(w, w))] for w in words}
    elif how in ("both_levels", "zh_both_levels"):
        level = g.get("levels") or g.get("levels2") or g.get("levels3")
        words = re.findall(r"upper|middle|mid|lower|[上中下]", level)
        lobes = {_LEVEL_LOBE[(s, _ZH_LEVEL.get(w, w))] for w in words for s in SIDES}
    elif how == "side_base":
        lobes = {_LEVEL_LOBE[(side, "lower")]}
    elif how == "side_apex":
        lobes = {_LEVEL_LOBE[(side, "upper")]}
    elif how == "both_bases":
        lobes = {"RLL", "LLL"}
    elif how == "both_sides":
        return frozenset(), frozenset(SIDES)
    elif how == "none":
        return frozenset(), frozenset()
    elif how == "side":
        return frozenset(), frozenset({side})
    else:  # pragma: no cover - lexicon error
        raise ValueError(f"unknown location kind {how!r}")
    return frozenset(lobes), frozenset(LOBE_SIDE[lo] for lo in lobes)


def _find_locations(text: str, lex: dict[str, Any]) -> list[_Span]:
    found = []
    for pat, how in lex["locations"]:
        for m in pat.finditer(text):
            lobes, sides = _location_sets(how, m)
            found.append(_Span(m.start(), m.end(), lobes=lobes, sides=sides))
    merged: list[_Span] = []
    for loc in _non_overlapping(found, len(text)):  # "right middle lobe and right lower lobe" is one
        if merged and lex["location_join"].match(text, merged[-1].end, loc.start):
            last = merged[-1]
            merged[-1] = _Span(last.start, loc.end, lobes=last.lobes | loc.lobes, sides=last.sides | loc.sides)
        else:
            merged.append(loc)
    return merged


# --------------------------------------------------------------------------- locations -> mentions
def _gap(a: Mention | _Span, b: Mention | _Span) -> int:
    return max(0, max(a.start, b.start) - min(a.end, b.end))


def _attach_locations(mentions: list[Mention], locs: list[_Span], scopes: Scopes) -> None:
    by_sentence: dict[int, list[Mention]] = {}
    for m in mentions:
        if m.concept.family:
            by_sentence.setdefault(m.sentence, []).append(m)
    for loc in locs:
        cands = by_sentence.get(loc.sentence)
        if not cands:
            continue

        def cost(m: Mention) -> tuple[bool, int, bool]:
            # same clause first, then nearest; on a tie the mention after the location ("right | effusion")
            a, b = min(m.end, loc.end), max(m.start, loc.start)
            return (a < b and scopes.crosses(a, b), _gap(m, loc), m.start < loc.start)

        owner = min(cands, key=cost)
        owner.lobes = owner.lobes | loc.lobes
        owner.sides = owner.sides | loc.sides
    for cands in by_sentence.values():
        for m in cands:
            if m.lobes or m.sides or m.status == 0:
                continue
            donors = [d for d in cands if d is not m and d.concept.family == m.concept.family
                      and (d.lobes or d.sides) and d.status != 0]
            if donors:
                d = min(donors, key=lambda d: _gap(d, m))
                m.lobes, m.sides = d.lobes, d.sides


# --------------------------------------------------------------------------- public API
def extract_mentions(text: str, lang: str = "en") -> list[Mention]:
    """Every mention in ``text`` with its status, lobes and sides (for explaining a label).

    Args:
        text: report text (any length; empty gives no mentions).
        lang: ``"en"`` or ``"zh"``.

    Returns:
        Mentions in text order; ``status`` is 1, 0 or -1.
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
    kept = []
    for m in _find_mentions(norm, lex):
        m.sentence = sentence_of(m.head_start)
        if m.sentence < 0:
            continue  # inside a skipped section
        m.status = m.fixed if m.fixed is not None else scopes.status(m.start, m.head_start, m.head_end,
                                                                     sents[m.sentence])
        m.plural = bool(lex["plural"].search(m.text))
        kept.append(m)
    locs = _find_locations(norm, lex)
    for loc in locs:
        loc.sentence = sentence_of(loc.start)
    _attach_locations(kept, locs, scopes)
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


def label_report(text: str, lang: str = "en") -> dict[str, dict[str, int | None]]:
    """Label one report.

    Args:
        text: the report (findings and/or impression; section headers are understood).
        lang: ``"en"`` or ``"zh"``.

    Returns:
        ``{"chexpert": {observation: 1|0|-1|None for the 14 CHEXPERT_LABELS},
        "findings": {key: 1|0|-1|None for FINDING_KEYS}}``. None means not mentioned; an empty
        report gives None everywhere.
    """
    mentions, has_text = _extract(text, lang)
    chex: dict[str, list[int]] = {}
    finds: dict[str, list[int]] = {}
    for m in mentions:
        for obs in m.concept.chexpert:
            _merge(chex, obs, m.status)
        if m.status != 0:
            for obs in m.concept.implies:
                _merge(chex, obs, m.status)
        _findings_of(m, finds)
    chexpert = {c: (_aggregate(chex[c]) if c in chex else None) for c in CHEXPERT_LABELS}
    findings = {k: (_aggregate(finds[k]) if k in finds else None) for k in FINDING_KEYS}
    if has_text:
        abnormal = any(v in (1, -1) for c, v in chexpert.items() if c not in _NOT_PATHOLOGY) or any(
            findings[k] in (1, -1) for k in ABNORMAL_KEYS)
        chexpert["No Finding"] = 0 if abnormal else 1
        findings["normal"] = 0 if abnormal else 1
    return {"chexpert": chexpert, "findings": findings}


def label_reports(texts: Iterable[str], lang: str = "en") -> list[dict[str, dict[str, int | None]]]:
    """:func:`label_report` over many reports."""
    return [label_report(t, lang) for t in texts]
