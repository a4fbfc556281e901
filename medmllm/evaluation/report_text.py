"""How report text is prepared before the NLG metrics: the ``coco`` and ``r2gen`` protocols.

``coco``
    pycocoevalcap's own ``PTBTokenizer`` (Stanford PTB tokenizer, lower-cased, punctuation tokens
    removed), exactly what ``COCOEvalCap`` does. All references and predictions go through one
    tokenizer call (one JVM start); the tokenizer works line by line, so this gives the same
    tokens as tokenizing them separately. Line breaks (``\\n``, ``\\r`` ...) become spaces first:
    pycocoevalcap replaces ``\\n`` itself, and any other line separator would shift its output.

``r2gen``
    the report cleaning of the R2Gen family (R2Gen, R2GenCMN, R2GenGPT ...), which feeds
    pycocoevalcap's scorers *without* the PTB tokenizer:

    1. lower-case; line breaks and runs of whitespace become one space;
    2. list numbering ("1. ", "2) ") becomes a sentence break; repeated full stops collapse;
    3. the report is split into sentences at full stops followed by a space (or the end);
    4. in each sentence every character that is not a letter, digit or space is deleted
       (quotes, slashes, hyphens, commas, brackets ...: "ground-glass" -> "groundglass",
       "2.5" -> "25" as in R2Gen);
    5. empty sentences are dropped, the rest are joined with " . " and the report ends with " .".

Chinese (``lang="zh"``)
    BLEU, ROUGE-L and CIDEr work on whitespace tokens, so Chinese text is cut into characters: each
    CJK character is a token, a run of Latin letters/digits ("5mm", "ct") is one token, punctuation
    is dropped. ``coco`` first runs the PTB tokenizer (it lower-cases and splits off Latin
    punctuation), ``r2gen`` first applies the cleaning above with the Chinese full stops
    (。！？；) as sentence ends. METEOR has no Chinese resources and is not computed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from typing import Mapping

from medmllm.data.text import CJK

log = logging.getLogger(__name__)

PROTOCOLS = ("coco", "r2gen")
LANGS = ("en", "zh")

_LINE_BREAKS = re.compile(r"[\r\n\v\f\u0085\u2028\u2029]")
_NUMBERING = re.compile(r"(?:^|(?<=\s))\(?\d{1,2}[.)](?=\s)")
_ZH_TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+")
_NOT_WORD = re.compile(r"[^\w\s]|_")


def r2gen_clean(text: str, lang: str = "en") -> str:
    """The R2Gen-family report cleaning (see the module docstring); ``""`` for an empty report."""
    text = _LINE_BREAKS.sub(" ", text).lower()
    text = _NUMBERING.sub(" . ", text)
    ends = r"[。！？；!?;]+\s*|\.+(?:\s+|$)" if lang == "zh" else r"\.+(?:\s+|$)"
    sentences = re.split(ends, text)
    cleaned = []
    for sent in sentences:
        sent = " ".join(_NOT_WORD.sub("", sent).split())
        if sent:
            cleaned.append(zh_tokens(sent) if lang == "zh" else sent)
    return " . ".join(cleaned) + " ." if cleaned else ""


def zh_tokens(text: str) -> str:
    """Character-level tokens of Chinese text, space separated (Latin/digit runs stay whole)."""
    return " ".join(_ZH_TOKEN.findall(text.lower()))


@contextlib.contextmanager
def _java_stderr_to_log():
    """The tokenizer's JVM writes a progress line to the inherited stderr: send it to the log."""
    try:
        fd = sys.stderr.fileno()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): nothing to do
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            said = tmp.read().decode("utf-8", "replace").strip()
            if said:
                log.debug("PTBTokenizer: %s", said)


def ptb_tokenize(texts: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """pycocoevalcap's PTBTokenizer over many texts in one JVM call.

    Empty texts skip the tokenizer (it would drop their line); line separators become spaces.
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    todo = {k: [{"caption": _LINE_BREAKS.sub(" ", v)}] for k, v in texts.items() if v.strip()}
    out = {k: "" for k in texts}
    if todo:
        from medmllm.evaluation.java import require_java

        require_java("the PTB tokenizer of the coco protocol")
        with _java_stderr_to_log():
            tokenized = PTBTokenizer().tokenize(todo)
        if set(tokenized) != set(todo):  # pragma: no cover - would mean a tokenizer line was lost
            raise RuntimeError("PTBTokenizer returned a different number of lines than it was given")
        out.update({k: v[0] for k, v in tokenized.items()})
    return out


def prepare(predictions: Mapping[str, str], references: Mapping[str, str], protocol: str,
            lang: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(gts, res)`` in pycocoevalcap's format (``{id: [text]}``), in the references' id order.

    Args:
        predictions: id -> generated report.
        references: id -> reference report (same ids).
        protocol: ``"coco"`` or ``"r2gen"``.
        lang: ``"en"`` or ``"zh"``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    ids = list(references)
    if protocol == "coco":
        both = {("ref", i): references[i] for i in ids} | {("pred", i): predictions[i] for i in ids}
        tok = ptb_tokenize(both)
        if lang == "zh":
            tok = {k: zh_tokens(v) for k, v in tok.items()}
        return {i: [tok[("ref", i)]] for i in ids}, {i: [tok[("pred", i)]] for i in ids}
    return ({i: [r2gen_clean(references[i], lang)] for i in ids},
            {i: [r2gen_clean(predictions[i], lang)] for i in ids})
