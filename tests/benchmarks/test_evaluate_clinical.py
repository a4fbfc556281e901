"""`medmllm evaluate` on synthetic cases: `report` and `clinical` always run their two controls.

Chinese cases scored with the r2gen protocol keep these tests free of Java (no PTB tokenizer, no METEOR).
"""

import json
from collections import Counter

import pytest

from medmllm.evaluation.benchmarks.clinical import NORMAL_ANSWER, closed_answer
from medmllm.evaluation.benchmarks.report import NORMAL_REPORT


@pytest.fixture(scope="module")
def synth_cases(tmp_path_factory):
    """4 synthetic patients (X-ray 32x32, CT 8x32x32, Chinese): 6 report records, 2 closed questions, a
    diagnosis and maybe a summary per patient."""
    from medmllm.data.synthetic import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth-eval")
    cfg = SynthConfig(xray_size=(32, 32), ct_shape=(8, 32, 32), langs=("zh",), vqa_per_case=2, noise=False)
    generate(out, 4, seed=5, config=cfg, workers=1, progress=False)
    return out / "manifest.jsonl"


@pytest.fixture
def shown(monkeypatch):
    """What the model was shown: record id -> list of image-path lists, one per time it was asked."""
    from medmllm.inference import Predictor

    seen = {}
    real = Predictor.generate_rows  # what the benchmarks call: the texts and the prompts the model read

    def recording(self, batch, **kwargs):
        for r in batch:
            seen.setdefault(r["id"], []).append([im["path"] for im in r["images"]])
        return real(self, batch, **kwargs)

    monkeypatch.setattr(Predictor, "generate_rows", recording)
    return seen


def patient_of(path):
    return path.split("/")[1]  # cases/000003/cxr.dcm -> 000003


def check_controls(records, shown, out, jsonl):
    """The model saw each record's own images once and another patient's images once (the shuffled
    control); the constant control never reached the model."""
    for r in records:
        own = [im["path"] for im in r["images"]]
        assert len(shown[r["id"]]) == 2, r["id"]
        first, second = shown[r["id"]]
        assert first == own
        assert len(second) == len(own) and all(patient_of(p) != r["patient_id"][2:] for p in second)
    rows = jsonl.read(out / "controls" / "shuffled_images.jsonl")
    assert sorted(x["id"] for x in rows) == sorted(r["id"] for r in records)
    assert all(x["control"] == "shuffled_images" for x in rows)
    return {x["id"]: x for x in jsonl.read(out / "controls" / "constant_normal.jsonl")}


@pytest.mark.slow
def test_report_with_both_controls(tmp_path, cli, tiny_exports, synth_cases, shown, jsonl):
    from medmllm.data.schema import read_manifest

    _, ck = tiny_exports
    out = tmp_path / "report"
    r = cli("evaluate", "--checkpoint", ck, "--benchmark", "report", "--data", synth_cases, "--out", out,
            "--max-new-tokens", "6", "--batch-size", "12", "--protocol", "r2gen", "--quiet")
    assert r.code == 0, r
    reports = [x for x in read_manifest(synth_cases) if x["task"] == "report"]
    assert len(reports) == 24 and len({x["patient_id"] for x in reports}) == 4
    const = check_controls(reports, shown, out, jsonl)
    assert {x["prediction"] for x in const.values()} == {NORMAL_REPORT["zh"]}
    res = json.loads((out / "results.json").read_text())
    assert res["n"] == 24 and set(res["controls"]) == {"shuffled_images", "constant_normal"}
    for block in (res, *res["controls"].values()):
        assert {"bleu_1", "bleu_4", "meteor", "rouge_l", "cider", "clinical"} <= set(block)
    # the constant normal report names no finding: recall 0 on every abnormal key the references hold
    ce = res["controls"]["constant_normal"]["clinical"]["findings"]["per_label"]
    assert all(v["recall"] == 0.0 for k, v in ce.items() if k != "normal" and v["support"])
    md = (out / "results.md").read_text()
    for line in ("| trained |", "| trained (images shuffled across samples) |", "| trained (constant normal report) |"):
        assert md.count(line) == 1, line
    assert res["files"]["control_shuffled_images"] == "controls/shuffled_images.jsonl"


@pytest.mark.slow
def test_clinical_suite_with_both_controls(tmp_path, cli, tiny_exports, synth_cases, shown, jsonl):
    from medmllm.data.schema import read_manifest

    _, ck = tiny_exports
    out = tmp_path / "clinical"
    r = cli("evaluate", "--checkpoint", ck, "--benchmark", "clinical", "--data", synth_cases, "--out", out,
            "--max-new-tokens", "6", "--batch-size", "16", "--protocol", "r2gen", "--quiet")
    assert r.code == 0, r
    records = [x for x in read_manifest(synth_cases) if x["task"] in ("report", "vqa", "diagnosis", "summary")]
    tasks = Counter(x["task"] for x in records)
    assert tasks["vqa"] == 8 and tasks["diagnosis"] == 4
    const = check_controls(records, shown, out, jsonl)
    assert all(const[x["id"]]["prediction"] == (NORMAL_ANSWER["zh"] if x["task"] == "vqa" else NORMAL_REPORT["zh"])
               for x in records)
    res = json.loads((out / "results.json").read_text())
    assert res["n"] == len(records) and set(res["controls"]) == {"shuffled_images", "constant_normal"}
    assert set(res["tasks"]) == {t for t in ("report", "vqa", "diagnosis", "summary") if tasks[t]}
    # "No." is right exactly on the closed questions whose answer is no
    n_no = sum(1 for x in records if x["task"] == "vqa" and closed_answer(x["answer"], "zh") == "no")
    assert res["controls"]["constant_normal"]["tasks"]["vqa"]["accuracy"] == pytest.approx(n_no / 8)
    assert res["tasks"]["vqa"]["n"] == 8
    md = (out / "results.md").read_text()
    assert "| trained (constant normal report) |" in md and "| trained (images shuffled across samples) |" in md
