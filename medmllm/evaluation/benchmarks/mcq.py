"""Multiple choice (SEED-Bench, ScienceQA): how a question is asked and how the answer's letter is read.

The converters write the prompt with :func:`mcq_prompt` (context, question, lettered options, then
:data:`MCQ_INSTRUCTION`); the scorers read a free-text answer with :func:`extract_letter`, which follows
the official ScienceQA/LLaVA scripts (upper-case letters only).
"""

from __future__ import annotations

import re
from typing import Any

from medmllm.data.schema import PLACEHOLDERS

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MCQ_INSTRUCTION = "Answer with the option's letter from the given choices directly."

_BARE = re.compile(r"\(?([A-Z])\)?\.?")
_LEADING = re.compile(r"(?:([A-Z])\.|\(([A-Z])\))\s")
_ANSWER_IS = re.compile(r"(?i:the answer is)\s*:?\s*\(?([A-Z])\)?(?![A-Za-z0-9])")


def mcq_prompt(question: str, choices: list[str], *, hint: str | None = None, has_image: bool) -> str:
    """The multiple-choice prompt: image placeholder, ``Context: hint``, question, ``A. ...`` options, rule.

    Args:
        question: the question text.
        choices: the option texts, lettered A, B, C ... in this order.
        hint: context shown before the question (ScienceQA's hint), if any.
        has_image: start with the X-ray placeholder (the record has an image).
    """
    parts = []
    if hint:
        parts.append(f"Context: {hint.strip()}")
    parts.append(question.strip())
    parts.extend(f"{LETTERS[i]}. {str(c).strip()}" for i, c in enumerate(choices))
    parts.append(MCQ_INSTRUCTION)
    body = "\n".join(parts)
    return f"{PLACEHOLDERS['xray']}\n{body}" if has_image else body


def extract_letter(text: Any, n_choices: int | None = None) -> str | None:
    """The option letter a free-text answer gives, or None when it gives none unambiguously.

    Accepted forms (after stripping surrounding whitespace): a bare letter ``B``; ``B.``; ``(B)``;
    a letter followed by its option text (``B. Paris``, ``(B) Paris``); and ``The answer is B.``
    anywhere in the text (``the answer is (B)`` too; if it names two different letters the answer
    is ambiguous). Letters are upper case only, as in the official ScienceQA/LLaVA scripts; a
    letter past the number of choices is not an answer.

    Args:
        text: the model's answer.
        n_choices: number of options (letters ``A`` .. ``A + n - 1`` are valid), or None for any.
    """
    if not isinstance(text, str):
        return None
    t = text.strip()
    valid = LETTERS[:n_choices] if n_choices else LETTERS
    letter: str | None = None
    m = _BARE.fullmatch(t)
    if m:
        letter = m.group(1)
    else:
        m = _LEADING.match(t)
        if m:
            letter = m.group(1) or m.group(2)
        else:
            found = set(_ANSWER_IS.findall(t))
            if len(found) == 1:
                letter = found.pop()
    return letter if letter is not None and letter in valid else None
