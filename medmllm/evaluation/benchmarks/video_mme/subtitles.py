"""Subtitles of Video-MME videos: SubRip (``.srt``) cues, and the lines shown with the sampled frames.

The official README gives the prompt's form (``This video's subtitles are listed below:`` then the
subtitles) but not which lines a model with a short context sees; medmllm follows lmms-eval's choice:
the lines on screen at the centres of :data:`SUBTITLE_TIMES` equal segments of the video (the times
uniform frame sampling looks at), in order, repeats dropped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from medmllm.errors import InputError

SUBTITLE_TIMES = 32
_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{1,3})")
_TAG = re.compile(r"<[^>]+>|\{\\[^}]*\}")


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def read_srt(path: str | os.PathLike) -> list[tuple[float, float, str]]:
    """``(start s, end s, text)`` of every cue of a SubRip file (formatting tags removed), in file order."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise InputError(p, f"cannot read the subtitles ({e.strerror or e})") from None
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.strip() for ln in block.strip().split("\n")]
        for i, line in enumerate(lines):
            m = _TIME.search(line)
            if m:
                words = " ".join(_TAG.sub("", ln) for ln in lines[i + 1:] if ln).strip()
                if words:
                    cues.append((_seconds(*m.groups()[:4]), _seconds(*m.groups()[4:]), words))
                break
    return cues


def subtitle_text(cues: list[tuple[float, float, str]], times: int = SUBTITLE_TIMES) -> str:
    """The lines on screen at the centres of ``times`` equal segments of the subtitled span, one per line."""
    if not cues:
        return ""
    end = max(c[1] for c in cues)
    picked: list[str] = []
    for k in range(times):
        t = (k + 0.5) * end / times
        for start, stop, words in cues:
            if start <= t <= stop and (not picked or picked[-1] != words):
                picked.append(words)
                break
    return "\n".join(picked)
