"""R2Gen ``annotation.json``: the splits of IU X-ray and MIMIC-CXR that most report-generation papers use.

R2Gen (Chen et al., 2020) published one ``annotation.json`` per dataset; R2GenCMN, R2GenGPT,
PromptMRG and many others train and test on exactly these splits, so results are comparable with
the published tables only on them. The file is ``{"train": [...], "val": [...], "test": [...]}``:

- IU X-ray: ``{"id": "CXR2384_IM-0942", "report": "...", "image_path": ["CXR2384_IM-0942/0.png",
  "CXR2384_IM-0942/1.png"], "split": "train"}`` (two images per report, under ``iu_xray/images/``);
- MIMIC-CXR: ``{"id": <dicom_id>, "study_id": 50414267, "subject_id": 10000032, "report": "...",
  "image_path": ["p10/p10000032/s50414267/<dicom_id>.jpg"], "split": "train"}`` (one entry per image).

Each entry becomes one record, in the file's split and with its images in the file's order; the
report text is the target exactly as written (the references of the published tables). The patient
is ``subject_id`` (MIMIC) or the report number (``CXR2384``, IU). The counts per split are printed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from medmllm.data.formats.common import (Conversion, check_split_option, images_ok, note_split_counts, read_json,
                                         split_name, unique_ids, wanted_split)
from medmllm.data.formats.public import add_report_record
from medmllm.data.formats.sections import is_empty, tidy
from medmllm.errors import InputError
from medmllm.registry import FORMATS


def _patient(item: dict, sid: str) -> str:
    if item.get("subject_id") not in (None, ""):
        return f"p{item['subject_id']}"
    return sid.split("_")[0]  # IU: CXR2384_IM-0942 -> CXR2384


@FORMATS.register("r2gen")
def convert_r2gen(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                  check_images: bool = True) -> Conversion:
    """Convert an R2Gen ``annotation.json`` (IU X-ray or MIMIC-CXR).

    Args:
        src: the ``annotation.json``.
        images: the image root of ``image_path`` (default: ``images/`` beside the file, else its folder).
        split: keep only this split (default: all three).
        check_images: skip entries whose image file does not exist.

    Returns:
        The records and the count of skipped entries per reason.
    """
    src = Path(src)
    check_split_option(split)
    data = read_json(src)
    if not isinstance(data, dict) or not any(k in data for k in ("train", "val", "test")):
        raise InputError(src, "expected R2Gen's annotation.json: an object with train / val / test lists")
    root = Path(images) if images is not None else (src.parent / "images" if (src.parent / "images").is_dir()
                                                    else src.parent)
    conv = Conversion(image_root=root)
    given: Counter = Counter()
    for key, items in data.items():
        name = split_name(key)
        if name is None or not isinstance(items, list):
            conv.notes.append(f"ignored top-level key '{key}' (not a split list)")
            continue
        for n, item in enumerate(items, start=1):
            given[name] += 1
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                conv.skip("entry is not an object with an id", f"{key}#{n}")
                continue
            sid = str(item["id"])
            if not wanted_split(conv, split, name, sid):
                continue
            paths = item.get("image_path")
            if isinstance(paths, str):
                paths = [paths]
            if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
                conv.skip("no image_path", sid)
                continue
            report = tidy(item.get("report"))
            if is_empty(report):
                conv.skip("empty report", sid)
                continue
            if not images_ok(conv, root, paths, sid, check_images):
                continue
            meta = {"source": "r2gen", "r2gen_split": key}
            if item.get("study_id") not in (None, ""):
                meta["study"] = f"s{item['study_id']}"
            add_report_record(conv, sid=sid, patient_id=_patient(item, sid), split=name,
                              images=[{"modality": "xray", "path": p} for p in paths], findings=report,
                              impression="", target="findings", meta=meta)
    unique_ids(conv)
    conv.notes.append("annotation.json holds " + ", ".join(f"{s} {given.get(s, 0)}" for s in ("train", "val", "test")))
    note_split_counts(conv)
    return conv
