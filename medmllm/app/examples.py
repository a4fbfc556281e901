"""One-click example cases for the report app, made by the synthetic-case generator (the `medmllm synth` command).

``example_cases()`` runs ``medmllm synth`` once into a cache folder (a few seconds), then picks a
few held-out-style cases with different findings and image formats. CT DICOM series are zipped
(deterministically) so that each example is one X-ray file plus one CT file. The inpatient record is
left out: it states the diagnosis, and the examples should show what the model reads in the images.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXAMPLE_SEED = 20_251_111  # not a training seed: the examples are cases the model has not seen
EXAMPLE_CASES = 24
VERSION = "v1"


@dataclass(frozen=True)
class ExampleCase:
    """One example: files for the X-ray and CT inputs and the clinical context to fill in."""

    label: str
    xray: str | None
    ct: list[str] = field(default_factory=list)
    age: str = ""  # as typed in the app's Age box, e.g. '3 years 2 months'
    sex: str = ""
    outpatient: str = ""
    inpatient: str = ""
    language: str = "en"
    truth: list[str] = field(default_factory=list)

    def row(self) -> list[Any]:
        """Values in the order of the app's example inputs."""
        return [self.xray, self.ct or None, self.age, self.sex, self.outpatient, self.inpatient,
                self.language]

    def files(self) -> list[str]:
        return ([self.xray] if self.xray else []) + list(self.ct)


def cache_root() -> Path:
    """medmllm's cache folder (:mod:`medmllm.paths`)."""
    from medmllm.paths import cache_root as medmllm_cache

    return medmllm_cache()


def _zip_series(folder: Path, out: Path) -> Path:
    """Zip a DICOM series folder with fixed timestamps (same files, same bytes)."""
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(q for q in folder.rglob("*") if q.is_file()):
            info = zipfile.ZipInfo(f"ct/{p.relative_to(folder).as_posix()}", date_time=(2024, 1, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())
    os.replace(tmp, out)
    return out


def _generate(folder: Path, n: int, seed: int) -> Path:
    manifest_dir = folder / "synth"
    done = folder / ".done"
    if not done.exists():
        cmd = [sys.executable, "-m", "medmllm", "synth", "--out", str(manifest_dir), "--cases", str(n),
               "--seed", str(seed), "--lang", "both", "--tasks", "report", "--workers", "1", "--overwrite",
               "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
        if proc.returncode != 0:
            raise RuntimeError(f"medmllm synth failed: {proc.stderr.strip().splitlines()[-1:]}")
        done.write_text("ok\n")
    manifests = sorted(manifest_dir.glob("*.jsonl"))
    if not manifests:
        raise RuntimeError(f"medmllm synth wrote no manifest in {manifest_dir}")
    return manifests[0]


def _case(rec: dict, root: Path, folder: Path) -> ExampleCase | None:
    from medmllm.data.text import age_text
    from medmllm.findings import describe

    xray, ct = None, []
    for im in rec.get("images") or []:
        path = (root / im["path"]).resolve()
        if im["modality"] == "xray":
            xray = str(path)
        elif im["modality"] == "ct":
            name = f"{rec.get('patient_id') or rec['id']}-ct.zip"
            ct = [str(_zip_series(path, folder / name))] if path.is_dir() else [str(path)]
    if xray is None and not ct:
        return None
    lang = (rec.get("report") or {}).get("language", "en")
    truth = sorted(k for k, v in (rec.get("labels") or {}).items() if v == 1)
    patient = rec.get("patient") or {}
    months = patient.get("age_months")
    age = age_text(int(months), "en") if months is not None else ""
    names = ", ".join(describe(k, "en") for k in truth) or "normal"
    label = f"{rec.get('patient_id') or rec['id']} {lang}: {names}"
    return ExampleCase(label=label, xray=xray, ct=ct, age=age, sex=patient.get("sex") or "",
                       outpatient=_notes((rec.get("records") or {}).get("outpatient") or ""), language=lang,
                       truth=truth)


def _notes(record: str) -> str:
    """The outpatient record without its title and patient line (the app's age and sex fields hold those)."""
    lines = record.strip().splitlines()
    if len(lines) > 2 and lines[0].strip() in ("Outpatient record", "门诊病历"):
        return "\n".join(lines[2:])
    return record.strip()


def example_cases(n: int = 4, cache_dir: str | os.PathLike | None = None, seed: int = EXAMPLE_SEED,
                  cases: int = EXAMPLE_CASES) -> list[ExampleCase]:
    """Up to ``n`` example cases with different findings (the last one in Chinese), generated once and cached.

    Args:
        n: how many examples to show.
        cache_dir: where to generate them (default: ``<cache>/app-examples/<version>-seed<seed>``).
        seed: the synthetic data-set seed (not one the quickstart trains on).
        cases: how many cases to generate to choose from.
    """
    from medmllm.data.schema import image_root, read_manifest

    folder = Path(cache_dir) if cache_dir else cache_root() / "app-examples" / f"{VERSION}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _generate(folder, cases, seed)
    root = image_root(manifest)
    picked, seen = [], set()
    want_zh = True
    for rec in read_manifest(manifest, validate=False):
        modalities = {im.get("modality") for im in rec.get("images") or []}
        if rec.get("task") != "report" or modalities != {"xray", "ct"}:
            continue
        lang = (rec.get("report") or {}).get("language", "en")
        truth = tuple(sorted(k for k, v in (rec.get("labels") or {}).items() if v == 1))
        if truth in seen or (lang == "zh" and not want_zh) or (lang == "en" and len(picked) == n - 1 and want_zh):
            continue
        case = _case(rec, root, folder)
        if case is None:
            continue
        picked.append(case)
        seen.add(truth)
        want_zh = want_zh and lang != "zh"
        if len(picked) == n:
            break
    log.info("app examples: %d cases", len(picked))
    return picked
