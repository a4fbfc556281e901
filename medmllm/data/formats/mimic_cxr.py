"""MIMIC-CXR-JPG (or the DICOM release) with the free-text reports of MIMIC-CXR.

Layout (as PhysioNet distributes it; the CSVs may be gzipped):

- images: ``files/pXX/pSUBJECT/sSTUDY/<dicom_id>.jpg`` (MIMIC-CXR-JPG) or ``.dcm`` (MIMIC-CXR);
- reports: ``mimic-cxr-reports/files/pXX/pSUBJECT/sSTUDY.txt``, a FINAL REPORT with upper-case
  sections (EXAMINATION, INDICATION / HISTORY, TECHNIQUE, COMPARISON, FINDINGS, IMPRESSION) and
  ``___`` where identifiers were removed;
- ``mimic-cxr-2.0.0-split.csv`` (dicom_id, study_id, subject_id, split: train / validate / test),
  ``-metadata.csv`` (ViewPosition PA / AP / LATERAL / LL ..., StudyDate, StudyTime),
  ``-chexpert.csv`` and ``-negbio.csv`` (per study, the 14 observations: 1.0 / 0.0 / -1.0 / blank).

One record per study, in the official split (``validate`` -> ``val``; the split is by patient).
The X-ray is chosen by the view rule of ``p2med-dir`` from the metadata's ViewPosition (PA > AP >
lateral; ``--xray-view AP,PA`` changes the order, ``all`` keeps every image). ``--target`` chooses
the FINDINGS section alone (default; studies without one are skipped and counted) or findings and
impression. The indication is the clinical context of the prompt; the other sections are kept in
``meta.sections``; CheXpert / NegBio labels in ``meta.chexpert`` / ``meta.negbio``; the patient's
previous study (by StudyDate and StudyTime) in ``meta.prior_study``.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from medmllm.data.formats.common import (Conversion, check_split_option, find_file, image_problem, note_split_counts,
                                         read_csv_rows, require_columns, split_name, wanted_split)
from medmllm.data.formats.p2med_pick import normalise_view, parse_views, pick_xrays
from medmllm.data.formats.p2med_pick import xray_view as view_from_file
from medmllm.data.formats.public import add_report_record, check_target, chexpert_values
from medmllm.data.formats.sections import english_sections, normalise_masks
from medmllm.errors import InputError
from medmllm.registry import FORMATS

CSV = {name: (f"mimic-cxr-*-{name}.csv.gz", f"mimic-cxr-*-{name}.csv") for name in ("split", "metadata", "chexpert",
                                                                                   "negbio")}


def _folder(sub: str, study: str) -> str:
    return f"files/p{sub[:2]}/p{sub}/s{study}"


def _reports_root(src: Path, reports: str | Path | None) -> Path:
    if reports is not None:
        r = Path(reports)
        if not r.is_dir():
            raise InputError(r, "reports folder not found")
        return r
    for cand in (src / "mimic-cxr-reports", src.parent / "mimic-cxr-reports", src):
        if (cand / "files").is_dir() and any((cand / "files").glob("p*/p*/s*.txt")):
            return cand
    raise InputError(src, "no report files (mimic-cxr-reports/files/pXX/pSUBJECT/sSTUDY.txt); give the folder "
                          "with --reports")


def _labels(folder: Path, name: str) -> dict[str, dict]:
    path = find_file(folder, CSV[name], f"{name} labels", required=False)
    if path is None:
        return {}
    header, rows = read_csv_rows(path)
    require_columns(path, header, ("study_id",))
    return {r["study_id"]: chexpert_values(r, f"{path.name}: study {r['study_id']}") for r in rows}


def _number(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _image_ext(root: Path, first: tuple[str, str, str] | None) -> str:
    """``jpg`` (MIMIC-CXR-JPG) or ``dcm`` (the DICOM release), from the first image found."""
    if first is not None:
        sub, study, dicom = first
        for ext in ("jpg", "dcm"):
            if (root / _folder(sub, study) / f"{dicom}.{ext}").is_file():
                return ext
    return "jpg"


@FORMATS.register("mimic-cxr")
def convert_mimic_cxr(src: str | Path, *, images: str | Path | None = None, reports: str | Path | None = None,
                      split: str | None = None, check_images: bool = True, xray_view: str | None = None,
                      target: str = "findings", context: bool = True) -> Conversion:
    """Convert MIMIC-CXR-JPG / MIMIC-CXR with its reports.

    Args:
        src: the release folder holding the CSVs (and ``files/`` unless ``images`` is given).
        images: the image root holding ``files/`` (default: ``src``).
        reports: the reports folder holding ``files/pXX/...txt`` (default: ``src/mimic-cxr-reports``).
        split: keep only this split (default: all).
        check_images: skip studies whose chosen image file does not exist.
        xray_view: view order (default ``PA,AP,LATERAL``) or ``all``.
        target: ``findings`` (default) or ``findings-impression``.
        context: put the indication in the prompt as clinical context.

    Returns:
        The records and the count of skipped studies per reason.
    """
    src = Path(src)
    check_target(target)
    check_split_option(split)
    if not src.is_dir():
        raise InputError(src, "expected the MIMIC-CXR-JPG folder (CSVs and files/)")
    root = Path(images) if images is not None else src
    rep_root = _reports_root(src, reports)
    split_csv = find_file(src, CSV["split"], "split")
    header, rows = read_csv_rows(split_csv)
    require_columns(split_csv, header, ("dicom_id", "study_id", "subject_id", "split"))
    studies: dict[str, dict] = {}
    for r in rows:
        st = studies.setdefault(r["study_id"], {"subject": r["subject_id"], "split": r["split"], "dicoms": []})
        st["dicoms"].append(r["dicom_id"])
        if r["split"] != st["split"]:
            raise InputError(split_csv, f"study {r['study_id']} is in two splits ({st['split']}, {r['split']})")
    meta_csv = find_file(src, CSV["metadata"], "metadata", required=False)
    views: dict[str, str | None] = {}
    when: dict[str, tuple[str, float]] = {}
    if meta_csv is not None:
        header, mrows = read_csv_rows(meta_csv)
        require_columns(meta_csv, header, ("dicom_id", "study_id", "ViewPosition"))
        for r in mrows:
            views[r["dicom_id"]] = normalise_view(r["ViewPosition"])
            if r.get("StudyDate"):
                when[r["study_id"]] = (r["StudyDate"], _number(r.get("StudyTime")))
    chexpert, negbio = _labels(src, "chexpert"), _labels(src, "negbio")
    by_subject: dict[str, list[str]] = defaultdict(list)
    for sid, st in studies.items():
        if sid in when:
            by_subject[st["subject"]].append(sid)
    prior: dict[str, str] = {}
    for subs in by_subject.values():
        subs.sort(key=lambda s: when[s])
        prior.update({b: a for a, b in pairwise(subs)})
    first = next(((st["subject"], sid, st["dicoms"][0]) for sid, st in studies.items()), None)
    ext = _image_ext(root, first)
    order = parse_views(xray_view)
    conv = Conversion(image_root=root)
    masks = 0
    for study, st in sorted(studies.items(), key=lambda kv: (kv[1]["subject"], when.get(kv[0], ("", 0.0)), kv[0])):
        sid, sub = f"s{study}", st["subject"]
        name = split_name(st["split"])
        if name is None:
            conv.skip(f"unknown split '{st['split']}'", sid)
            continue
        if not wanted_split(conv, split, name, sid):
            continue
        rep_file = rep_root / f"{_folder(sub, study)}.txt"
        if not rep_file.is_file():
            conv.skip("no report file", sid)
            continue
        try:
            text = rep_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            conv.skip("report is not UTF-8 text", sid)
            continue
        text, n_masks = normalise_masks(text, "___")
        _, sections = english_sections(text)
        files = {Path(_folder(sub, study)) / f"{d}.{ext}": d for d in st["dicoms"]}
        picked, why = pick_xrays(list(files), views=order, view_of=(lambda p, f=files: views.get(f[p])) if views
                                 else (lambda p: view_from_file(root / p)))
        bad = next((w for w in (image_problem(root, p.as_posix(), check_images) for p, _ in picked) if w), None)
        if bad:
            conv.skip(bad, sid)
            continue
        findings, impression = sections.pop("findings", ""), sections.pop("impression", "")
        indication = sections.get("indication")
        masks += n_masks if add_report_record(
            conv, sid=sid, patient_id=f"p{sub}", split=name,
            images=[{"modality": "xray", "path": p.as_posix(), **({"view": v} if v else {})} for p, v in picked],
            findings=findings, impression=impression, target=target, context=indication if context else None,
            sections=sections, meta={"source": "mimic-cxr", "study": sid, "picked": why,
                                     "prior_study": f"s{prior[study]}" if study in prior else None,
                                     "chexpert": chexpert.get(study), "negbio": negbio.get(study)}) else 0
    if masks:
        conv.notes.append(f"{masks} ___ de-identification blank(s) kept as ___")
    if meta_csv is None:
        conv.notes.append("no metadata CSV: views from the DICOM headers or file names, no prior studies")
    note_split_counts(conv)
    return conv
