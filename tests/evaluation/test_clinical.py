"""Clinical efficacy metrics against a hand computation, both uncertain policies."""

import pytest

from medmllm.evaluation.clinical import (ce_group, check_reference_labels, clinical_metrics,
                                         plot_per_label_f1)
from medmllm.evaluation.report_metrics import score_reports
from medmllm.findings import CHEXPERT_LABELS, FINDING_KEYS

LABELS = ["A", "B", "C", "D", "E"]
PREDS = [{"A": 1, "B": -1}, {"A": 0, "B": 1}, {"A": 1, "C": 1}, {"B": 0}]
REFS = [{"A": 1, "B": 1, "D": 1}, {"A": 1, "B": -1}, {"A": 0}, {"A": -1, "B": 1}]


def test_uncertain_positive_by_hand():
    # -1 -> 1, None -> 0:
    # A pred 1 0 1 0 / ref 1 1 0 1: tp 1 fp 1 fn 2 -> P 1/2, R 1/3, F1 2/5
    # B pred 1 1 0 0 / ref 1 1 0 1: tp 2 fp 0 fn 1 -> P 1, R 2/3, F1 4/5
    # C pred 0 0 1 0 / ref 0 0 0 0: tp 0 fp 1 fn 0 -> P 0, R n/a, F1 0 (absent from references)
    # D pred 0 0 0 0 / ref 1 0 0 0: tp 0 fp 0 fn 1 -> P 0 (zero_division), R 0, F1 0
    # E nothing anywhere: all None
    g = ce_group(PREDS, REFS, LABELS, "positive")
    per = g["per_label"]
    assert (per["A"]["tp"], per["A"]["fp"], per["A"]["fn"], per["A"]["tn"]) == (1, 1, 2, 0)
    assert per["A"]["precision"] == pytest.approx(1 / 2) and per["A"]["recall"] == pytest.approx(1 / 3)
    assert per["A"]["f1"] == pytest.approx(2 / 5)
    assert (per["B"]["precision"], per["B"]["recall"], per["B"]["f1"]) == pytest.approx((1, 2 / 3, 4 / 5))
    assert (per["C"]["precision"], per["C"]["recall"], per["C"]["f1"], per["C"]["support"]) == (0.0, None, 0.0, 0)
    assert (per["D"]["precision"], per["D"]["recall"], per["D"]["f1"]) == (0.0, 0.0, 0.0)
    assert (per["E"]["precision"], per["E"]["recall"], per["E"]["f1"]) == (None, None, None)
    # micro: tp 3, fp 2, fn 4
    assert g["micro"] == pytest.approx({"precision": 3 / 5, "recall": 3 / 7, "f1": 6 / 12})
    # macro over the labels present in the references: A, B, D
    assert g["macro_labels"] == ["A", "B", "D"]
    assert g["macro"] == pytest.approx({"precision": 1.5 / 3, "recall": 1 / 3, "f1": 1.2 / 3})


def test_uncertain_negative_by_hand():
    # -1 -> 0:
    # A pred 1 0 1 0 / ref 1 1 0 0: tp 1 fp 1 fn 1 -> P 1/2, R 1/2, F1 1/2
    # B pred 0 1 0 0 / ref 1 0 0 1: tp 0 fp 1 fn 2 -> 0, 0, 0
    # C tp 0 fp 1; D tp 0 fn 1
    g = ce_group(PREDS, REFS, LABELS, "negative")
    assert g["micro"] == pytest.approx({"precision": 1 / 4, "recall": 1 / 5, "f1": 2 / 9})
    assert g["macro_labels"] == ["A", "B", "D"]
    assert g["macro"] == pytest.approx({"precision": 1 / 6, "recall": 1 / 6, "f1": 1 / 6})


def test_nothing_present_gives_none():
    g = ce_group([{}], [{}], ["A"], "positive")
    assert g["macro"] == {"precision": None, "recall": None, "f1": None}
    assert g["micro"] == {"precision": None, "recall": None, "f1": None}
    with pytest.raises(ValueError, match="uncertain"):
        ce_group([{}], [{}], ["A"], "maybe")


def test_reference_labels_are_checked_and_completed():
    full = check_reference_labels({"consolidation:RLL": 1, "pleural_effusion:left": -1})
    assert tuple(full) == FINDING_KEYS and full["normal"] == 0 and full["nodule"] is None
    assert check_reference_labels({"nodule": 0})["normal"] == 1
    for bad, msg in [({"consolidation:XYZ": 1}, "unknown findings keys"), ({"nodule": 2}, "must be 1, 0, -1"),
                     ({"nodule": True}, "must be 1, 0, -1"), (["nodule"], "must be an object")]:
        with pytest.raises(ValueError, match=msg):
            check_reference_labels(bad)


def test_reference_labels_replace_text_labels_only_for_findings():
    # lang zh + r2gen: no Java needed
    refs = {"a": "右肺下叶实变。", "b": "心影增大。", "c": "双肺未见异常。"}
    preds = {"a": "右肺下叶实变。", "b": "心影增大。", "c": "左侧胸腔积液。"}
    from_text = score_reports(preds, refs, protocol="r2gen", lang="zh")["clinical"]
    assert from_text["reference_labels"] == {"given": 0, "from_reference_text": 3}
    assert from_text["findings"]["per_label"]["consolidation:RLL"]["tp"] == 1
    # ground truth says case a is a left-lower-lobe consolidation: the prediction now misses it
    given = {"a": {"consolidation:LLL": 1}}
    with_labels = score_reports(preds, refs, protocol="r2gen", lang="zh", reference_labels=given)["clinical"]
    per = with_labels["findings"]["per_label"]
    assert with_labels["reference_labels"] == {"given": 1, "from_reference_text": 2}
    assert (per["consolidation:RLL"]["fp"], per["consolidation:LLL"]["fn"]) == (1, 1)
    assert with_labels["chexpert_14"] == from_text["chexpert_14"]  # CheXpert always from the texts
    # pleural effusion predicted for c, absent from references: micro precision drops, macro ignores it
    assert per["pleural_effusion:left"]["fp"] == 1 and "pleural_effusion:left" not in with_labels["findings"][
        "macro_labels"]


def test_clinical_block_and_plot(tmp_path):
    pred = [{"chexpert": {"Cardiomegaly": 1}, "findings": {"cardiomegaly": 1}}]
    block = clinical_metrics(pred, [{"Cardiomegaly": 1}], [{"cardiomegaly": 1}], "negative", {"given": 1})
    assert block["uncertain"] == "negative" and block["reference_labels"] == {"given": 1}
    assert block["chexpert_5"]["macro_labels"] == ["Cardiomegaly"] and block["chexpert_5"]["macro"]["f1"] == 1.0
    assert tuple(block["chexpert_14"]["per_label"]) == CHEXPERT_LABELS
    assert tuple(block["findings"]["per_label"]) == FINDING_KEYS
    png = plot_per_label_f1(block, tmp_path / "plots" / "f1.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert sorted(p.name for p in png.parent.iterdir()) == ["f1.png"]  # no temporary file left
