"""CT-RATE (chest CT volumes with reports and 18 abnormality labels) as distributed.

Layout, under ``dataset/``:

- volumes ``{train,valid}/train_N/train_N_a/train_N_a_1.nii.gz``: patient ``train_N``, scan ``a``,
  reconstruction ``1`` (``_a_1``, ``_a_2`` are reconstructions of one scan, ``_b_`` another scan of
  the same patient);
- ``radiology_text_reports/{train,validation}_reports.csv``: ``VolumeName, ClinicalInformation_EN,
  Technique_EN, Findings_EN, Impressions_EN``;
- ``multi_abnormality_labels/*_predicted_labels.csv``: ``VolumeName`` and 18 abnormalities (0/1);
- ``metadata/*_metadata.csv``: ``VolumeName``, ``XYSpacing`` (``[0.75, 0.75]``), ``ZSpacing``,
  ``RescaleSlope``, ``RescaleIntercept`` ...

The NIfTI headers of the release do not hold the true spacing and scaling: each image entry
carries the metadata's ``spacing`` ``[ZSpacing, XYSpacing]`` and ``rescale`` ``{slope, intercept}``,
which :func:`medmllm.io.load_image` applies, so a loaded volume is in HU with the true spacing. A
volume without a metadata row is skipped (its HU would be wrong). One record per volume
(``--reconstructions first`` keeps one per scan); the labels go to ``meta.ct_labels``
(keys of :data:`medmllm.findings.CT_LABELS`). Splits: ``valid`` is the test set of the published
results (CT-CLIP, CT-CHAT); 10 % of the training patients (by a hash) are ``val``.
"""

from __future__ import annotations

import re
from pathlib import Path

from medmllm.data.formats.common import (Conversion, check_split_option, hash_split, image_problem, note_split_counts,
                                         read_csv_rows, require_columns, wanted_split)
from medmllm.data.formats.public import add_report_record, check_target
from medmllm.data.formats.sections import is_empty, tidy
from medmllm.errors import InputError
from medmllm.findings import CT_LABELS
from medmllm.registry import FORMATS

NAME = re.compile(r"^(?P<split>train|valid)_(?P<n>\d+)_(?P<scan>[a-z]+)_(?P<rec>\d+)$")
SPLIT_OF_FOLDER = {"train": "train", "valid": "test"}
RECONSTRUCTIONS = ("all", "first")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _stem(name: str) -> str:
    return name[:-7] if name.endswith(".nii.gz") else name.removesuffix(".nii")


def _rows(folder: Path, what: str, columns: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """VolumeName stem -> row, over every CSV in ``folder``."""
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise InputError(folder, f"no {what} CSV files")
    out = {}
    for f in files:
        header, rows = read_csv_rows(f)
        require_columns(f, header, columns)
        out.update({_stem(r["VolumeName"].strip()): r for r in rows})
    return out


def _geometry(row: dict[str, str]) -> tuple[list[float], dict[str, float]] | None:
    """``([z, row, col] mm, {slope, intercept})`` of a metadata row, or None when unusable."""
    try:
        xy = [float(v) for v in _NUMBER.findall(row["XYSpacing"])]
        z = float(row["ZSpacing"])
        slope, inter = float(row["RescaleSlope"]), float(row["RescaleIntercept"])
    except ValueError:
        return None
    if len(xy) == 1:
        xy = xy * 2
    spacing = [z, *xy]
    if len(spacing) != 3 or not all(s > 0 for s in spacing) or slope == 0:
        return None
    return spacing, {"slope": slope, "intercept": inter}


def _ct_labels(row: dict[str, str] | None, where: str) -> dict[str, int] | None:
    if row is None:
        return None
    out = {}
    for key, column in CT_LABELS.items():
        v = str(row.get(column, "")).strip()
        if v not in ("0", "1", "0.0", "1.0"):
            raise InputError(where, f"label '{column}' = {v!r}; expected 0 or 1")
        out[key] = int(float(v))
    return out


@FORMATS.register("ct-rate")
def convert_ct_rate(src: str | Path, *, split: str | None = None, check_images: bool = True,
                    target: str = "findings", context: bool = True, reconstructions: str = "all") -> Conversion:
    """Convert CT-RATE.

    Args:
        src: the folder holding ``dataset/`` (or ``dataset/`` itself).
        split: keep only this split (default: all).
        check_images: skip volumes whose file does not exist.
        target: ``findings`` (default) or ``findings-impression``.
        context: put the clinical information in the prompt as clinical context.
        reconstructions: ``all`` (default: one record per volume) or ``first`` (one per scan).

    Returns:
        The records and the count of skipped volumes per reason.
    """
    src = Path(src)
    root = src / "dataset" if (src / "dataset").is_dir() else src
    check_target(target)
    check_split_option(split)
    if reconstructions not in RECONSTRUCTIONS:
        raise InputError(None, f"--reconstructions: '{reconstructions}' is not one of {', '.join(RECONSTRUCTIONS)}")
    reports = _rows(root / "radiology_text_reports", "report", ("VolumeName", "Findings_EN", "Impressions_EN"))
    metadata = _rows(root / "metadata", "metadata", ("VolumeName", "XYSpacing", "ZSpacing", "RescaleSlope",
                                                     "RescaleIntercept"))
    labels = _rows(root / "multi_abnormality_labels", "label", ("VolumeName", *CT_LABELS.values()))
    on_disk = {_stem(p.name) for folder in SPLIT_OF_FOLDER for p in (root / folder).glob("*/*/*.nii*")}
    conv = Conversion(image_root=root)
    done_scans: set[str] = set()
    names = sorted(set(reports) | on_disk, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])
    for name in names:
        m = NAME.match(name)
        if m is None:
            conv.skip("volume name is not split_N_scan_reconstruction", name)
            continue
        patient, scan = f"{m['split']}_{m['n']}", f"{m['split']}_{m['n']}_{m['scan']}"
        rel = f"{m['split']}/{patient}/{scan}/{name}.nii.gz"
        rec_split = SPLIT_OF_FOLDER[m["split"]] if m["split"] == "valid" else hash_split(patient, val=0.1, test=0.0)
        if not wanted_split(conv, split, rec_split, name):
            continue
        if reconstructions == "first" and scan in done_scans:
            conv.skip("another reconstruction of the scan (--reconstructions first)", name)
            continue
        if name not in reports:
            conv.skip("no report row", name)
            continue
        why = image_problem(root, rel, check_images)
        if why:
            conv.skip(why, name)
            continue
        geometry = _geometry(metadata[name]) if name in metadata else None
        if geometry is None:
            conv.skip("no usable metadata row (spacing / rescale unknown)", name)
            continue
        row = reports[name]
        info = tidy(row.get("ClinicalInformation_EN"))
        spacing, rescale = geometry
        added = add_report_record(
            conv, sid=name, patient_id=patient, split=rec_split,
            images=[{"modality": "ct", "path": rel, "format": "nifti", "spacing": spacing, "rescale": rescale}],
            findings=tidy(row.get("Findings_EN")), impression=tidy(row.get("Impressions_EN")), target=target,
            context=info if context and not is_empty(info) else None,
            sections={k: v for k, v in (("indication", info), ("technique", tidy(row.get("Technique_EN"))))
                      if not is_empty(v)},
            meta={"source": "ct-rate", "scan": scan, "reconstruction": int(m["rec"]),
                  "ct_labels": _ct_labels(labels.get(name), f"{name} labels")})
        if added:
            done_scans.add(scan)
    no_labels = sum(r["meta"]["ct_labels"] is None for r in conv.records)
    if no_labels:
        conv.notes.append(f"{no_labels} record(s) without a row in multi_abnormality_labels (meta.ct_labels null)")
    note_split_counts(conv)
    return conv
