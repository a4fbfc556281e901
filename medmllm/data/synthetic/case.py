"""One synthetic case in memory: :func:`render_case` gives images, texts and labels, writes nothing.

A case is a pure function of ``(seed, index, config)``: the generator, the quickstart's on-the-fly
data and the tests all call :func:`render_case`. Independent random streams are derived from
``(seed, index)`` for the case itself (patient, findings, file formats, split), the image noise
and the text, so changing an image size changes neither the findings nor the wording.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from medmllm.findings import complete_labels

from .clinical_facts import sample_clinical
from .clinical_text import diagnoses, discharge_summary, inpatient_record, outpatient_record
from .config import SynthConfig
from .report_grammar import make_report
from .population import Anatomy, Finding, sample_anatomy, sample_findings, sample_patient
from .tasks import TaskSample, build_tasks
from .xray_render import render_ct, render_xray


@dataclasses.dataclass
class Case:
    """A synthetic patient with a frontal chest radiograph, a chest CT, records and reports.

    Attributes:
        index, case_id, patient_id, split: identity (``case-000123``, ``p-000123``, train/val/test).
        patient: ``{"age_months", "sex", "weight_kg"}``.
        findings: the positive findings with the details that drove images and text.
        labels: 0/1 for every key of ``medmllm.findings.FINDING_KEYS``.
        xray: ``(H, W)`` float32 in [0, 1], bone bright, patient's right on the image's left (or None).
        xray_spacing: ``(row, col)`` mm.
        ct: ``(D, H, W)`` float32 HU, D inferior -> superior, H anterior -> posterior, W right -> left.
        ct_spacing: ``(d, h, w)`` mm.
        formats: how the generator writes the images (``xray``: png / dicom-mono1 / dicom-mono2,
            ``xray_modality``: CR / DX, ``ct``: dicom-series / nifti).
        clinical: language-neutral clinical facts (vitals, labs, treatment ...).
        records, reports, diagnoses, summaries: per language; ``reports[lang]`` has ``xray``, ``ct``
            and ``both`` (the CT wording), each ``{"findings", "impression"}``.
        tasks: per language, the task conversations.
        masks: with ``render_case(..., masks=True)``: ``ct_lobes`` (uint8, ``i + 1`` for
            ``LOBES[i]``), ``ct_lung``, ``ct_lesions`` and ``xray_lesions`` (``{key: bool array}``).
    """

    index: int
    case_id: str
    patient_id: str
    split: str
    patient: dict[str, Any]
    anatomy: Anatomy
    findings: list[Finding]
    labels: dict[str, int]
    xray: np.ndarray | None
    xray_spacing: tuple[float, float]
    ct: np.ndarray | None
    ct_spacing: tuple[float, float, float]
    formats: dict[str, str]
    clinical: dict[str, Any]
    records: dict[str, dict[str, str | None]] = dataclasses.field(default_factory=dict)
    reports: dict[str, dict[str, dict[str, str]]] = dataclasses.field(default_factory=dict)
    diagnoses: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    summaries: dict[str, str | None] = dataclasses.field(default_factory=dict)
    tasks: dict[str, list[TaskSample]] = dataclasses.field(default_factory=dict)
    masks: dict[str, Any] | None = None

    def findings_json(self) -> list[dict[str, Any]]:
        """The findings as plain JSON (key + details)."""
        return [{"key": f.key, "detail": f.detail} for f in self.findings]


def _streams(seed: int | np.random.Generator, index: int) -> list[np.random.Generator]:
    if isinstance(seed, np.random.Generator):
        entropy = [int(x) for x in seed.integers(0, 2**63 - 1, size=2)] + [int(index)]
    else:
        if int(seed) < 0 or int(index) < 0:
            raise ValueError(f"seed and index must be non-negative, got seed={seed} index={index}")
        entropy = [int(seed), int(index)]
    return [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(4)]


_THREADPOOLS: Any = None


def _single_threaded_blas():
    """Rendering does many tiny matrix products: BLAS threads only contend for the cores (10-30x slower
    on a busy machine), and one thread also keeps the floating-point summation order fixed."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


def render_case(seed: int | np.random.Generator, index: int, config: SynthConfig | None = None, *,
                masks: bool = False, findings: list[str] | None = None) -> Case:
    """Render one case's arrays and texts in memory.

    Args:
        seed: the data set's seed (same seed and index -> the same case, bit for bit), or a numpy
            Generator to draw the case's entropy from.
        index: the case number (``case-000123`` for 123).
        config: sizes, languages, prevalence, tasks; defaults to :class:`SynthConfig()`.
        masks: also return lobe and lesion masks (for tests and figures).
        findings: force these abnormal finding keys (``[]`` for a normal case) instead of drawing
            them; the patient, anatomy and noise stay those of ``(seed, index)``, so the same
            patient can be rendered with and without a lesion.

    Returns:
        A :class:`Case`.
    """
    with _single_threaded_blas():
        return _render_case(seed, index, config or SynthConfig(), masks, findings)


def _render_case(seed: int | np.random.Generator, index: int, cfg: SynthConfig, masks: bool,
                 forced: list[str] | None) -> Case:
    r_case, r_anat, r_noise, r_text = _streams(seed, index)
    u_split, u_xfmt, u_xmod, u_ct = r_case.random(4)
    split = "train" if u_split < cfg.split[0] else ("val" if u_split < cfg.split[0] + cfg.split[1] else "test")
    xfmt = "png" if u_xfmt < cfg.png_share else ("dicom-mono1" if u_xfmt < cfg.png_share + cfg.mono1_share
                                                 else "dicom-mono2")
    formats = {"xray": xfmt, "xray_modality": "CR" if u_xmod < 0.5 else "DX",
               "ct": "nifti" if u_ct < cfg.nifti_share else "dicom-series"}
    patient = sample_patient(r_case)
    anat = sample_anatomy(r_anat, patient)
    findings = sample_findings(r_case, anat, cfg.prevalence, cfg.max_findings, forced)
    labels = complete_labels([f.key for f in findings])
    noise = r_noise if cfg.noise else None
    mk: dict[str, Any] | None = {"xray_lesions": {}, "ct_lesions": {}} if masks else None
    xray, xsp = (render_xray(anat, findings, cfg.xray_size, cfg.xray_depth, noise,
                             mk["xray_lesions"] if mk is not None else None) if cfg.render_xray else (None, (0.0, 0.0)))
    ct, csp = (render_ct(anat, findings, cfg.ct_shape, noise, mk["ct_lesions"] if mk is not None else None)
               if cfg.render_ct else (None, (0.0, 0.0, 0.0)))
    if mk is not None and cfg.render_ct:
        mk["ct_lobes"] = mk["ct_lesions"].pop("lobes")
        mk["ct_lung"] = mk["ct_lesions"].pop("lung")
    case = Case(index=int(index), case_id=f"case-{int(index):06d}", patient_id=f"p-{int(index):06d}", split=split,
                patient=patient, anatomy=anat, findings=findings, labels=labels, xray=xray, xray_spacing=xsp,
                ct=ct, ct_spacing=csp, formats=formats, clinical=sample_clinical(r_case, patient, findings), masks=mk)
    for lang in cfg.langs:
        rep = {m: make_report(findings, "ct" if m == "both" else m, lang, r_text) for m in ("xray", "ct", "both")}
        dx = diagnoses(findings, case.clinical, patient, lang)
        imp = rep["both"]["impression"]
        case.reports[lang] = rep
        case.diagnoses[lang] = dx
        case.records[lang] = {"outpatient": outpatient_record(patient, case.clinical, lang),
                              "inpatient": inpatient_record(patient, case.clinical, imp, dx, lang)}
        case.summaries[lang] = (discharge_summary(patient, case.clinical, imp, dx, lang)
                                if case.clinical["admitted"] else None)
        case.tasks[lang] = build_tasks(case, lang, cfg.tasks, cfg.vqa_per_case, r_text)
    return case
