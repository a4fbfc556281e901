"""Negation and uncertainty scopes for the labeler: which trigger reaches which mention.

A trigger ("no", "may", "cannot be excluded", "未见", "不除外" ...) has a direction:

- forward: its scope runs from the trigger to the first terminator after it ("but", "however",
  "there is", a comma that starts a new statement, a Chinese comma ...) or the sentence end;
- backward: its scope runs from the start of its clause (the last terminator or comma before it)
  to the trigger ("pneumothorax is not seen", "积液可能");
- both ("versus", "cannot be excluded", "不除外").

The nearest trigger whose scope reaches a mention decides its status (uncertain -1, negated 0,
or :data:`SPECULATIVE` for a hedge that only raises a possibility: "may represent", "possible",
"concerning for", "cannot be excluded"); at equal distance a hedge wins over a negation.
Pseudo-triggers ("no change in") are matched first and block the triggers they overlap; earlier
trigger lists block later ones the same way.

Everything is precomputed once per report (sorted boundaries, bisect), so long or hostile
input stays linear-ish.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Callable

# status of a mention that a speculative hedge reaches (the pipeline turns it into -1 + ``speculative``)
SPECULATIVE = -2
# trigger kind -> (rank at equal distance: hedges first, status)
_OUTCOME: dict[str, tuple[int, int | None]] = {"spec": (0, SPECULATIVE), "unc": (0, -1), "neg": (1, 0),
                                               "hist": (2, None)}


@dataclass
class Trigger:
    """A matched trigger (offsets into the normalised text)."""

    start: int
    end: int
    kind: str  # "neg" | "unc" | "spec" | "hist"
    direction: str  # "fwd" | "bwd" | "both"


class Occupancy:
    """Which characters are already taken by a kept span (for longest/first-wins matching)."""

    def __init__(self, n: int):
        self._taken = bytearray(n + 1)

    def free(self, start: int, end: int) -> bool:
        return not any(self._taken[start:end])

    def take(self, start: int, end: int) -> None:
        self._taken[start:end] = b"\x01" * (end - start)


def non_overlapping(spans: list, n: int, first: Callable[[Any], bool] | None = None) -> list:
    """Longest first, then earliest; drop anything overlapping a kept span.

    ``first(span)`` true puts a span ahead of every other (it wins its overlaps whatever its length).
    """
    occ = Occupancy(n)
    kept: list = []
    for s in sorted(spans, key=lambda s: (not first(s) if first else False, s.start - s.end, s.start)):
        if occ.free(s.start, s.end):
            occ.take(s.start, s.end)
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def find_triggers(text: str, pseudo: list[re.Pattern], triggers: list[tuple[re.Pattern, str, str]]) -> list[Trigger]:
    """Triggers in text order; pseudo-triggers and earlier lists block overlapping later matches."""
    occ = Occupancy(len(text))
    for pat in pseudo:
        for m in pat.finditer(text):
            occ.take(m.start(), m.end())
    kept: list[Trigger] = []
    for pat, kind, direction in triggers:
        for m in pat.finditer(text):
            if m.end() > m.start() and occ.free(m.start(), m.end()):
                occ.take(m.start(), m.end())
                kept.append(Trigger(m.start(), m.end(), kind, direction))
    return sorted(kept, key=lambda t: t.start)


class Scopes:
    """Scope boundaries of one normalised report, and the status of a mention."""

    def __init__(self, text: str, lex: dict[str, Any], triggers: list[Trigger]):
        self._term_starts = [m.start() for m in lex["terminators"].finditer(text)]
        self._break_starts = [m.start() for m in lex["comma_break"].finditer(text)]
        self._list_items = {m.start() for m in lex["list_item"].finditer(text)}
        self._list_ends = [m.start() for m in lex["list_end"].finditer(text)]
        ends = [m.end() for m in lex["terminators"].finditer(text)]
        ends += [m.end() for m in lex["backward_stop"].finditer(text)]
        self._clause_ends = sorted(ends)
        self._fwd = [t for t in triggers if t.direction in ("fwd", "both")]
        self._bwd = [t for t in triggers if t.direction in ("bwd", "both")]
        self._fwd_starts = [t.start for t in self._fwd]
        self._bwd_starts = [t.start for t in self._bwd]

    def forward_end(self, pos: int, sent_end: int) -> int:
        """End of a forward scope that starts at ``pos``.

        The scope ends at the first terminator or at the first comma that starts a new statement;
        a comma before a sized list item ("..., large pleural effusion") does not end it when the
        list closes with "or"/"nor" before the next new statement ("..., or pneumothorax").
        """
        end = sent_end
        i = bisect_left(self._term_starts, pos)
        if i < len(self._term_starts) and self._term_starts[i] < end:
            end = self._term_starts[i]
        j = bisect_left(self._break_starts, pos)
        while j < len(self._break_starts) and self._break_starts[j] < end:
            b = self._break_starts[j]
            nxt = self._break_starts[j + 1] if j + 1 < len(self._break_starts) else end
            k = bisect_right(self._list_ends, b)
            closes = k < len(self._list_ends) and self._list_ends[k] < min(end, nxt if nxt not in self._list_items
                                                                          else end)
            if b in self._list_items and closes:
                j += 1
                continue
            return b
        return end

    def clause_start(self, pos: int, sent_start: int) -> int:
        """Start of the clause that ends at ``pos`` (for backward scopes)."""
        i = bisect_right(self._clause_ends, pos) - 1
        return max(sent_start, self._clause_ends[i]) if i >= 0 else sent_start

    def crosses(self, a: int, b: int) -> bool:
        """True when a terminator lies between offsets ``a`` < ``b``."""
        i = bisect_left(self._term_starts, a)
        return i < len(self._term_starts) and self._term_starts[i] < b

    def status(self, start: int, head_start: int, head_end: int, sent: tuple[int, int]) -> int | None:
        """1, 0, -1 or :data:`SPECULATIVE` for a mention whose head is ``[head_start, head_end)`` in ``sent``.

        None when a "history of" trigger reaches it (the mention speaks of the past).
        """
        best: tuple[int, int, int | None] | None = None  # (distance, rank, status)
        # forward: the nearest trigger before the head dominates the farther ones
        i = bisect_right(self._fwd_starts, head_start) - 1
        while i >= 0:
            t = self._fwd[i]
            if t.end <= sent[0]:
                break
            if t.end <= head_end:
                if head_start >= self.forward_end(t.end, sent[1]):
                    break  # a terminator lies between: farther triggers are cut off too
                best = (max(0, head_start - t.end), *_OUTCOME[t.kind])
                break
            i -= 1
        # backward: the nearest trigger after the mention
        j = bisect_right(self._bwd_starts, start)
        while j < len(self._bwd):
            t = self._bwd[j]
            if t.start >= sent[1]:
                break
            if head_end <= t.start + 1:
                if head_start >= self.clause_start(t.start, sent[0]):
                    cand = (max(0, t.start - head_end), *_OUTCOME[t.kind])
                    if best is None or cand < best:
                        best = cand
                break
            j += 1
        return 1 if best is None else best[2]
