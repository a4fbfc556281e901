"""CheXpert Plus: ``df_chexpert_plus_*.csv`` (one row per image) with the reports' sections and labels.

Columns used: ``path_to_image`` (``train/patient00001/study1/view1_frontal.jpg``), ``frontal_lateral``
(Frontal / Lateral), ``ap_pa`` (AP / PA / LL ...), ``deid_patient_id``, ``section_findings``,
``section_impression``, ``section_clinical_history`` / ``section_history`` (the clinical context),
``section_comparison``, ``section_technique`` and ``split`` (train / valid). CheXbert labels (the 14
observations, 1.0 / 0.0 / -1.0 / blank) come from columns of the same names when the CSV has them,
else from ``chexbert_labels/impression_fixed.json`` beside it (JSON lines keyed by ``path_to_image``).

One record per study (the rows sharing ``patientNNNNN/studyN``), the view chosen as in ``p2med-dir``
(``--xray-view``); ``--target`` as for MIMIC-CXR. The images are released as PNG while the CSV names
``.jpg`` files: a missing ``.jpg`` whose ``.png`` exists is used and counted. No ``split`` column:
80/10/10 by a hash of the patient.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from medmllm.data.formats.common import (Conversion, check_split_option, find_file, hash_split, image_problem,
                                         note_split_counts, read_csv_rows, require_columns, split_name, wanted_split)
from medmllm.data.formats.p2med_pick import normalise_view, parse_views, pick_xrays
from medmllm.data.formats.public import add_report_record, check_target, chexpert_values
from medmllm.data.formats.sections import is_empty, tidy
from medmllm.errors import InputError
from medmllm.findings import CHEXPERT_LABELS
from medmllm.registry import FORMATS

CONTEXT = ("section_clinical_history", "section_history")
OTHER = {"comparison": "section_comparison", "technique": "section_technique",
         "examination": "section_procedure_comments", "narrative": "section_narrative"}


def _view(row: dict[str, str]) -> str | None:
    if row.get("frontal_lateral", "").strip().lower() == "lateral":
        return "LATERAL"
    return normalise_view(row.get("ap_pa"))


def _chexbert_file(folder: Path) -> dict[str, dict]:
    path = folder / "chexbert_labels" / "impression_fixed.json"
    if not path.is_file():
        return {}
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, f"line {n}: invalid JSON ({e.msg})") from None
            out[str(row.get("path_to_image"))] = chexpert_values(row, f"{path.name}: line {n}")
    return out


def _existing(root: Path, rel: str, check: bool) -> tuple[str, bool]:
    """``(rel, False)``, or ``(its .png twin, True)`` when only that exists (the PNG release under the
    CSV's ``.jpg`` names)."""
    if check and not (root / rel).exists():
        png = PurePosixPath(rel).with_suffix(".png").as_posix()
        if (root / png).is_file():
            return png, True
    return rel, False


@FORMATS.register("chexpert-plus")
def convert_chexpert_plus(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                          check_images: bool = True, xray_view: str | None = None, target: str = "findings",
                          context: bool = True) -> Conversion:
    """Convert CheXpert Plus.

    Args:
        src: the ``df_chexpert_plus_*.csv`` file, or the folder holding it.
        images: the image root of ``path_to_image`` (default: the CSV's folder).
        split: keep only this split (default: all).
        check_images: skip studies whose chosen image file does not exist.
        xray_view: view order (default ``PA,AP,LATERAL``) or ``all``.
        target: ``findings`` (default) or ``findings-impression``.
        context: put the clinical history in the prompt as clinical context.

    Returns:
        The records and the count of skipped studies per reason.
    """
    src = Path(src)
    check_target(target)
    check_split_option(split)
    csv_path = find_file(src, ("df_chexpert_plus_*.csv", "df_chexpert_plus*.csv.gz"), "df_chexpert_plus CSV") \
        if src.is_dir() else src
    header, rows = read_csv_rows(csv_path)
    require_columns(csv_path, header, ("path_to_image", "section_findings", "section_impression"))
    root = Path(images) if images is not None else csv_path.parent
    label_file = {} if any(c in header for c in CHEXPERT_LABELS) else _chexbert_file(csv_path.parent)
    conv = Conversion(image_root=root)
    studies: dict[str, list[dict[str, str]]] = {}
    for n, r in enumerate(rows, start=2):
        if not r["path_to_image"].strip():
            conv.skip("row without path_to_image", f"line {n}")
            continue
        studies.setdefault(PurePosixPath(r["path_to_image"]).parent.as_posix(), []).append(r)
    order = parse_views(xray_view)
    png = 0
    for study, srows in studies.items():
        first = srows[0]
        sid = study.replace("/", "-")
        parts = PurePosixPath(study).parts
        patient = first.get("deid_patient_id") or next((p for p in parts if p.startswith("patient")), sid)
        name = split_name(first.get("split")) if "split" in header else hash_split(patient)
        if name is None:
            conv.skip(f"unknown split '{first.get('split')}'", sid)
            continue
        if not wanted_split(conv, split, name, sid):
            continue
        views = {Path(r["path_to_image"]): _view(r) for r in srows}
        picked, why = pick_xrays(list(views), views=order, view_of=views.get)
        found = [_existing(root, p.as_posix(), check_images) for p, _ in picked]
        rels = [r for r, _ in found]
        bad = next((w for w in (image_problem(root, r, check_images) for r in rels) if w), None)
        if bad:
            conv.skip(bad, sid)
            continue
        text = {k: tidy(first.get(k)) for k in header if k.startswith("section_")}
        history = " ".join(text[k] for k in CONTEXT if not is_empty(text.get(k)))
        labels_row = next((r for r in srows if Path(r["path_to_image"]) == picked[0][0]), first)
        chexpert = chexpert_values(labels_row, f"{csv_path.name}: {labels_row['path_to_image']}") \
            or label_file.get(labels_row["path_to_image"])
        added = add_report_record(
            conv, sid=sid, patient_id=str(patient), split=name,
            images=[{"modality": "xray", "path": r, **({"view": v} if v else {})} for r, (_, v) in zip(rels, picked)],
            findings=text.get("section_findings", ""), impression=text.get("section_impression", ""), target=target,
            context=history if context and history else None,
            sections={k: text[c] for k, c in OTHER.items() if not is_empty(text.get(c))},
            meta={"source": "chexpert-plus", "picked": why, "chexpert": chexpert})
        png += sum(twin for _, twin in found) if added else 0
    if png:
        conv.notes.append(f"{png} image(s) named .jpg in the CSV found as .png (the PNG release)")
    note_split_counts(conv)
    return conv
