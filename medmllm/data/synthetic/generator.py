"""Write synthetic cases to disk: image files, per-case ground truth and the manifest.

Layout of ``OUT``::

    manifest.jsonl                  one record per task conversation (CONTRACTS.md schema)
    synth.json                      seed, case count, config and finding counts (no timestamps)
    cases/000123/cxr.dcm | cxr.png  the frontal radiograph (DICOM CR/DX, MONOCHROME1 or 2, or PNG)
    cases/000123/ct/IM00000.dcm ... the CT as a DICOM series (or cases/000123/ct.nii.gz)
    cases/000123/case.json          ground truth: findings with details, labels, clinical facts

Each case depends only on ``(seed, index, config)``, so the output is the same bytes whatever the
number of worker processes. The whole folder is written beside ``OUT`` and renamed into place
when complete (:func:`medmllm.files.atomic_dir`): an interrupted run or a full disk leaves the
earlier output (or nothing), never a partial folder.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from medmllm.data.schema import new_record, write_manifest
from medmllm.errors import InputError
from medmllm.files import atomic_dir, atomic_write_text
from medmllm.findings import FINDING_KEYS

from .case import Case, render_case
from .config import SynthConfig

log = logging.getLogger(__name__)
MARKER = "synth.json"


def _dicom_patient(case: Case) -> dict[str, Any]:
    p = case.patient
    age = f"{p['age_months']:03d}M" if p["age_months"] < 24 else f"{p['age_months'] // 12:03d}Y"
    return {"name": f"SYNTHETIC^{case.index:06d}", "id": case.patient_id, "sex": p["sex"], "age": age,
            "weight_kg": str(p["weight_kg"])}


def write_case_files(case: Case, out: Path) -> dict[str, dict[str, Any]]:
    """Write one case's images and ``case.json`` under ``out/cases/NNNNNN``; returns the manifest image entries."""
    from medmllm.io.writers import (
        default_affine_lps,
        write_ct_series,
        write_nifti,
        write_png,
        write_xray_dicom,
    )

    rel = Path("cases") / f"{case.index:06d}"
    folder = out / rel
    folder.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    patient = _dicom_patient(case)
    if case.xray is not None:
        if case.formats["xray"] == "png":
            write_png(case.xray, folder / "cxr.png", bits=8)
            entries["xray"] = {"modality": "xray", "path": f"{rel.as_posix()}/cxr.png", "view": "PA", "format": "png"}
        else:
            mono = "MONOCHROME1" if case.formats["xray"] == "dicom-mono1" else "MONOCHROME2"
            write_xray_dicom(case.xray, folder / "cxr.dcm", photometric=mono, modality=case.formats["xray_modality"],
                             pixel_spacing=case.xray_spacing, bits=12, view="PA", patient=patient)
            entries["xray"] = {"modality": "xray", "path": f"{rel.as_posix()}/cxr.dcm", "view": "PA", "format": "dicom"}
    if case.ct is not None:
        d, h, w = case.ct_spacing
        n_d, n_h, n_w = case.ct.shape
        origin = (-(n_w - 1) * w / 2.0, -(n_h - 1) * h / 2.0, -(n_d - 1) * d / 2.0)  # LPS of voxel (0, 0, 0)
        if case.formats["ct"] == "nifti":
            write_nifti(case.ct, case.ct_spacing, folder / "ct.nii.gz", affine_lps=default_affine_lps(case.ct_spacing, origin))
            entries["ct"] = {"modality": "ct", "path": f"{rel.as_posix()}/ct.nii.gz", "format": "nifti"}
        else:
            write_ct_series(case.ct, case.ct_spacing, folder / "ct", patient=patient, origin=origin)
            entries["ct"] = {"modality": "ct", "path": f"{rel.as_posix()}/ct/", "format": "dicom-series"}
    truth = {"case_id": case.case_id, "patient_id": case.patient_id, "split": case.split, "patient": case.patient,
             "findings": case.findings_json(), "labels": case.labels, "clinical": case.clinical,
             "xray_spacing_mm": list(case.xray_spacing), "ct_spacing_mm": list(case.ct_spacing),
             "formats": case.formats}
    atomic_write_text(folder / "case.json", json.dumps(truth, ensure_ascii=False, indent=1), fsync=False)
    return entries


def case_records(case: Case, images: dict[str, dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Manifest records of one case: one per task conversation and language."""
    out = []
    for lang, tasks in case.tasks.items():
        for t in tasks:
            source = t.variant.split("-")[1] if t.task == "report" else "both"
            report = dict(case.reports[lang][source], language=lang, modality=source)
            meta = {"source": "medmllm-synth", "seed": seed, "case": case.case_id, "variant": t.variant, "lang": lang}
            meta.update(t.meta)
            out.append(new_record(id=f"{case.case_id}-{lang}-{t.variant}", patient_id=case.patient_id,
                                  split=case.split, task=t.task, images=[images[m] for m in t.modalities if m in images],
                                  patient=case.patient, records=case.records[lang], report=report,
                                  labels=dict(case.labels), messages=t.messages, answer=t.answer, meta=meta))
    return out


def _one(job: tuple[int, int, SynthConfig, str]) -> tuple[list[dict[str, Any]], list[str], str]:
    seed, index, cfg, out = job
    case = render_case(seed, index, cfg)
    images = write_case_files(case, Path(out))
    if not cfg.render_xray or not cfg.render_ct:  # drop conversations whose images were not rendered
        for lang in case.tasks:
            case.tasks[lang] = [t for t in case.tasks[lang] if all(m in images for m in t.modalities)]
    return case_records(case, images, seed), [f.key for f in case.findings], case.split


def _prepare(out: Path, overwrite: bool) -> None:
    """Refuse to replace a folder that is not an earlier synth output (or is one, without ``overwrite``)."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise InputError(out, "folder is not empty and was not written by 'medmllm synth'; choose another --out")
        if not overwrite:
            raise InputError(out, "already holds synthetic cases; pass --overwrite to replace them")


def generate(out: str | os.PathLike, cases: int, seed: int = 0, config: SynthConfig | None = None, *,
             workers: int = 1, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Render ``cases`` cases and write them with their manifest under ``out``.

    Args:
        out: output folder (created; an earlier ``synth`` output is replaced only with ``overwrite``).
        cases: number of cases (patients).
        seed: data-set seed; the same seed and config give the same bytes.
        config: :class:`SynthConfig`.
        workers: processes rendering and writing cases in parallel (output does not depend on it).
        overwrite: replace an earlier ``synth`` output in ``out``.
        progress: show a progress bar.

    Returns:
        The summary written to ``synth.json`` (counts of records, findings and splits).
    """
    cfg = config or SynthConfig()
    if cases < 1:
        raise InputError(None, f"--cases must be at least 1, got {cases}")
    if seed < 0:
        raise InputError(None, f"--seed must be non-negative, got {seed}")
    root = Path(out)
    _prepare(root, overwrite)
    with atomic_dir(root, marker=False) as tmp:  # a failure (a full disk) leaves the old folder, or none
        jobs = [(seed, i, cfg, os.fspath(tmp)) for i in range(cases)]
        records: list[dict[str, Any]] = []
        counts: Counter[str] = Counter()
        splits: Counter[str] = Counter()
        for recs, keys, split in _progress(_run(jobs, workers), cases, progress):
            records.extend(recs)
            counts.update(keys or ["normal"])
            splits[split] += 1
        summary = {"generator": "medmllm synth", "seed": seed, "cases": cases, "records": len(records),
                   "config": cfg.to_dict(), "finding_counts": {k: counts.get(k, 0) for k in FINDING_KEYS},
                   "tasks": dict(sorted(Counter(r["task"] for r in records).items())),
                   "splits": dict(sorted(splits.items()))}
        write_manifest(tmp / "manifest.jsonl", records)
        atomic_write_text(tmp / MARKER, json.dumps(summary, indent=1))
    log.debug("wrote %d cases, %d manifest records to %s", cases, len(records), root)
    return summary


def _run(jobs: list, workers: int) -> Iterator[tuple[list[dict[str, Any]], list[str], str]]:
    if workers <= 1 or len(jobs) < 4:
        yield from map(_one, jobs)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn" if os.name == "nt" else "forkserver")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_one, jobs, chunksize=4)


def _progress(items: Iterator, total: int, show: bool) -> Iterator:
    if not show:
        yield from items
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("cases", total=total)
        for item in items:
            yield item
            bar.advance(task)
