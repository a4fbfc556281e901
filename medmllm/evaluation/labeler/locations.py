"""Where a finding is: lobe and side words, and which mention each belongs to.

Location phrases (lexicon ``LOCATIONS``) become sets of lobes and sides: "right lower lobe" /
"RLL" / "右肺下叶" -> {RLL}; "left base" -> {LLL}; "bibasilar" -> {RLL, LLL}; "bilateral" -> both
sides, no lobe. Neighbouring pieces joined by "and", commas or 、 are one location ("right middle and
lower lobes"). Each location goes to the nearest mention that takes locations, preferring one in
the same clause; a mention left without one borrows the location of the nearest mention of the same
family in its sentence, unless either is negated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from medmllm.evaluation.labeler.scope import Scopes, non_overlapping
from medmllm.findings import LOBE_SIDE, LOBES, SIDES

_LEVEL_LOBE = {("right", "upper"): "RUL", ("right", "middle"): "RML", ("right", "mid"): "RML",
               ("right", "lower"): "RLL", ("left", "upper"): "LUL", ("left", "middle"): "LUL",
               ("left", "mid"): "LUL", ("left", "lower"): "LLL"}
_ZH_SIDE = {"右": "right", "左": "left"}
_ZH_LEVEL = {"上": "upper", "中": "middle", "下": "lower"}


@dataclass
class Location:
    """A location phrase (offsets into the normalised text) and the lobes and sides it names."""

    start: int
    end: int
    lobes: frozenset = frozenset()
    sides: frozenset = frozenset()
    sentence: int = -1


class _Located(Protocol):
    start: int
    end: int
    sentence: int
    lobes: frozenset
    sides: frozenset
    status: int
    concept: Any


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


def find_locations(text: str, lex: dict[str, Any]) -> list[Location]:
    found = []
    for pat, how in lex["locations"]:
        for m in pat.finditer(text):
            lobes, sides = _location_sets(how, m)
            found.append(Location(m.start(), m.end(), lobes=lobes, sides=sides))
    merged: list[Location] = []
    for loc in non_overlapping(found, len(text)):  # "right middle lobe and right lower lobe" is one
        if merged and lex["location_join"].match(text, merged[-1].end, loc.start):
            last = merged[-1]
            merged[-1] = Location(last.start, loc.end, lobes=last.lobes | loc.lobes, sides=last.sides | loc.sides)
        else:
            merged.append(loc)
    return merged


def _gap(a: _Located | Location, b: _Located | Location) -> int:
    return max(0, max(a.start, b.start) - min(a.end, b.end))


def attach_locations(mentions: list[_Located], locs: list[Location], scopes: Scopes) -> None:
    by_sentence: dict[int, list[_Located]] = {}
    for m in mentions:
        if m.concept.family:
            by_sentence.setdefault(m.sentence, []).append(m)
    for loc in locs:
        cands = by_sentence.get(loc.sentence)
        if not cands:
            continue

        def cost(m: _Located) -> tuple[bool, int, bool]:
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
