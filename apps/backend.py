"""What the report app asks of a model: a request, a streaming backend, and the result documents.

:class:`ReportBackend` is the one interface the UI talks to; :class:`PredictorBackend` implements it
with :class:`medmllm.inference.Predictor` (any export folder). The UI never imports torch itself.
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
        if not 1 <= int(self.max_new_tokens) <= 4096:
            raise ValueError(f"max_new_tokens must be in [1, 4096], got {self.max_new_tokens}")
        if not 0.0 <= float(self.temperature) <= 5.0:
            raise ValueError(f"temperature must be in [0, 5], got {self.temperature}")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass
class ReportRequest:
    """One generation request: images, clinical context, the task.

    ``xray``/``ct`` are the loaded ``MedicalImage`` (validated, for metadata); ``xray_source``/
    ``ct_source`` are what ``medmllm.inference`` reads: a path, or ``{"path": [files]}`` for a CT
    uploaded as several DICOM files.
    """

    xray: Any = None
    ct: Any = None
    xray_source: Any = None
    ct_source: Any = None
    context: str | None = None
    question: str | None = None  # None: write the report
    language: str = "en"
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    @property
    def task(self) -> str:
        return "question" if self.question else "report"


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
    from medmllm.data.synthetic.clinical_text import age_text

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


def build_prompt(request: "ReportRequest") -> str:
    """The user turn's text after the image placeholders, worded as in the training conversations."""
    from medmllm.data.synthetic.tasks import PROMPTS

    lang = request.language if request.language in PROMPTS else "en"
    p = PROMPTS[lang]
    source = "both" if request.xray_source and request.ct_source else ("ct" if request.ct_source else "xray")
    ask = request.question or p[source][0]
    return (p["context"].format(record=request.context) if request.context else "") + ask


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
        "model": model,
        "generation": asdict(request.settings),
        "seconds": round(seconds, 3),
        "images": images,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "disclaimer": DISCLAIMER[lang],
    }
    return txt, doc


class PredictorBackend:
    """:class:`ReportBackend` over a medmllm export folder, through ``medmllm.inference.Predictor``."""

    def __init__(self, checkpoint: str | os.PathLike):
        from medmllm.inference import Predictor

        self.checkpoint = os.fspath(checkpoint)
        self.predictor = Predictor.from_pretrained(self.checkpoint)
        self.name = os.path.basename(os.path.normpath(self.checkpoint)) or "model"
        self.modalities = frozenset(self.predictor.pipelines)

    def stream(self, request: ReportRequest) -> Iterator[str]:
        import torch

        s = request.settings
        item = {"xray": request.xray_source, "ct": request.ct_source, "prompt": build_prompt(request)}
        gen: dict[str, Any] = {"max_new_tokens": s.max_new_tokens}
        if s.temperature > 0:  # greedy otherwise: the same defaults as `medmllm generate`
            torch.manual_seed(s.seed)
            gen.update(do_sample=True, temperature=s.temperature, top_p=s.top_p)
        yield from self.predictor.stream(item, **gen)
