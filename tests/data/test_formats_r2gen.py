"""r2gen: R2Gen's annotation.json for IU X-ray and MIMIC-CXR, the paper split kept exactly."""

import json
from collections import Counter

import numpy as np
import pytest

from medmllm.data.formats.r2gen import convert_r2gen
from medmllm.data.schema import check_manifest, read_manifest
from medmllm.io.writers import write_jpeg, write_png

IU_SPLITS = {"train": 5, "val": 2, "test": 3}


@pytest.fixture(scope="module")
def iu(tmp_path_factory):
    """data/iu_xray/annotation.json + images/CXRn_IM-xxxx/{0,1}.png, R2Gen's layout (a few cases per split)."""
    root = tmp_path_factory.mktemp("r2gen") / "iu_xray"
    ann = {}
    n = 1
    for split, count in IU_SPLITS.items():
        ann[split] = []
        for _ in range(count):
            sid = f"CXR{2380 + n}_IM-{940 + n:04d}"
            ann[split].append({"id": sid, "report": f"The heart is normal in size. Case {n} of XXXX.",
                               "image_path": [f"{sid}/0.png", f"{sid}/1.png"], "split": split})
            for k in range(2):
                write_png(np.full((8, 8), 0.1 * k + 0.3), root / "images" / sid / f"{k}.png")
            n += 1
    ann["test"][0]["report"] = " "
    ann["train"][1]["image_path"] = [ann["train"][1]["image_path"][0], "CXR9999_IM-0000/1.png"]
    ann["val"].append({"report": "no id"})
    (root / "annotation.json").write_text(json.dumps(ann))
    return root


def test_iu_annotation_keeps_the_paper_split(iu):
    conv = convert_r2gen(iu / "annotation.json")
    assert conv.image_root == iu / "images"
    assert conv.converted == 8 and conv.skipped == Counter({"empty report": 1, "image file not found": 1,
                                                            "entry is not an object with an id": 1})
    assert Counter(r["split"] for r in conv.records) == Counter({"train": 4, "val": 2, "test": 2})
    assert "annotation.json holds train 5, val 3, test 3" in conv.notes
    assert "split counts: train 4, val 2, test 2" in conv.notes
    r = conv.records[0]
    assert r["id"] == "CXR2381_IM-0941" and r["patient_id"] == "CXR2381"
    assert [im["path"] for im in r["images"]] == ["CXR2381_IM-0941/0.png", "CXR2381_IM-0941/1.png"]
    assert r["messages"] == [{"role": "user", "content": "<xray>\n<xray>\nWrite the radiology report."},
                             {"role": "assistant", "content": "The heart is normal in size. Case 1 of XXXX."}]
    only = convert_r2gen(iu / "annotation.json", split="test")
    assert only.converted == 2 and only.skipped["in split train (--split test)"] == 5


def test_mimic_annotation(tmp_path, cli):
    root = tmp_path / "mimic_cxr"
    ann = {"train": [], "val": [], "test": []}
    rows = [("train", 10000032, 50414267, "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"),
            ("train", 10000032, 50414267, "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"),
            ("val", 10000898, 50771383, "fe2a5a14-8a7fa6c5-1b2b5b2b-7e8f3b1c-2a4d9e61"),
            ("test", 10001176, 53186264, "c1a8f9b2-5b7e1c3d-9a2f4e6b-8d0c1e3f-5a7b9c2d")]
    for split, sub, study, dicom in rows:
        path = f"p{str(sub)[:2]}/p{sub}/s{study}/{dicom}.jpg"
        write_jpeg(np.full((8, 8), 0.5), root / "images" / path)
        ann[split].append({"id": dicom, "study_id": study, "subject_id": sub,
                           "report": "There is no focal consolidation, pleural effusion or pneumothorax.",
                           "image_path": [path], "split": split})
    (root / "annotation.json").write_text(json.dumps(ann))
    out = tmp_path / "m.jsonl"
    r = cli("prepare", "r2gen", root / "annotation.json", "--out", out)
    assert r.code == 0, r
    assert "note: split counts: train 2, val 1, test 1" in r.out
    recs = read_manifest(out)
    assert [x["patient_id"] for x in recs] == ["p10000032", "p10000032", "p10000898", "p10001176"]
    assert recs[0]["meta"] == {"source": "r2gen", "r2gen_split": "train", "study": "s50414267", "target": "findings"}
    assert check_manifest(out).ok
