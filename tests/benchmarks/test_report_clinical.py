"""The report and clinical wrappers over medmllm.evaluation.report_metrics, with their two controls.

Chinese reports with the r2gen protocol keep these tests free of Java (no PTB tokenizer, no METEOR).
"""

import json

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.clinical import Clinical, closed_answer
from medmllm.evaluation.benchmarks.report import NORMAL_REPORT, Report, reference_text
from medmllm.evaluation.benchmarks.runner import run_benchmark
from medmllm.evaluation.labeler import label_report

REPORTS = {  # patient -> (reference report, ground-truth findings labels)
    "p0": ("所见：右肺下叶可见片状实变影，未见胸腔积液。印象：右肺下叶肺炎。", {"consolidation:RLL": 1}),
    "p1": ("所见：左侧胸腔积液，心影大小正常。印象：左侧胸腔积液。", {"pleural_effusion:left": 1}),
    "p2": ("所见：心影增大，双肺未见实变。印象：心影增大。", {"cardiomegaly": 1}),
    "p3": ("所见：右侧气胸，右肺受压。印象：右侧气胸。", {"pneumothorax:right": 1}),
}


def report_records():
    recs = []
    for p, (text, labels) in REPORTS.items():
        recs.append({"id": f"{p}-zh-report", "patient_id": p, "split": "test", "task": "report",
                     "images": [{"modality": "xray", "path": f"{p}/cxr.png"}],
                     "messages": [{"role": "user", "content": "<xray>\n请书写影像学报告。"},
                                  {"role": "assistant", "content": text}],
                     "labels": labels, "report": {"language": "zh"}, "meta": {"lang": "zh"}})
    return recs


class ImageReader:
    """A perfect 'model': writes the reference report of the patient whose image it is shown."""

    def __init__(self):
        self.prompts = []

    def generate(self, batch):
        self.prompts += [r["messages"] for r in batch]
        return [REPORTS[r["images"][0]["path"].split("/")[0]][0] for r in batch]

    def choice_losses(self, record, choices):
        raise AssertionError("not used")


def test_normal_report_is_labelled_normal():
    for lang in ("en", "zh"):
        f = label_report(NORMAL_REPORT[lang], lang)["findings"]
        assert f["normal"] == 1 and not [k for k, v in f.items() if k != "normal" and v in (1, -1)]
        assert closed_answer("No.", "en") == "no" and closed_answer("否。", "zh") == "no"


def test_report_equals_report_metrics():
    from medmllm.evaluation.report_metrics import evaluate_reports

    rows = [{"id": f"{p}", "prediction": REPORTS[q][0], "reference": REPORTS[p][0], "labels": REPORTS[p][1], "lang": "zh"}
            for p, q in (("p0", "p0"), ("p1", "p2"), ("p2", "p2"), ("p3", "p1"))]
    res = Report(protocol="r2gen").score(rows)
    direct = evaluate_reports({r["id"]: r["prediction"] for r in rows}, {r["id"]: r["reference"] for r in rows},
                              "r2gen", "zh", "positive", {r["id"]: r["labels"] for r in rows}).summary
    for k in ("bleu_1", "bleu_4", "rouge_l", "cider", "meteor"):
        assert res[k] == direct[k]
    assert res["clinical"] == direct["clinical"] and res["lang"] == "zh" and res["scale"] == "fraction"
    # by hand: p1 gets p2's report (cardiomegaly: a false positive; its own left effusion missed) and p3
    # gets p1's (left effusion: a false positive)
    assert res["clinical"]["findings"]["per_label"]["cardiomegaly"]["fp"] == 1
    assert res["clinical"]["findings"]["per_label"]["pleural_effusion:left"] == pytest.approx(
        {"tp": 0, "fp": 1, "fn": 1, "tn": 2, "support": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0})
    with pytest.raises(InputError, match="several languages"):
        Report().score([dict(rows[0]), dict(rows[1], lang="en")])


def test_cli_accepts_score_rows_and_references(cli, tmp_path, jsonl):
    preds = jsonl.write(tmp_path / "p.jsonl", [{"id": p, "report": REPORTS[p][0]} for p in ("p0", "p1", "p2")])
    refs = jsonl.write(tmp_path / "r.jsonl", [{"id": p, "report": REPORTS[p][0]} for p in REPORTS])
    r = cli("score-benchmark", "report", "--predictions", preds, "--references", refs, "--lang", "zh",
            "--protocol", "r2gen", "--out", tmp_path / "rep.json")
    assert r.code == 0, r
    res = json.loads((tmp_path / "rep.json").read_text())
    assert res["bleu_4"] == pytest.approx(1.0) and res["n"] == 3 and res["skipped"] == 1
    assert res["clinical"]["findings"]["macro"]["f1"] == 1.0 and "r2gen" in res["rule"]
    assert {"rep.f1_findings.png", "rep.f1_chexpert_14.png"} <= set(res["files"]["plots"])
    assert "| Model | BLEU-1 | BLEU-4 | METEOR | ROUGE-L | CIDEr | CE F1 (14, micro) | Findings F1 (macro) |" in r.out


def test_run_with_controls_shows_image_use(tmp_path):
    model = ImageReader()
    res = run_benchmark(Report(protocol="r2gen"), report_records(), model, tmp_path / "out", model="reader", seed=1)
    assert all(m[-1]["role"] == "user" for m in model.prompts)  # the reference turn is not shown
    f1 = res["clinical"]["findings"]["macro"]["f1"]
    shuffled = res["controls"]["shuffled_images"]["clinical"]["findings"]["macro"]["f1"]
    normal = res["controls"]["constant_normal"]
    assert f1 == 1.0 and res["bleu_4"] == pytest.approx(1.0)
    assert shuffled == 0.0  # every case got another patient's images, and each patient has another finding
    assert normal["clinical"]["findings"]["macro"]["f1"] == 0.0 and normal["bleu_4"] < 0.5
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| reader (images shuffled across samples) |" in md and "| reader (constant normal report) |" in md
    ctrl = [json.loads(x) for x in (tmp_path / "out" / "controls" / "constant_normal.jsonl").read_text().splitlines()]
    assert {c["prediction"] for c in ctrl} == {NORMAL_REPORT["zh"]} and all(c["control"] == "constant_normal" for c in ctrl)
    assert len(model.prompts) == 8  # 4 cases + 4 shuffled; the constant control needs no model
    again = run_benchmark(Report(protocol="r2gen"), report_records(), model, tmp_path / "out", model="reader", seed=1)
    assert len(model.prompts) == 8 and again["controls"] == res["controls"]  # resumed: nothing regenerated


def clinical_rows():
    return [
        {"id": "v1", "task": "vqa", "lang": "en", "prediction": "Yes, there is.", "reference": "Yes"},
        {"id": "v2", "task": "vqa", "lang": "en", "prediction": "There is no effusion.", "reference": "No"},  # unparsed
        {"id": "v3", "task": "vqa", "lang": "en", "prediction": "Right.", "reference": "Right"},
        {"id": "v4", "task": "vqa", "lang": "en", "prediction": "no", "reference": "Yes"},
        {"id": "v5", "task": "vqa", "lang": "en", "prediction": "Both sides", "reference": "Left"},
        {"id": "d1", "task": "diagnosis", "lang": "en", "prediction": "Right lower lobe pneumonia.",
         "reference": "Right lower lobe pneumonia.", "labels": {"consolidation:RLL": 1}},
        {"id": "d2", "task": "diagnosis", "lang": "en", "prediction": "Right lower lobe pneumonia.",
         "reference": "Left pleural effusion.", "labels": {"pleural_effusion:left": 1}},
        {"id": "s1", "task": "summary", "lang": "en", "prediction": "fever and cough for three days",
         "reference": "cough and fever for three days"},
    ]


def test_clinical_suite_by_hand():
    from pycocoevalcap.rouge.rouge import Rouge

    res = Clinical(protocol="r2gen").score(clinical_rows())
    vqa, dx, summ = (res["tasks"][k] for k in ("vqa", "diagnosis", "summary"))
    assert vqa["accuracy"] == pytest.approx(2 / 5) and vqa["yes_no_accuracy"] == pytest.approx(1 / 3)
    assert vqa["unparsed"] == 1 and vqa["n"] == 5
    # consolidation:RLL: tp 1, fp 1 (d2) -> F1 2/3; pleural_effusion:left: fn 1 -> F1 0; normal: no positives
    assert dx["per_label"]["consolidation:RLL"]["f1"] == pytest.approx(2 / 3)
    assert dx["per_label"]["pleural_effusion:left"]["f1"] == 0.0
    assert dx["macro"]["f1"] == pytest.approx(1 / 3) and dx["macro_labels"] == ["consolidation:RLL", "pleural_effusion:left"]
    expected, _ = Rouge().compute_score({"1": ["cough and fever for three days ."]}, {"1": ["fever and cough for three days ."]})
    assert summ["rouge_l"] == pytest.approx(expected)
    mixed = clinical_rows() + [{"id": "v6", "task": "vqa", "lang": "zh", "prediction": "不是。", "reference": "否"}]
    tasks = Clinical(protocol="r2gen").score(mixed)["tasks"]
    assert tasks["vqa:zh"]["accuracy"] == 1.0 and tasks["vqa:en"]["n"] == 5
    with pytest.raises(InputError, match="line 1: task 'caption' is not one of"):
        Clinical().score([dict(clinical_rows()[0], task="caption")])


def test_clinical_records_and_compare(tmp_path, cli, fake_predictor):
    recs = report_records()
    recs.append({"id": "p0-zh-vqa", "patient_id": "p0", "task": "vqa", "images": [{"modality": "xray", "path": "p0/cxr.png"}],
                 "messages": [{"role": "user", "content": "<xray>\n右肺下叶是否有实变？"}], "answer": "是", "meta": {"lang": "zh"}})
    recs.append({"id": "mme-1", "task": "vqa", "answer": "Yes", "messages": [], "meta": {"benchmark": "mme"}})
    assert reference_text({"report": {"findings": "a", "impression": "b"}, "meta": {"lang": "en"}}) == "Findings: a Impression: b"
    bench = Clinical(protocol="r2gen")
    assert [r["id"] for r in recs if bench.accepts(r)] == [r["id"] for r in recs[:5]]
    model = ImageReader()
    model_b = fake_predictor(default="心肺未见明显异常。")
    a = run_benchmark(Clinical(protocol="r2gen"), recs, model, tmp_path / "a", model="reader", controls=())
    b = run_benchmark(Clinical(protocol="r2gen"), recs, model_b, tmp_path / "b", model="normal", controls=())
    assert a["tasks"]["vqa"]["accuracy"] == 0.0 and b["tasks"]["vqa"]["accuracy"] == 0.0  # "所见…" / "心肺…" are not yes
    assert a["tasks"]["report"]["clinical"]["findings"]["macro"]["f1"] == 1.0
    r = cli("compare", tmp_path / "a", tmp_path / "b", "--n-boot", "30", "--json")
    assert r.code == 0, r
    m = json.loads(r.out)["metrics"]
    f1 = m["tasks.report.clinical.findings.macro.f1"]
    assert f1["a"] == 1.0 and f1["diff"] == -1.0 and f1["ci_high"] < 0 and f1["excludes_zero"]
    assert m["tasks.report.bleu_4"]["ci_low"] is not None and m["tasks.report.meteor"]["diff"] is None


def test_fast_resampling_equals_official_on_the_full_sample():
    rows = [{"id": p, "prediction": REPORTS[q][0], "reference": REPORTS[p][0], "labels": REPORTS[p][1], "lang": "zh"}
            for p, q in (("p0", "p0"), ("p1", "p2"), ("p2", "p2"), ("p3", "p1"))]
    bench = Report(protocol="r2gen")
    samples, _ = bench.prepare(list(enumerate(rows, 1)), "p.jsonl")
    official, fast = bench.aggregate(samples), bench.resampler(samples)(samples)
    for k in ("bleu_1", "bleu_4", "rouge_l", "cider"):
        assert fast[k] == pytest.approx(official[k])
    assert "meteor" not in fast  # corpus METEOR is not resampled: compare gives it no interval
    for g in ("chexpert_14", "chexpert_5", "findings"):
        assert fast["clinical"][g] == official["clinical"][g]
