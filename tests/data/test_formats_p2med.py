"""The hospital case-folder converter: series / view choice, Chinese headers, scrubbing, skips."""

import json

import numpy as np
import pydicom
import pytest

from medmllm.data.formats.p2med_dir import convert_p2med_dir, parse_report
from medmllm.data.schema import check_manifest, read_manifest, validate_record
from medmllm.io.writers import write_ct_series, write_nifti, write_png, write_xray_dicom

PATIENT = {"name": "Doe^Jane", "id": "MRN-0042"}


def ct_series(folder, slices, thickness, uid, number, coronal=False):
    vol = np.full((slices, 8, 8), -800.0)
    paths = write_ct_series(vol, (thickness, 0.7, 0.7), folder, series_uid=uid, study_uid="1.2.3",
                            patient=PATIENT, description=f"S{number}")
    for i, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        ds.SeriesNumber = number
        if coronal:
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
        ds.save_as(p.with_name(f"s{number}_{i:03d}.dcm"))
        p.unlink()


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    c1 = root / "case_000001"
    write_xray_dicom(np.full((16, 16), 0.5), c1 / "xray" / "a.dcm", view="AP", patient=PATIENT)
    write_xray_dicom(np.full((16, 16), 0.6), c1 / "xray" / "b.dcm", view="PA", patient=PATIENT)
    write_xray_dicom(np.full((16, 16), 0.7), c1 / "xray" / "c.dcm", view="LL", patient=PATIENT)
    ct_series(c1 / "ct", 6, 2.5, "1.2.3.1", 1)
    ct_series(c1 / "ct", 10, 1.25, "1.2.3.2", 2)
    ct_series(c1 / "ct", 12, 1.0, "1.2.3.3", 3, coronal=True)
    ct_series(c1 / "ct", 10, 0.625, "1.2.3.4", 4)
    (c1 / "report.txt").write_text("FINDINGS: Right lower lobe consolidation. Seen by Dr. Smith on 2024-03-05.\n\n"
                                   "IMPRESSION: Right lower lobe pneumonia. Call 555-123-4567.\n")
    (c1 / "record.json").write_text(json.dumps({
        "patient_id": "MRN-0042", "age_months": 38, "sex": "F", "split": "train",
        "outpatient": "Mrs. Jane Doe brought her daughter, MRN 99887766, fever for 3 days.",
        "inpatient": "Admitted 05/03/2024.", "diagnosis": "Pneumonia", "labels": {"consolidation:RLL": 1,
                                                                                 "normal": 0}}))
    c2 = root / "case_000002"
    write_png(np.full((16, 12), 0.4), c2 / "xray" / "chest_lat.png")
    write_png(np.full((16, 12), 0.5), c2 / "xray" / "chest_ap.png")
    write_nifti(np.full((5, 8, 8), 40.0), (3.0, 0.8, 0.8), c2 / "ct" / "ct.nii.gz")
    (c2 / "report.txt").write_text("所见：\n患者张三，男，5岁。双肺纹理增多，右肺下叶见片状影。\n印象：右下肺炎。\n", encoding="utf-8")
    (c2 / "record.json").write_text(json.dumps({"age_months": 62, "sex": "M",
                                                "outpatient": "姓名：李四，住院号：12345678，咳嗽3天。"},
                                               ensure_ascii=False), encoding="utf-8")
    c3 = root / "case_000003"
    ct_series(c3 / "ct", 4, 2.0, "1.2.4.1", 7)
    (c3 / "report.txt").write_text("影像所见：双肺清晰。\n诊断：未见异常。", encoding="utf-8")
    (root / "case_000004" / "xray").mkdir(parents=True)
    write_png(np.zeros((8, 8)), root / "case_000004" / "xray" / "x.png")
    c5 = root / "case_000005"
    c5.mkdir()
    (c5 / "report.txt").write_text("Findings: normal.")
    (c5 / "record.json").write_text("{not json")
    c6 = root / "case_000006"
    c6.mkdir()
    (c6 / "report.txt").write_text("Findings: normal.")
    (root / "notes").mkdir()
    return root


def test_parse_report_headers():
    assert parse_report("Findings: A.\nImpression: B.") == (
        {"findings": "A.", "impression": "B.", "language": "en"}, True)
    assert parse_report("所见：甲。印象：乙。")[0] == {"findings": "甲。", "impression": "乙。", "language": "zh"}
    assert parse_report("检查所见: 甲\n诊断意见：乙")[0] == {"findings": "甲", "impression": "乙", "language": "zh"}
    assert parse_report("Just text.") == ({"findings": "Just text.", "impression": "", "language": "en"}, False)


def test_convert_cases(hospital):
    conv = convert_p2med_dir(hospital, split="train")
    lines = conv.summary_lines()
    assert lines[:5] == [
        "converted 3, skipped 4",
        "  skipped 1: no readable X-ray or CT (e.g. case_000006)",
        "  skipped 1: no report.txt (or it is empty) (e.g. case_000004)",
        "  skipped 1: not a case folder (no report.txt, record.json, xray/ or ct/) (e.g. notes)",
        "  skipped 1: record.json is not valid JSON (e.g. case_000005)",
    ]
    assert "  note: ct: picked by the rule in 1 case(s) with several candidates (see meta.picked)" in lines
    assert "  note: xray: picked by the rule in 2 case(s) with several candidates (see meta.picked)" in lines
    recs = {r["id"]: r for r in conv.records}
    assert all(validate_record(r) == [] for r in conv.records)
    r1 = recs["case_000001"]
    # PA over AP over lateral; the axial series with the most slices, then the thinnest
    assert r1["images"] == [{"modality": "xray", "path": "case_000001/xray/b.dcm", "view": "PA"},
                            {"modality": "ct", "path": "case_000001/ct/", "format": "dicom-series",
                             "series": "1.2.3.4"}]
    assert r1["meta"]["picked"] == {
        "xray": "X-ray PA (b.dcm), the best of 3 by the view order PA > AP > LATERAL",
        "ct": "CT series 4 (axial, 10 slices, 0.62 mm), the best of 4 by the rule (axial, most slices, thinnest)"}
    assert r1["split"] == "train" and r1["patient"] == {"age_months": 38, "sex": "F"}
    assert r1["patient_id"].startswith("p-") and "0042" not in r1["patient_id"]
    assert r1["report"] == {"findings": "Right lower lobe consolidation. Seen by Dr. [NAME] on [DATE].",
                            "impression": "Right lower lobe pneumonia. Call [PHONE].", "language": "en"}
    assert r1["records"] == {"outpatient": "Mrs. [NAME] brought her daughter, MRN [ID], fever for 3 days.",
                             "inpatient": "Admitted [DATE]."}
    assert r1["labels"] == {"consolidation:RLL": 1, "normal": 0}
    assert r1["messages"][0]["content"] == (
        "<xray>\n<ct>\nPatient: 3 years 2 months old, female.\nOutpatient record: Mrs. [NAME] brought her "
        "daughter, MRN [ID], fever for 3 days.\nInpatient record: Admitted [DATE].\nWrite the radiology report.")
    assert r1["messages"][1] == {"role": "assistant", "content": "Findings: Right lower lobe consolidation. Seen "
                                 "by Dr. [NAME] on [DATE].\nImpression: Right lower lobe pneumonia. Call [PHONE]."}
    blob = json.dumps(conv.records, ensure_ascii=False)
    for ident in ("Doe", "Smith", "99887766", "2024", "555-123", "张三", "李四", "12345678", "MRN-0042"):
        assert ident not in blob
    r2 = recs["case_000002"]
    assert r2["images"] == [{"modality": "xray", "path": "case_000002/xray/chest_ap.png", "view": "AP"},
                            {"modality": "ct", "path": "case_000002/ct/ct.nii.gz", "format": "nifti"}]
    assert r2["report"] == {"findings": "患者[NAME]，男，5岁。双肺纹理增多，右肺下叶见片状影。", "impression": "右下肺炎。",
                            "language": "zh"}
    assert r2["messages"][0]["content"] == ("<xray>\n<ct>\n患者：5岁2月，男。\n门诊病历：姓名：[NAME]，住院号：[ID]，咳嗽3天。\n"
                                            "请撰写放射学报告。")
    assert r2["messages"][1]["content"] == "所见：患者[NAME]，男，5岁。双肺纹理增多，右肺下叶见片状影。\n印象：右下肺炎。"
    r3 = recs["case_000003"]
    assert r3["images"] == [{"modality": "ct", "path": "case_000003/ct/", "format": "dicom-series"}]
    assert r3["report"]["impression"] == "未见异常。" and r3["patient_id"] == "case_000003"


def test_overrides_and_keep_text(hospital):
    conv = convert_p2med_dir(hospital, split="val", keep_text=True, ct_series="1.2.3.1", xray_view="AP,PA")
    r1 = next(r for r in conv.records if r["id"] == "case_000001")
    assert r1["images"][0]["view"] == "AP" and r1["images"][1]["series"] == "1.2.3.1"
    assert r1["meta"]["picked"]["ct"] == "CT series 1 (axial, 6 slices, 2.50 mm) as requested"
    assert "Dr. Smith" in r1["report"]["findings"]
    assert "  note: text kept as is (--keep-text): identifiers were not scrubbed" in conv.summary_lines()
    thin = convert_p2med_dir(hospital, ct_prefer="thinnest", xray_view="all")
    r1 = next(r for r in thin.records if r["id"] == "case_000001")
    assert [i.get("view") for i in r1["images"]] == ["AP", "PA", "LATERAL", None]
    assert r1["images"][3]["series"] == "1.2.3.4"
    assert r1["messages"][0]["content"].startswith("<xray>\n<xray>\n<xray>\n<ct>\n")


def test_cli_auto_split_and_validate(hospital, tmp_path, cli):
    out = tmp_path / "cases.jsonl"
    r = cli("prepare", "p2med-dir", hospital, "--out", out)
    assert r.code == 0, r
    assert r.out.startswith("converted 3, skipped 4\n")
    recs = read_manifest(out)
    assert {x["split"] for x in recs} <= {"train", "val", "test"}
    assert recs[0]["split"] == "train"  # record.json's own split wins over auto
    res = check_manifest(out)
    assert res.ok, res.problems
