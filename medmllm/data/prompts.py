"""The user turn of a request, worded as the model was trained: recorded prompts and the one prompt builder.

Every training export records the user-turn wordings of its training data (``prompts`` in its
``medmllm.yaml``, written by :func:`training_prompts` at export time): per task, language and
image layout (``xray``, ``ct``, ``xray+ct``, ``none``), the distinct texts after the image
placeholders, with ``{context}`` where the record's clinical text (``records.outpatient`` ...)
stood, most frequent first (ties in text order)::

    prompts:
      format: 1
      records: 192
      report:
        en:
          xray:
          - {text: "Write the radiology report for this chest radiograph.", count: 40}
          - {text: "Clinical information:\\n{context}\\n\\nWrite the radiology report for this chest radiograph.", count: 40}

A wording is recorded only when records of at least two patients share it, so free text of one
patient never lands in an export. :class:`PromptBook` builds the user turn from them
(:meth:`PromptBook.messages`): without ``prompt`` the most frequent recorded wording of the
request's layout and language (with ``{context}`` filled when a context is given); with a
``prompt``, that text as the instruction, framed by the recorded context wording. An empty wording
(the images alone, recorded when training asked so) is the default only when nothing else was
recorded. An export without recorded prompts (saved with ``save_pretrained``, or trained before
they were recorded) uses :data:`DEFAULT_PROMPTS`: the first wording of each layout of the synthetic training cases
(``medmllm synth``) and their context frame. Images always come first, one placeholder line each.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping

from medmllm.data.conversation import PLACEHOLDERS
from medmllm.data.text import record_language

log = logging.getLogger(__name__)

FORMAT = 1
CONTEXT = "{context}"
PROMPT = "{prompt}"
LAYOUTS = ("xray", "ct", "xray+ct", "none")
MAX_PER_GROUP = 16  # the synthetic cases ask in 13 ways per layout (6 wordings, with and without context, none)
MIN_PATIENTS = 2
MAX_RECORDS = 200_000
DEFAULT_PROMPTS: dict[str, dict[str, str]] = {
    "en": {"xray": "Write the radiology report for this chest radiograph.",
           "ct": "Write the radiology report for this chest CT.",
           "xray+ct": "Write one radiology report from the chest radiograph and the chest CT.",
           "none": "Write the radiology report.",
           "context": "Clinical information:\n{context}\n\n{prompt}"},
    "zh": {"xray": "请根据这张胸部X线片书写影像学报告。",
           "ct": "请根据该胸部CT书写影像学报告。",
           "xray+ct": "请结合胸部X线片和胸部CT书写影像学报告。",
           "none": "请撰写放射学报告。",
           "context": "临床资料：\n{context}\n\n{prompt}"},
}
"""The documented defaults of an export without recorded prompts (``docs/inference.md``)."""


def layout(modalities: Iterable[str]) -> str:
    """``'xray'``, ``'ct'``, ``'xray+ct'`` or ``'none'`` for the modalities a request or record shows."""
    present = set(modalities)
    return "+".join(m for m in PLACEHOLDERS if m in present) or "none"


def placeholder_head(counts: Mapping[str, int]) -> str:
    """One placeholder line per image, X-rays first (``"<xray>\\n<ct>\\n"``)."""
    return "".join(f"{PLACEHOLDERS[m]}\n" * int(counts.get(m, 0)) for m in PLACEHOLDERS)


def strip_placeholders(text: str) -> str:
    """A user turn without its image placeholders (and the line breaks after them)."""
    for ph in PLACEHOLDERS.values():
        text = text.replace(ph + "\n", "").replace(ph, "")
    return text.strip()


class PromptBook:
    """Builds user turns from an export's recorded prompts (or the documented defaults).

    Args:
        recorded: the ``prompts`` entry of an export's ``medmllm.yaml`` (None: none recorded).
    """

    def __init__(self, recorded: Mapping[str, Any] | None = None):
        self.recorded = dict(recorded) if isinstance(recorded, Mapping) else {}

    @property
    def is_recorded(self) -> bool:
        """True when the export recorded prompts for report writing."""
        return bool(self.recorded.get("report"))

    def language(self, task: str = "report") -> str:
        """The default language: English when the export was trained on it, else its first language."""
        langs = list((self.recorded.get(task) or {}).keys())
        return "en" if not langs or "en" in langs else langs[0]

    def _texts(self, task: str, lang: str, where: str) -> list[str]:
        entries = ((self.recorded.get(task) or {}).get(lang) or {}).get(where) or []
        return [e["text"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("text"), str)]

    def default(self, modalities: Iterable[str] = (), *, context: bool = False, language: str | None = None,
                task: str = "report") -> str:
        """The default user text after the placeholders (``{context}`` marks the clinical text when ``context``)."""
        lang = language or self.language(task)
        where = layout(modalities)
        texts = self._texts(task, lang, where)
        plain = [t for t in texts if CONTEXT not in t]
        plain = [t for t in plain if t.strip()] or plain  # images alone only when nothing else was recorded
        if context:
            framed = [t for t in texts if CONTEXT in t]
            if framed:
                return framed[0]
            return self.frame(modalities, language=lang, task=task).replace(PROMPT, plain[0] if plain else
                                                                           self._fallback(lang, where))
        return plain[0] if plain else self._fallback(lang, where)

    def frame(self, modalities: Iterable[str] = (), *, language: str | None = None, task: str = "report") -> str:
        """How a context and an instruction are put together: a text with ``{context}`` and ``{prompt}``."""
        lang = language or self.language(task)
        texts = self._texts(task, lang, layout(modalities))
        plain = sorted((t for t in texts if CONTEXT not in t and t.strip()), key=len, reverse=True)
        for t in (t for t in texts if CONTEXT in t):
            for p in plain:
                if t.endswith(p):
                    return t[: len(t) - len(p)] + PROMPT
                if t.startswith(p):
                    return PROMPT + t[len(p):]
        return DEFAULT_PROMPTS.get(lang, DEFAULT_PROMPTS["en"])["context"]

    @staticmethod
    def _fallback(lang: str, where: str) -> str:
        words = DEFAULT_PROMPTS.get(lang, DEFAULT_PROMPTS["en"])
        return words.get(where) or words["none"]  # a layout without its own default (a clip): the plain request

    def text(self, modalities: Iterable[str] = (), prompt: str | None = None, context: str | None = None, *,
             language: str | None = None, task: str = "report") -> str:
        """The user text after the placeholders for a request.

        Args:
            modalities: the images shown (``xray``, ``ct``).
            prompt: the instruction (None or blank: the recorded default).
            context: clinical text (history, outpatient / inpatient records); None or blank: none.
            language: ``en`` / ``zh`` (None: :meth:`language`).
            task: the recorded task whose wordings are used.
        """
        mods = list(modalities)
        ctx = context.strip() if context and context.strip() else None
        if prompt is None or not prompt.strip():
            out = self.default(mods, context=ctx is not None, language=language, task=task)
        elif ctx is None:
            return prompt
        else:
            out = self.frame(mods, language=language, task=task).replace(PROMPT, prompt)
        return out.replace(CONTEXT, ctx) if ctx is not None else out

    def messages(self, images: Mapping[str, int], prompt: str | None = None, context: str | None = None, *,
                 language: str | None = None, task: str = "report") -> list[dict[str, str]]:
        """One user turn: a placeholder line per image, then :meth:`text`."""
        mods = [m for m, n in images.items() if n]
        body = self.text(mods, prompt, context, language=language, task=task)
        return [{"role": "user", "content": placeholder_head(images) + body}]


def build_messages(images: Mapping[str, int], prompt: str | None = None, context: str | None = None, *,
                   prompts: Mapping[str, Any] | None = None, language: str | None = None) -> list[dict[str, str]]:
    """The user turn of a request (:meth:`PromptBook.messages` over ``prompts``, the recorded ones or None)."""
    return PromptBook(prompts).messages(images, prompt, context, language=language)


# ---- recording (at export time) ----------------------------------------------------------------
def _user_turn(record: Mapping[str, Any]) -> str | None:
    msgs = record.get("messages") if isinstance(record.get("messages"), list) else []
    users = [m.get("content") for m in msgs if isinstance(m, Mapping) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def _template(record: Mapping[str, Any], text: str) -> str:
    text = strip_placeholders(text)
    notes = record.get("records") if isinstance(record.get("records"), Mapping) else {}
    for note in sorted((v.strip() for v in notes.values() if isinstance(v, str) and len(v.strip()) >= 8),
                       key=len, reverse=True):
        text = text.replace(note, CONTEXT)
    return text


def record_prompts(records: Iterable[Mapping[str, Any]], *, max_per_group: int = MAX_PER_GROUP,
                   min_patients: int = MIN_PATIENTS) -> dict[str, Any] | None:
    """The ``prompts`` entry of an export from its training records (None when none is recordable).

    Args:
        records: manifest records (their last user turn is the prompt).
        max_per_group: most wordings kept per task, language and image layout (most frequent first).
        min_patients: a wording is kept only when records of this many patients share it.
    """
    counts: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    patients: dict[tuple[str, str, str, str], set] = defaultdict(set)
    n = 0
    for rec in records:
        if n >= MAX_RECORDS:
            break
        n += 1
        text = _user_turn(rec)
        if text is None:
            continue
        images = rec.get("images") if isinstance(rec.get("images"), list) else []
        key = (str(rec.get("task") or "report"), record_language(rec),
               layout(im.get("modality") for im in images if isinstance(im, Mapping)))
        tpl = _template(rec, text)
        counts[key][tpl] += 1
        patients[(*key, tpl)].add(rec.get("patient_id") or rec.get("id"))
    out: dict[str, Any] = {}
    for (task, lang, where), c in sorted(counts.items()):
        kept = [{"text": t, "count": k} for t, k in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
                if len(patients[(task, lang, where, t)]) >= min_patients][:max_per_group]
        if kept:
            out.setdefault(task, {}).setdefault(lang, {})[where] = kept
    if not out:
        return None
    return {"format": FORMAT, "records": n, **out}


def training_prompts(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """:func:`record_prompts` of the records a data config trains on (None when none is readable).

    Reads the manifests of ``data.train`` (a synthetic source's generated manifest too) with the
    filters training applies (the source's ``split``, default ``train``; ``tasks``; ``variants``);
    chunked or remote sources hold no readable records and are skipped. Never raises: an export
    without recorded prompts falls back to the documented defaults.
    """
    from pathlib import Path

    from medmllm.data.schema import read_manifest

    data = data or {}
    records: list[dict[str, Any]] = []
    try:
        for src in data.get("train") or []:
            src = dict(src) if isinstance(src, Mapping) else {"path": src}
            split = src.get("split") or "train"
            path = src.get("path")
            if isinstance(src.get("synthetic"), Mapping):
                from medmllm.data.synthetic_source import manifest_path

                path = str(manifest_path(src["synthetic"], split))
            if not isinstance(path, str) or "://" in path or not Path(path).is_file():
                continue
            tasks, variants = src.get("tasks") or data.get("tasks"), src.get("variants") or data.get("variants")
            records += [r for r in read_manifest(path, validate=False)
                        if (split == "any" or r.get("split") == split) and (not tasks or r.get("task") in tasks)
                        and (not variants or (r.get("meta") or {}).get("variant") in variants)]
        return record_prompts(records) if records else None
    except Exception as e:  # noqa: BLE001 - recording prompts never fails an export
        log.warning("could not record the training prompts (%s); inference will use the defaults", e)
        return None
