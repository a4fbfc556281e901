"""iu-xray: the OpenI release layout (ecgen-radiology/*.xml + NLMCXR_png/), masks, MeSH, skips, split rule."""

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from medmllm.data.formats.common import hash_split
from medmllm.data.formats.iu_mesh import mesh_chexpert
from medmllm.data.formats.iu_xray import convert_iu_xray
from medmllm.data.schema import check_manifest, read_manifest
from medmllm.io.writers import write_png


def report_xml(uid, sections, images, major=(), automatic=()):
    """One report as OpenI ships it (trimmed of journal boilerplate, which the converter ignores)."""
    abstract = "".join(f'<AbstractText Label="{k}">{v}</AbstractText>' if v is not None else
                       f'<AbstractText Label="{k}"/>' for k, v in sections.items())
    mesh = "".join(f"<major>{m}</major>" for m in major) + "".join(f"<automatic>{a}</automatic>" for a in automatic)
    parents = "".join(f'<parentImage id="{i}"><figureId>F{n + 1}</figureId><caption>Xray Chest PA and Lateral'
                      f'</caption><panel type="single"><url>/hadoop/storage/radiology/extract/{i}.jpg</url>'
                      f'</panel></parentImage>' for n, i in enumerate(images))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<eCitation><meta type="rr"/><uId id="{uid}"/>'
            f'<pmcId id="{uid[3:]}"/><docSource>CXR</docSource><IUXRId id="{uid[3:]}"/>'
            f'<MedlineCitation Owner="Indiana University" Status="supplied by publisher"><Article PubModel="Electronic">'
            f'<ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle><Abstract>{abstract}</Abstract>'
            f'<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Kohli</LastName></Author></AuthorList>'
            f'</Article></MedlineCitation><MeSH>{mesh}</MeSH>{parents}</eCitation>\n')


@pytest.fixture(scope="module")
def openi(tmp_path_factory):
    root = tmp_path_factory.mktemp("openi")
    xml, png = root / "ecgen-radiology", root / "NLMCXR_png"
    xml.mkdir()
    cases = {
        1: ("CXR1", {"COMPARISON": "None.", "INDICATION": "Positive TB test",
                     "FINDINGS": "The cardiac silhouette and mediastinum size are within normal limits. There are no "
                                 "XXXX of a pleural effusion.",
                     "IMPRESSION": "Normal chest x-XXXX."},
            ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"], ["normal"], []),
        2: ("CXR2", {"COMPARISON": "XXXX", "INDICATION": "XXXX-year-old male, chest pain.",
                     "FINDINGS": "Borderline cardiomegaly. Left basilar atelectasis. Old left rib fracture.",
                     "IMPRESSION": "Borderline cardiomegaly."},
            ["CXR2_IM-0652-1001"], ["Cardiomegaly/borderline", "Pulmonary Atelectasis/base/left", "Opacity/ribs/left"],
            ["Fractures, Bone/ribs/left/healed"]),
        3: ("CXR3", {"COMPARISON": None, "INDICATION": None, "FINDINGS": None, "IMPRESSION": "No active disease."},
            ["CXR3_1_IM-1384-1001", "CXR3_1_IM-1384-2001"], ["normal"], []),
        4: ("CXR4", {"FINDINGS": "Clear lungs.", "IMPRESSION": "Normal."}, [], ["normal"], []),
        5: ("CXR5", {"FINDINGS": "Clear lungs.", "IMPRESSION": "Normal."}, ["CXR5_missing"], ["normal"], []),
        10: ("CXR10", {"FINDINGS": "XXXX XXXX.", "IMPRESSION": "Stable."}, ["CXR10_IM-0002-1001"], ["No Indexing"], []),
    }
    for n, (uid, sec, imgs, major, auto) in cases.items():
        (xml / f"{n}.xml").write_text(report_xml(uid, sec, imgs, major, auto), encoding="utf-8")
        for k, i in enumerate(imgs):
            if "missing" not in i:
                write_png(np.full((12, 10), 0.2 + 0.3 * k), png / f"{i}.png")
    (xml / "11.xml").write_text("<eCitation><uId id='CXR11'>", encoding="utf-8")
    return root


def test_convert_openi_release(openi):
    conv = convert_iu_xray(openi)
    assert conv.converted == 2 and conv.num_skipped == 5
    assert conv.skipped == Counter({"no findings section (--target findings)": 2, "no images (no parentImage)": 1,
                                    "image file not found": 1, "report XML is not valid XML": 1})
    assert conv.examples["no findings section (--target findings)"] == ["CXR3", "CXR10"]  # CXR10: masks only
    assert conv.image_root == openi / "NLMCXR_png"
    r1, r2 = conv.records
    assert r1["id"] == "CXR1" and r1["patient_id"] == "CXR1"
    assert [im["path"] for im in r1["images"]] == ["CXR1_1_IM-0001-3001.png", "CXR1_1_IM-0001-4001.png"]
    assert r1["messages"][0]["content"] == ("<xray>\n<xray>\nClinical information:\nPositive TB test\n\n"
                                            "Write the radiology report.")
    assert r1["messages"][1]["content"] == ("The cardiac silhouette and mediastinum size are within normal limits. "
                                            "There are no XXXX of a pleural effusion.")
    assert r1["report"]["impression"] == "Normal chest x-XXXX."
    assert r1["meta"]["sections"] == {"comparison": "None.", "indication": "Positive TB test"}
    assert r1["meta"]["chexpert"]["No Finding"] == 1 and sum(r1["meta"]["chexpert"].values()) == 1
    chex = r2["meta"]["chexpert"]
    assert {k for k, v in chex.items() if v == 1} == {"Cardiomegaly", "Atelectasis", "Lung Opacity"}  # rib opacity: not lung
    assert r2["meta"]["mesh"]["automatic"] == ["Fractures, Bone/ribs/left/healed"]
    assert "comparison" not in r2["meta"]["sections"]  # "XXXX" alone is empty
    assert r2["messages"][0]["content"].startswith("<xray>\nClinical information:\nXXXX-year-old male, chest pain.\n")
    assert any(n.startswith("4 XXXX de-identification mask") for n in conv.notes)
    assert "CheXpert labels from MeSH for 2 of 2 record(s) (the others: 'No Indexing')" in conv.notes


def test_target_findings_impression_and_no_context(openi):
    conv = convert_iu_xray(openi, target="findings-impression", context=False, split="test")
    assert conv.converted == 4 and {r["split"] for r in conv.records} == {"test"}
    by = {r["id"]: r for r in conv.records}
    assert by["CXR3"]["messages"][1]["content"] == "Impression: No active disease."
    assert by["CXR10"]["messages"][1]["content"] == "Impression: Stable."  # findings of masks only left out
    assert by["CXR1"]["messages"][1]["content"].startswith("Findings: The cardiac")
    assert by["CXR1"]["messages"][1]["content"].endswith("\nImpression: Normal chest x-XXXX.")
    assert "Clinical information" not in by["CXR1"]["messages"][0]["content"]
    assert by["CXR10"]["meta"]["chexpert"] is None


def test_split_rule_is_70_10_20_by_report():
    counts = Counter(hash_split(f"CXR{i}", val=0.1, test=0.2) for i in range(1, 4001))
    assert 0.67 < counts["train"] / 4000 < 0.73 and 0.08 < counts["val"] / 4000 < 0.12
    assert 0.17 < counts["test"] / 4000 < 0.23
    assert hash_split("CXR1", val=0.1, test=0.2) == hash_split("CXR1", val=0.1, test=0.2)
    with pytest.raises(ValueError):
        hash_split("x", val=0.15)


def test_mesh_mapping():
    assert mesh_chexpert(["No Indexing"]) is None
    assert mesh_chexpert(["Pleural Effusion/right/small", "Costophrenic Angle/left/blunted"])["Pleural Effusion"] == 1
    m = mesh_chexpert(["Nodule/breast/left", "Calcified Granuloma/lung/upper lobe/right"])
    assert m["Lung Lesion"] == 0 and m["No Finding"] == 1
    assert mesh_chexpert(["Pulmonary Congestion/mild"])["Edema"] == 1


def test_cli_to_validated_manifest(openi, tmp_path, cli):
    out = tmp_path / "iu.jsonl"
    r = cli("prepare", "iu-xray", openi, "--out", out)
    assert r.code == 0, r
    assert r.out.splitlines()[0] == "converted 2, skipped 5"
    assert "  skipped 2: no findings section (--target findings) (e.g. CXR3, CXR10)" in r.out
    recs = read_manifest(out)
    assert [x["split"] for x in recs] == [hash_split(x["patient_id"], val=0.1, test=0.2) for x in recs]
    assert json.loads((tmp_path / "iu.jsonl.meta.json").read_text())["image_root"].endswith("NLMCXR_png")
    assert check_manifest(out).ok
    assert cli("validate-data", out).code == 0
    r = cli("prepare", "iu-xray", openi, "--out", out, "--xray-view", "PA")
    assert r.code == 2 and "--xray-view does not apply to format 'iu-xray'" in r.err


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import iu_reference as ref  # the labeler benchmark's MeSH reference and the shared-data path


@pytest.mark.skipif(not ref.dev_path().is_file(), reason="no shared data folder; set MEDMLLM_SHARED")
def test_mesh_labels_agree_with_the_labeler_reference_on_real_reports():
    """The converter's MeSH labels equal the labeler benchmark's reference on every real IU report."""
    rows = [json.loads(line) for line in ref.dev_path().read_text().splitlines() if line.strip()]
    compared = devices = 0
    for row in rows:
        ours = mesh_chexpert(row["mesh"])
        if ours is None:
            assert any(t == "No Indexing" for t in row["mesh"])
            continue
        theirs = ref.reference(row["mesh"])
        assert {o: ours[o] for o in theirs} == theirs, row["id"]
        compared += 1
        devices += ours["Support Devices"]
    assert compared > 1000 and devices > 50  # most reports are indexed; devices are a label of their own
