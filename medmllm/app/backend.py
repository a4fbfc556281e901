"""What the report app asks of a model: a request, a streaming backend, and the result documents.

:class:`ReportBackend` is the one interface the UI talks to; :class:`PredictorBackend` adapts
:class:`medmllm.inference.Predictor` (any export folder) to it. A request is worded as the export's
training data worded it (its recorded prompts, :mod:`medmllm.data.prompts`), exactly as
``medmllm generate`` words it. The UI never imports torch itself.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Protocol, runtime_checkable

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh")
DISCLAIMER = {
    "en": "Research software. Not for clinical use: a radiologist must read the images.",
    "zh": "研究用软件，不可用于临床诊断：影像须由放射科医生阅读。",
}


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. ``temperature == 0`` means greedy decoding (deterministic)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        from medmllm.inference.settings import check_generation

        check_generation(self.generation())  # a ValueError naming the setting
        if not 1 <= int(self.max_new_tokens) <= 4096:
            raise ValueError(f"max_new_tokens must be in [1, 4096], got {self.max_new_tokens}")
        if not 0.0 <= float(self.temperature) <= 5.0:
            raise ValueError(f"temperature must be in [0, 5], got {self.temperature}")

    def generation(self) -> dict[str, Any]:
        """The settings for :meth:`medmllm.inference.Predictor.stream` (greedy at temperature 0)."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed}


@dataclass
class ReportRequest:
    """One generation request: images, clinical context, the task.

    ``xray``/``ct``/``video`` are the loaded ``MedicalImage`` (validated, for metadata);
    ``xray_source``/``ct_source``/``video_source`` are what ``medmllm.inference`` reads: a path, or
    ``{"path": [files]}`` for a CT uploaded as several DICOM files.
    """

    xray: Any = None
    ct: Any = None
    xray_source: Any = None
    ct_source: Any = None
    video: Any = None
    video_source: Any = None
    context: str | None = None
    question: str | None = None  # None: write the report
    language: str = "en"
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    @property
    def task(self) -> str:
        return "question" if self.question else "report"

    def modalities(self) -> list[str]:
        """The image slots the request fills."""
        return [m for m, src in (("xray", self.xray_source), ("ct", self.ct_source), ("video", self.video_source))
                if src]

    def as_input(self) -> dict[str, Any]:
        """The request as :class:`medmllm.inference.Predictor` takes it (the prompt is worded there)."""
        return {"xray": self.xray_source, "ct": self.ct_source, "video": self.video_source, "prompt": self.question,
                "context": self.context,
                "language": self.language if self.language in LANGUAGES else "en"}


@runtime_checkable
class ReportBackend(Protocol):
    """Anything that turns a request into streamed text pieces (concatenated they are the answer).

    ``modalities`` names the image slots the model reads (``xray``, ``ct``); the app leaves the
    others out of the request and says so in the page.
    """

    name: str
    modalities: frozenset[str]

    def stream(self, request: ReportRequest) -> Iterator[str]:
        """Yield the generated text piece by piece."""
        ...


_RECORD = {  # the outpatient record's layout in the synthetic training cases
    "en": {"header": "Outpatient record", "patient": "Patient: {who}.", "F": "girl", "M": "boy",
           "inpatient": "Inpatient record"},
    "zh": {"header": "门诊病历", "patient": "患儿，{who}。", "F": "女", "M": "男", "inpatient": "住院病历"},
}


_AGE_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(years?|yrs?|y|岁|months?|mos?|m|月龄|个月|月)?", re.IGNORECASE)


def parse_age(text: str | float | int | None) -> int | None:
    """Age in months from ``'3'`` or ``4.5`` (years), ``'3 y 2 m'``, ``'38 months'``, ``'3岁2月'``, ``'6月龄'``.

    Returns None for an empty value; raises ``ValueError`` for anything else that is not an age.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, (int, float)):
        months = float(text) * 12
    else:
        s = text.strip()
        parts = list(_AGE_PART.finditer(s))
        if not parts or _AGE_PART.sub("", s).strip(" ,，和and"):
            raise ValueError(f"age '{text}': expected years (4.5), or years and months (3 y 2 m, 38 months)")
        months = 0.0
        for m in parts:
            unit = (m.group(2) or "y").lower()
            months += float(m.group(1)) * (1 if unit[0] in "m月个" else 12)
    if not 0 <= months <= 130 * 12:
        raise ValueError(f"age '{text}': out of range")
    return int(round(months))


def format_context(age_months: int | None, sex: str | None, outpatient: str | None,
                   inpatient: str | None, language: str = "en") -> str | None:
    """The clinical context fields as one record, laid out like the training cases' outpatient record.

    Returns None when every field is empty.
    """
    from medmllm.data.text import age_text

    lang = language if language in _RECORD else "en"
    w = _RECORD[lang]
    who = []
    if sex in ("F", "M") and lang == "zh":
        who.append(w[sex])
    if age_months is not None:
        age = age_text(int(age_months), lang)
        who.append(age if lang == "zh" else f"{age} old")
    if sex in ("F", "M") and lang == "en":
        who.append(w[sex])
    lines = [w["patient"].format(who=("，" if lang == "zh" else " ").join(who))] if who else []
    if outpatient and outpatient.strip():
        lines.append(outpatient.strip())
    if lines:
        lines.insert(0, w["header"])
    if inpatient and inpatient.strip():
        lines += [w["inpatient"], inpatient.strip()]
    return "\n".join(lines) or None


def build_prompt(request: "ReportRequest", prompts: Any = None) -> str:
    """The user turn's text after the image placeholders, worded as the export's training data.

    Args:
        request: the request.
        prompts: the export's recorded prompts (a ``PromptBook`` or the ``prompts`` mapping; None: the
            documented defaults, the wording of the synthetic training cases).
    """
    from medmllm.data.prompts import PromptBook

    book = prompts if isinstance(prompts, PromptBook) else PromptBook(prompts)
    lang = request.language if request.language in LANGUAGES else "en"
    return book.text(request.modalities(), request.question, request.context, language=lang)


def result_documents(request: ReportRequest, text: str, labels: dict | None, model: str,
                     seconds: float, images: dict[str, dict]) -> tuple[str, dict]:
    """The TXT and JSON downloads of one result (no patient identifiers: images carry safe metadata)."""
    lang = request.language if request.language in DISCLAIMER else "en"
    header = [f"medmllm report ({model})", DISCLAIMER[lang], ""]
    if request.question:
        header += [f"Question: {request.question}", ""]
    txt = "\n".join(header) + text.strip() + "\n"
    doc = {
        "text": text,
        "task": request.task,
        "question": request.question,
        "language": request.language,
        "context": request.context,
        "findings": (labels or {}).get("findings"),
        "chexpert": (labels or {}).get("chexpert"),
        "possible": (labels or {}).get("possible"),
        "model": model,
        "generation": asdict(request.settings),
        "seconds": round(seconds, 3),
        "images": images,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "disclaimer": DISCLAIMER[lang],
    }
    return txt, doc


class PredictorBackend:
    """:class:`ReportBackend` over a medmllm export folder: the one ``medmllm.inference.Predictor``."""

    def __init__(self, checkpoint: str | os.PathLike):
        from medmllm.inference import Predictor

        self.checkpoint = os.fspath(checkpoint)
        self.predictor = Predictor.from_pretrained(self.checkpoint)
        self.name = self.predictor.name
        self.modalities = self.predictor.modalities

    def stream(self, request: ReportRequest) -> Iterator[str]:
        yield from self.predictor.stream(request.as_input(), **request.settings.generation())
