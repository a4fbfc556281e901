"""chexpert-plus: df_chexpert_plus CSV (one row per image), sections, views, chexbert labels, .jpg -> .png."""

import csv
import json
from collections import Counter

import numpy as np
import pytest

from medmllm.data.formats.chexpert_plus import convert_chexpert_plus
from medmllm.data.schema import check_manifest
from medmllm.findings import CHEXPERT_LABELS
from medmllm.io.writers import write_jpeg, write_png

COLS = ["path_to_image", "path_to_dcm", "frontal_lateral", "ap_pa", "deid_patient_id", "patient_report_date_order",
        "report", "section_narrative", "section_clinical_history", "section_history", "section_comparison",
        "section_technique", "section_procedure_comments", "section_findings", "section_impression",
        "section_end_of_impression", "section_summary", "section_accession_number", "age", "sex", "race",
        "ethnicity", "interpreter_needed", "insurance_type", "recent_bmi", "deceased", "split"]
ROWS = [  # path, frontal_lateral, ap_pa, patient, history, findings, impression, split, stored as, labels
    ("train/patient00001/study1/view1_frontal.jpg", "Frontal", "AP", "pt-1", "Shortness of breath.",
     "Heart size is enlarged.\nSmall right effusion.", "Cardiomegaly.", "train", "png",
     {"Cardiomegaly": "1.0", "Pleural Effusion": "-1.0"}),
    ("train/patient00001/study1/view2_lateral.jpg", "Lateral", "LL", "pt-1", "Shortness of breath.",
     "Heart size is enlarged.\nSmall right effusion.", "Cardiomegaly.", "train", "png", {}),
    ("train/patient00002/study1/view1_frontal.jpg", "Frontal", "PA", "pt-2", "", "", "No acute disease.", "train",
     "jpg", {"No Finding": "1.0"}),
    ("valid/patient64541/study1/view1_frontal.jpg", "Frontal", "PA", "pt-3", "Fever.", "Lungs are clear.",
     "Normal chest.", "valid", "jpg", {"No Finding": "1.0", "Support Devices": "0.0"}),
    ("train/patient00004/study1/view1_frontal.jpg", "Frontal", "AP", "pt-4", "", "Clear.", "Normal.", "train", None, {}),
    ("", "Frontal", "AP", "pt-5", "", "Clear.", "Normal.", "train", None, {}),
]


def make(root, labels_in_csv=True):
    header = COLS + (list(CHEXPERT_LABELS) if labels_in_csv else [])
    with open(root / "df_chexpert_plus_240401.csv", "w", newline="") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        for path, fl, ap, pt, hist, fi, im, split, stored, labels in ROWS:
            row = dict.fromkeys(header, "")
            row.update(path_to_image=path, frontal_lateral=fl, ap_pa=ap, deid_patient_id=pt,
                       section_clinical_history=hist, section_findings=fi, section_impression=im, split=split,
                       report=f"FINDINGS: {fi} IMPRESSION: {im}")
            if labels_in_csv:
                row.update(labels)
            w.writerow(row)
            if stored == "png":
                write_png(np.full((8, 8), 0.5), root / path.replace(".jpg", ".png"))
            elif stored == "jpg":
                write_jpeg(np.full((8, 8), 0.5), root / path)
    if not labels_in_csv:
        (root / "chexbert_labels").mkdir()
        (root / "chexbert_labels" / "impression_fixed.json").write_text("\n".join(
            json.dumps({"path_to_image": r[0], **{k: float(v) for k, v in r[9].items()}}) for r in ROWS))
    return root


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return make(tmp_path_factory.mktemp("chexpert-plus"))


def test_convert_release(release):
    conv = convert_chexpert_plus(release)
    assert conv.converted == 2 and conv.skipped == Counter({"no findings section (--target findings)": 1,
                                                            "image file not found": 1, "row without path_to_image": 1})
    r1, r2 = conv.records
    assert r1["id"] == "train-patient00001-study1" and r1["patient_id"] == "pt-1" and r1["split"] == "train"
    assert r1["images"] == [{"modality": "xray", "path": "train/patient00001/study1/view1_frontal.png", "view": "AP"}]
    assert r1["messages"] == [
        {"role": "user", "content": "<xray>\nClinical information:\nShortness of breath.\n\nWrite the radiology report."},
        {"role": "assistant", "content": "Heart size is enlarged. Small right effusion."}]
    assert {k: v for k, v in r1["meta"]["chexpert"].items() if v is not None} == {"Cardiomegaly": 1,
                                                                                   "Pleural Effusion": -1}
    assert r2["split"] == "val" and r2["images"][0]["view"] == "PA" and r2["images"][0]["path"].endswith(".jpg")
    assert "1 image(s) named .jpg in the CSV found as .png (the PNG release)" in conv.notes
    assert "split counts: train 1, val 1, test 0" in conv.notes
    both = convert_chexpert_plus(release / "df_chexpert_plus_240401.csv", xray_view="all")
    assert [im["view"] for im in both.records[0]["images"]] == ["AP", "LATERAL"]


def test_labels_from_chexbert_file(tmp_path, cli):
    root = make(tmp_path, labels_in_csv=False)
    conv = convert_chexpert_plus(root, target="findings-impression")
    assert conv.converted == 4 - 1  # patient00004's image is missing
    by = {r["id"]: r for r in conv.records}
    assert by["valid-patient64541-study1"]["meta"]["chexpert"]["Support Devices"] == 0
    assert by["train-patient00002-study1"]["messages"][1]["content"] == "Impression: No acute disease."
    out = tmp_path / "m.jsonl"
    assert cli("prepare", "chexpert-plus", root, "--out", out, "--split", "val").code == 0
    assert check_manifest(out).ok and check_manifest(out).splits == Counter({"val": 1})
