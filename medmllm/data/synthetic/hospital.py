"""Synthetic cases written as a hospital export: the folder layout ``medmllm prepare p2med-dir`` reads.

``OUT/case_000123/``::

    xray/cxr.dcm          frontal radiograph (DICOM CR/DX, as the PACS exports it)
    ct/IM00000.dcm ...    the chest CT as a DICOM series
    report.txt            "Findings: ...\\nImpression: ..." (所见 / 印象 in Chinese)
    record.json           {"age_months", "sex", "outpatient", "inpatient", "diagnosis", "labels"}

It lets you try the path from a hospital export to a trained model (``docs/tutorials``) without
real data; the DICOM files carry synthetic patient names and IDs, as real ones would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medmllm.errors import InputError
from medmllm.files import atomic_dir

from .case import render_case
from .config import SynthConfig

MARKER = "export.json"
HEADERS = {"en": ("Findings", "Impression", ": "), "zh": ("所见", "印象", "：")}


def write_hospital_export(out: str | os.PathLike, cases: int, seed: int = 0, config: SynthConfig | None = None, *,
                          lang: str = "en", overwrite: bool = False) -> dict[str, Any]:
    """Write ``cases`` synthetic cases as a hospital-export folder; returns a summary.

    Args:
        out: the export folder (an earlier one written here is replaced only with ``overwrite``).
        cases: number of cases (patients).
        seed: data-set seed (the same cases as ``medmllm synth`` with this seed and config).
        config: :class:`SynthConfig` (image sizes, prevalence ...).
        lang: the language of the reports and records (``en`` or ``zh``).
        overwrite: replace an earlier export written by this function.
    """
    from medmllm.io.writers import write_ct_series, write_xray_dicom

    from .generator import _dicom_patient

    cfg = config or SynthConfig()
    if lang not in cfg.langs:
        raise InputError(None, f"--lang {lang}: the cases are generated in {', '.join(cfg.langs)}")
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        if not (root / MARKER).is_file():
            raise InputError(root, "exists and is not an earlier synthetic hospital export; choose another --out")
        if not overwrite:
            raise InputError(root, "already holds a synthetic hospital export (use --overwrite to replace it)")
    find, impr, colon = HEADERS[lang]
    counts: dict[str, int] = {}
    with atomic_dir(root, marker=False) as tmp:
        for i in range(cases):
            case = render_case(seed, i, cfg)
            folder = tmp / f"case_{i:06d}"
            patient = _dicom_patient(case)
            write_xray_dicom(case.xray, folder / "xray" / "cxr.dcm", modality=case.formats["xray_modality"],
                             pixel_spacing=case.xray_spacing, view="PA", patient=patient)
            write_ct_series(case.ct, case.ct_spacing, folder / "ct", patient=patient)
            rep = case.reports[lang]["both"]
            (folder / "report.txt").write_text(f"{find}{colon}{rep['findings']}\n{impr}{colon}{rep['impression']}\n",
                                               encoding="utf-8")
            record = {"age_months": case.patient["age_months"], "sex": case.patient["sex"],
                      "outpatient": case.records[lang].get("outpatient"),
                      "inpatient": case.records[lang].get("inpatient"),
                      "diagnosis": "; ".join(case.diagnoses.get(lang) or []), "labels": dict(case.labels)}
            (folder / "record.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
            for k, v in case.labels.items():
                counts[k] = counts.get(k, 0) + int(v)
        summary = {"generator": "medmllm synth --layout hospital", "seed": seed, "cases": cases, "lang": lang,
                   "finding_counts": counts}
        (tmp / MARKER).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary
