"""Real-report reference for the clinical labeler: IU chest X-ray reports, their MeSH indexing as labels.

Used by ``benchmarks/labeler_bench.py`` and by ``tests/evaluation/test_labeler_real.py`` (one
implementation of the mapping, the split, the keyword baseline and the scoring).

The development set (``<shared>/data/iu_xray_reports_dev.jsonl``; ``<shared>`` is ``$MEDMLLM_SHARED``
or the ``shared`` folder beside the repository) holds Indiana University chest X-ray reports:
``id``, ``findings``, ``impression`` and ``mesh``, the NLM MeSH indexing of the report
("Pleural Effusion/right/small", "normal", "No Indexing"). Reports indexed "No Indexing" have no
reference and reports with neither findings nor impression have nothing to read: both are left out.

**MeSH -> CheXpert.** A MeSH term is ``Descriptor/qualifier/...``; :data:`MESH_MAP` says which
descriptors (with which qualifier, or not at a non-lung site) give which CheXpert observations.
The hierarchy follows the labeler's findings vocabulary (:func:`medmllm.findings.to_chexpert`):
consolidation and atelectasis are also lung opacities. ``No Finding`` follows CheXpert's
definition: 1 when no term of the report maps to a pathology (so a report indexed only
"Calcified Granuloma" or "Thoracic Vertebrae/degenerative" is No Finding). "Pulmonary Congestion"
and "Heart Failure" are Edema, as in CheXpert's definition (its labeler counts vascular congestion
and heart failure as Edema) and in the labeler's own test cases.

**Split.** Each report goes to the ``tuning`` or the ``heldout`` part by the first byte of the
SHA-256 of its id (even: tuning), fixed before any failure was looked at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from medmllm.data.formats.iu_mesh import MESH_CHEXPERT, NOT_PATHOLOGIES, mesh_observations

ROOT = Path(__file__).resolve().parents[1]
DEV_FILE = Path("data") / "iu_xray_reports_dev.jsonl"
OBSERVATIONS: tuple[str, ...] = (
    "Cardiomegaly", "Atelectasis", "Pleural Effusion", "Pneumothorax", "Edema", "Pneumonia",
    "Consolidation", "Fracture", "Lung Lesion", "Lung Opacity", "No Finding",
)
# The MeSH -> CheXpert table is the one of the `iu-xray` converter (medmllm/data/formats/iu_mesh.py;
# printed by `python benchmarks/labeler_bench.py --mapping` and written out in docs/labeler.md).
MESH_MAP = MESH_CHEXPERT


def shared_dir() -> Path:
    """The shared data folder: ``$MEDMLLM_SHARED``, else ``shared`` beside the repository."""
    env = os.environ.get("MEDMLLM_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def dev_path() -> Path:
    """Path of the development set of real reports."""
    return shared_dir() / DEV_FILE


def reference(terms: Iterable[str]) -> dict[str, int]:
    """0/1 per scored observation; No Finding is 1 when no term maps to a pathology."""
    found = mesh_observations(terms) - NOT_PATHOLOGIES
    ref = {o: int(o in found) for o in OBSERVATIONS}
    ref["No Finding"] = int(not found)
    return ref


def part_of(report_id: str) -> str:
    """``"tuning"`` or ``"heldout"``, from the first byte of SHA-256 of the id (fixed)."""
    return "tuning" if hashlib.sha256(report_id.encode()).digest()[0] % 2 == 0 else "heldout"


def report_text(row: dict) -> str:
    """The report as a radiologist writes it: FINDINGS and IMPRESSION sections."""
    parts = [f"{name}: {row.get(key) or ''}".strip() for name, key in (("FINDINGS", "findings"),
                                                                     ("IMPRESSION", "impression"))
             if (row.get(key) or "").strip()]
    return "\n".join(parts)


@dataclass
class Report:
    id: str
    text: str
    part: str
    ref: dict[str, int]


def load_reports(path: Path | None = None) -> tuple[list[Report], dict[str, int]]:
    """Indexed reports with text, and how many were left out (``"No Indexing"``, ``"no text"``)."""
    rows = [json.loads(line) for line in (path or dev_path()).read_text(encoding="utf-8").splitlines() if line.strip()]
    kept, skipped = [], {"No Indexing": 0, "no text": 0}
    for r in rows:
        text = report_text(r)
        if "No Indexing" in r["mesh"] or not text:
            skipped["No Indexing" if "No Indexing" in r["mesh"] else "no text"] += 1
            continue
        kept.append(Report(str(r["id"]), text, part_of(str(r["id"])), reference(r["mesh"])))
    return kept, skipped


# --------------------------------------------------------------------------- naive keyword baseline
KEYWORDS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": ("cardiomegaly", "enlarged heart", "cardiac enlargement", "heart is enlarged",
                     "heart size is enlarged", "enlarged cardiac"),
    "Atelectasis": ("atelecta", "collapse"),
    "Pleural Effusion": ("effusion", "pleural fluid", "blunting", "blunted"),
    "Pneumothorax": ("pneumothora",),
    "Edema": ("edema", "congestion", "heart failure"),
    "Pneumonia": ("pneumonia", "pneumonic", "infection"),
    "Consolidation": ("consolidat",),
    "Fracture": ("fracture",),
    "Lung Lesion": ("nodule", "mass", "lesion", "tumor", "neoplasm", "carcinoma"),
    "Lung Opacity": ("opaci", "infiltrat", "airspace disease", "density", "densities", "consolidat", "atelecta"),
}
_NEGATION = re.compile(r"\b(?:no|not|without|negative|free of|absence of)\b")
_SENTENCE = re.compile(r"[.;!?]+(?=\s|$)|\n")
_KEYWORD_RE = {o: re.compile(r"\b(?:" + "|".join(map(re.escape, kws)) + r")") for o, kws in KEYWORDS.items()}


def keyword_baseline(text: str) -> dict[str, int]:
    """1 when a keyword is in a sentence with no negation word before it; No Finding when none is."""
    out = {o: 0 for o in OBSERVATIONS}
    for sent in _SENTENCE.split(text.lower()):
        for obs, pat in _KEYWORD_RE.items():
            for m in pat.finditer(sent):
                if not _NEGATION.search(sent, 0, m.start()):
                    out[obs] = 1
                    break
    out["No Finding"] = int(not any(out[o] for o in KEYWORDS))
    return out


def labeler_predict(text: str, uncertain: str = "positive") -> dict[str, int]:
    """``medmllm label``'s reading (:func:`label_report`, English), 0/1 per observation.

    Args:
        text: the report.
        uncertain: ``"positive"`` (1 or -1 is positive, the quality bar's policy) or ``"negative"``
            (only 1 is), as ``medmllm score --uncertain``.
    """
    from medmllm.evaluation.labeler import label_report

    chex = label_report(text, "en")["chexpert"]
    positive = (1, -1) if uncertain == "positive" else (1,)
    return {o: int(chex[o] in positive) for o in OBSERVATIONS}


# --------------------------------------------------------------------------- scoring
@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """F1; 1.0 when there was nothing to find and nothing was found (a part with no positive of an
        observation, as a small or other set of reports may have), 0.0 when only false positives."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 1.0


def score(reports: list[Report], predict: Callable[[str], dict[str, int]]) -> dict[str, Score]:
    """Per-observation counts of ``predict`` against the MeSH reference."""
    out = {o: Score() for o in OBSERVATIONS}
    for r in reports:
        pred = predict(r.text)
        for o in OBSERVATIONS:
            s = out[o]
            s.tp += pred[o] and r.ref[o]
            s.fp += pred[o] and not r.ref[o]
            s.fn += r.ref[o] and not pred[o]
    return out


def macro_f1(scores: dict[str, Score]) -> float:
    """Mean F1 over the scored observations."""
    return sum(s.f1 for s in scores.values()) / len(scores)


def hedge_counts(reports: list[Report]) -> dict[str, tuple[int, int]]:
    """How often MeSH indexes what the labeler reads as hedged: ``{"probable": (indexed, total),
    "possible": (indexed, total)}`` over report-observation pairs (No Finding left out).

    ``probable``: the labeler's label is -1 (a probable reading, "likely atelectasis"); ``possible``:
    the observation is listed under ``possible`` (a possibility raised, "may represent pneumonia").
    """
    from medmllm.evaluation.labeler import label_report

    counts = {"probable": [0, 0], "possible": [0, 0]}
    for r in reports:
        out = label_report(r.text, "en")
        for o in OBSERVATIONS[:-1]:
            for kind, hit in (("probable", out["chexpert"][o] == -1), ("possible", o in out["possible"]["chexpert"])):
                if hit:
                    counts[kind][0] += r.ref[o]
                    counts[kind][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}
