"""mimic-cxr: MIMIC-CXR-JPG / DICOM layout, FINAL REPORT sections, CSVs (gzip or not), views, priors, labels."""

import csv
import gzip
import io
from collections import Counter

import numpy as np
import pytest

from medmllm.data.formats.mimic_cxr import convert_mimic_cxr
from medmllm.data.schema import check_manifest, read_manifest
from medmllm.findings import CHEXPERT_LABELS
from medmllm.io.writers import write_jpeg, write_xray_dicom

REPORT_NEW = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)
 
 INDICATION:  ___F with new onset ascites  // eval for infection
 
 TECHNIQUE:  Chest PA and lateral
 
 COMPARISON:  None.
 
 FINDINGS: 
 
 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows. The
 cardiomediastinal silhouette is normal.
 
 IMPRESSION: 
 
 No acute cardiopulmonary process.
"""
REPORT_OLD = """                                 FINAL REPORT
 HISTORY:  ___-year-old male with chest pain.
 
 FINDINGS:  PA and lateral views of the chest. Heart size is mildly enlarged. Small
 left pleural effusion.
 
 IMPRESSION:  Mild cardiomegaly, small left effusion.
"""
REPORT_NO_FINDINGS = """                                 FINAL REPORT
 PORTABLE CHEST OF ___
 
 IMPRESSION:  Endotracheal tube in standard position. No pneumothorax.
"""
META_COLS = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
             "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
             "PatientOrientationCodeSequence_CodeMeaning"]
# (subject, study, split, [(dicom, ViewPosition)], StudyDate, StudyTime, report or None)
STUDIES = [
    ("10000032", "50414267", "train", [("02aa804e-bde0afdd", "PA"), ("174413ec-4ec4c1f7", "LATERAL")],
     "21800506", "213014.531", REPORT_NEW),
    ("10000032", "53189527", "train", [("2a2277a9-b0ded155", "AP"), ("e084de3b-be89b11e", "LL")],
     "21800626", "165500.312", REPORT_OLD),
    ("10000032", "53911762", "train", [("68b5c4b1-227d0485", "AP")], "21800702", "90000", None),
    ("10000898", "50771383", "validate", [("fe2a5a14-8a7fa6c5", "LATERAL")], "21320408", "104512", REPORT_NEW),
    ("10001176", "53186264", "test", [("c1a8f9b2-5b7e1c3d", "AP")], "21870709", "71800", REPORT_NO_FINDINGS),
    ("10002428", "51234567", "train", [("aaaa1111-bbbb2222", "PA")], "21500101", "120000", REPORT_NEW),
]
MISSING_IMAGE = "aaaa1111-bbbb2222"


def write_csv(path, header, rows, gz):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def make_release(root, dicom=False):
    meta, split = [], []
    for sub, study, sp, images, date, time, report in STUDIES:
        folder = root / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}"
        for dicom_id, view in images:
            split.append([dicom_id, study, sub, sp])
            meta.append([dicom_id, sub, study, "CHEST (PA AND LAT)", view, 3056, 2544, date, time, "", "", ""])
            if dicom_id == MISSING_IMAGE:
                continue
            if dicom:
                write_xray_dicom(np.full((8, 8), 0.5), folder / f"{dicom_id}.dcm", view=view)
            else:
                write_jpeg(np.full((8, 8), 0.5), folder / f"{dicom_id}.jpg")
        if report is not None:
            rep = root / "mimic-cxr-reports" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{study}.txt"
            rep.parent.mkdir(parents=True, exist_ok=True)
            rep.write_text(report)
    write_csv(root / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split, gz=True)
    if not dicom:
        write_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", META_COLS, meta, gz=True)
    labels = {"50414267": {"No Finding": "1.0"},
              "53189527": {"Cardiomegaly": "1.0", "Pleural Effusion": "-1.0", "Pneumothorax": "0.0"}}
    write_csv(root / "mimic-cxr-2.0.0-chexpert.csv", ["subject_id", "study_id", *CHEXPERT_LABELS],
              [[s[0], s[1], *[labels.get(s[1], {}).get(c, "") for c in CHEXPERT_LABELS]] for s in STUDIES], gz=False)
    return root


@pytest.fixture(scope="module")
def jpg(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("mimic-cxr-jpg"))


def test_convert_jpg_release(jpg):
    conv = convert_mimic_cxr(jpg)
    assert conv.converted == 3 and conv.skipped == Counter({"no report file": 1, "image file not found": 1,
                                                            "no findings section (--target findings)": 1})
    by = {r["id"]: r for r in conv.records}
    first, second, val = by["s50414267"], by["s53189527"], by["s50771383"]
    assert first["patient_id"] == "p10000032" and first["split"] == "train" and val["split"] == "val"
    assert first["images"] == [{"modality": "xray", "path": "files/p10/p10000032/s50414267/02aa804e-bde0afdd.jpg",
                                "view": "PA"}]
    assert second["images"][0]["view"] == "AP" and val["images"][0]["view"] == "LATERAL"
    assert first["messages"][0]["content"] == ("<xray>\nClinical information:\n___F with new onset ascites // eval for "
                                               "infection\n\nWrite the radiology report.")
    assert first["messages"][1]["content"] == (
        "There is no focal consolidation, pleural effusion or pneumothorax. Bilateral nodular opacities that most "
        "likely represent nipple shadows. The cardiomediastinal silhouette is normal.")
    assert first["report"]["impression"] == "No acute cardiopulmonary process."
    assert first["meta"]["sections"] == {"examination": "CHEST (PA AND LAT)", "technique": "Chest PA and lateral",
                                         "comparison": "None.",
                                         "indication": "___F with new onset ascites // eval for infection"}
    assert second["meta"]["sections"]["indication"] == "___-year-old male with chest pain."
    assert first["meta"]["prior_study"] is None and second["meta"]["prior_study"] == "s50414267"
    assert first["meta"]["chexpert"]["No Finding"] == 1 and first["meta"]["chexpert"]["Edema"] is None
    assert {k: v for k, v in second["meta"]["chexpert"].items() if v is not None} == {
        "Cardiomegaly": 1, "Pleural Effusion": -1, "Pneumothorax": 0}
    assert first["meta"]["negbio"] is None
    assert "split counts: train 2, val 1, test 0" in conv.notes
    assert any(n.startswith("3 ___ de-identification blank") for n in conv.notes)


def test_views_target_and_split(jpg):
    conv = convert_mimic_cxr(jpg, xray_view="all", target="findings-impression", split="train")
    assert conv.converted == 2 and conv.skipped["in split val (--split train)"] == 1
    first = conv.records[0]
    assert [im["view"] for im in first["images"]] == ["PA", "LATERAL"]
    assert first["messages"][0]["content"].startswith("<xray>\n<xray>\n")
    assert first["messages"][1]["content"].endswith("\nImpression: No acute cardiopulmonary process.")
    test = convert_mimic_cxr(jpg, target="findings-impression", split="test", context=False)
    assert test.records[0]["messages"] == [
        {"role": "user", "content": "<xray>\nWrite the radiology report."},
        {"role": "assistant", "content": "Impression: Endotracheal tube in standard position. No pneumothorax."}]
    lateral_first = convert_mimic_cxr(jpg, xray_view="LATERAL,PA,AP")
    assert lateral_first.records[0]["images"][0]["view"] == "LATERAL"


def test_dicom_release_without_metadata(tmp_path):
    conv = convert_mimic_cxr(make_release(tmp_path / "mimic-cxr", dicom=True))
    assert conv.converted == 3
    first = conv.records[0]
    assert first["images"][0]["path"].endswith("02aa804e-bde0afdd.dcm") and first["images"][0]["view"] == "PA"
    assert first["meta"]["prior_study"] is None
    assert "no metadata CSV: views from the DICOM headers or file names, no prior studies" in conv.notes


def test_cli_to_validated_manifest(jpg, tmp_path, cli):
    out = tmp_path / "mimic.jsonl"
    r = cli("prepare", "mimic-cxr", jpg, "--out", out, "--target", "findings-impression")
    assert r.code == 0, r
    assert r.out.splitlines()[0] == "converted 4, skipped 2"
    recs = read_manifest(out)
    assert Counter(x["split"] for x in recs) == Counter({"train": 2, "val": 1, "test": 1})
    assert check_manifest(out).ok and cli("validate-data", out).code == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    r = cli("prepare", "mimic-cxr", bad, "--out", out)
    assert r.code == 2 and "no report files" in r.err and len(r.err.strip().splitlines()) == 1
