"""Synthetic cine cases: angiography-like runs whose finding is visible only in motion.

Each case is a short X-ray angiography run (multi-frame DICOM XA, grayscale, with a frame time): a
vessel crosses the image from its proximal end (the top) to its distal end (the bottom), and a dark
contrast bolus travels along it. Normal runs fill **antegrade** (top to bottom); the finding,
**retrograde flow** (the flow reversal of a steal or a collateral-filled vessel), runs bottom to top.
The bolus's position in the middle frame has the same distribution either way, so no single frame
shows the finding; only the order of the frames does. Test cases also come as a **shuffled-frames**
copy (the same frames in a random order, ``meta.variant == "shuffled-frames"``): a model that reads
time should fall to chance there.

Records per case (``medmllm synth --cine``): a closed question (``vqa``: antegrade or retrograde) and
a short report (``report``), English; ids ``cine-000123-vqa`` etc., patient ``cine-p-000123``;
splits 80/10/10 by case. Every case depends only on ``(seed, index)``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from medmllm.data.schema import new_record, write_manifest
from medmllm.errors import InputError
from medmllm.files import atomic_write_text

from .generator import MARKER, _prepare

QUESTION = "<video>\nIs the flow in the vessel antegrade or retrograde?"
ANSWERS = ("Antegrade.", "Retrograde.")
REPORTS = ("Findings: Contrast passes along the vessel from proximal to distal. Impression: Normal antegrade flow.",
           "Findings: Contrast passes along the vessel from distal to proximal. Impression: Retrograde flow.")
REPORT_PROMPT = "<video>\nWrite the report of this angiography run."
FRAME_TIME_MS = 66.7  # 15 frames per second


def render_cine(seed: int, index: int, *, frames: int = 8, size: int = 32) -> tuple[np.ndarray, int]:
    """One run ``(frames, size, size)`` in [0, 1] (contrast dark) and its finding (1: retrograde flow)."""
    rng = np.random.default_rng([seed, index, 0xC1E])
    retrograde = int(rng.integers(0, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = size / 2 + rng.uniform(-size / 6, size / 6) + size / 8 * np.sin(
        2 * np.pi * (yy / size * rng.uniform(0.5, 1.2)) + rng.uniform(0, 2 * np.pi))  # vessel centre line x(y)
    vessel = np.abs(xx - centre) < 2.5
    bolus_len, step = max(4, size // 4), max(1, size // 16)
    reach = step * (frames // 2)
    mid = rng.integers(reach, size - bolus_len - reach + 1)  # bolus top row in the middle frame
    direction = -1 if retrograde else 1  # antegrade: proximal (top) to distal (bottom)
    run = np.empty((frames, size, size))
    for k in range(frames):
        top = mid + direction * step * (k - frames // 2)
        img = 0.72 - 0.06 * vessel + rng.normal(0.0, 0.03, size=(size, size))
        img[vessel & (yy >= top) & (yy < top + bolus_len)] = 0.25
        run[k] = img
    return np.clip(run, 0.0, 1.0), retrograde


def _split(seed: int, index: int) -> str:
    u = np.random.default_rng([seed, index, 0x5B1]).random()
    return "train" if u < 0.8 else ("val" if u < 0.9 else "test")


def cine_records(seed: int, index: int, out: Path, *, frames: int, size: int) -> list[dict[str, Any]]:
    """Write one case's run (and, for a test case, its shuffled-frames copy); return its manifest records."""
    from medmllm.io.video_writers import write_cine_dicom

    run, retrograde = render_cine(seed, index, frames=frames, size=size)
    case, split = f"cine-{index:06d}", _split(seed, index)
    rel = Path("cases") / case
    (out / rel).mkdir(parents=True, exist_ok=True)
    patient = {"name": f"SYNTHETIC^CINE{index:06d}", "id": f"cine-p-{index:06d}"}
    kw = dict(modality="XA", frame_time_ms=FRAME_TIME_MS, burned_in="NO", patient=patient, description="ANGIO RUN")
    write_cine_dicom(run, out / rel / "run.dcm", **kw)
    variants = [("", "run.dcm")]
    if split == "test":
        order = np.random.default_rng([seed, index, 0x5F]).permutation(frames)
        write_cine_dicom(run[order], out / rel / "run-shuffled.dcm", **kw)
        variants.append(("shuffled-frames", "run-shuffled.dcm"))
    meta = {"source": "medmllm-synth-cine", "seed": seed, "case": case,
            "finding": "retrograde_flow" if retrograde else "normal",
            "direction": "retrograde" if retrograde else "antegrade"}
    records = []
    for variant, name in variants:
        image = [{"modality": "video", "path": f"{rel.as_posix()}/{name}", "format": "dicom"}]
        suffix = f"-{variant}" if variant else ""
        for task, prompt, answer in (("vqa", QUESTION, ANSWERS[retrograde]),
                                     ("report", REPORT_PROMPT, REPORTS[retrograde])):
            records.append(new_record(
                id=f"{case}-{task}{suffix}", patient_id=patient["id"], split=split, task=task, images=image,
                messages=[{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
                answer=answer if task == "vqa" else None,
                report={"findings": answer, "impression": answer.split("Impression: ")[-1], "language": "en"}
                if task == "report" else None,
                meta={**meta, "variant": variant or task}))
    return records


def generate_cine(out: str | os.PathLike, cases: int, seed: int = 0, *, frames: int = 8, size: int = 32,
                  overwrite: bool = False) -> dict[str, Any]:
    """Write ``cases`` synthetic angiography runs and their manifest under ``out`` (``medmllm synth --cine``).

    Returns:
        The summary written to ``synth.json`` (cases, records, splits, findings).
    """
    if cases < 1:
        raise InputError(None, f"--cases must be at least 1, got {cases}")
    if frames < 2 or size < 16:
        raise InputError(None, f"cine runs need at least 2 frames of 16 x 16 pixels, got {frames} of {size}")
    root = Path(out)
    _prepare(root, overwrite)
    records = [r for i in range(cases) for r in cine_records(seed, i, root, frames=frames, size=size)]
    cases_by = {r["meta"]["case"]: r for r in records}.values()
    summary = {"generator": "medmllm synth --cine", "seed": seed, "cases": cases, "records": len(records),
               "frames": frames, "size": size, "frame_time_ms": FRAME_TIME_MS,
               "finding_counts": dict(Counter(r["meta"]["finding"] for r in cases_by)),
               "splits": dict(sorted(Counter(r["split"] for r in cases_by).items()))}
    write_manifest(root / "manifest.jsonl", records)
    atomic_write_text(root / MARKER, json.dumps(summary, indent=1))
    return summary
