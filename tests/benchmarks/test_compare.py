"""Paired bootstrap comparison on known differences."""

import json
import math

import pytest

from medmllm.evaluation.benchmarks.scienceqa.score import ScienceQA
from medmllm.evaluation.compare import flatten_metrics, paired_bootstrap


def sqa(correct_ids, n=200):
    return [{"pid": str(i), "answer": "A", "prediction": "A" if i in correct_ids else "B", "has_image": i % 2 == 0,
             "subject": "natural science" if i < n // 2 else "social science"} for i in range(n)]


def samples(rows):
    return ScienceQA().prepare(list(enumerate(rows, 1)), "p.jsonl")[0]


def test_real_difference_excludes_zero():
    a = samples(sqa(set(range(100))))             # 50 %
    b = samples(sqa(set(range(180))))             # 90 %, right wherever A is right
    out = paired_bootstrap(ScienceQA(), a, b, n_boot=500, seed=1)
    acc = out["metrics"]["accuracy"]
    assert (acc["a"], acc["b"], acc["diff"]) == (50.0, 90.0, 40.0)
    assert acc["excludes_zero"] and 30 < acc["ci_low"] < 40 < acc["ci_high"] < 50
    # paired: d_i is 1 on 80 items, 0 on 120 -> SE = sd(d)/sqrt(n); the 95% interval is about +-1.96 SE
    se = 100 * math.sqrt(0.4 * 0.6 / 200)
    assert acc["ci_high"] - acc["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.25)
    assert out["n_paired"] == 200 and out["only_a"] == out["only_b"] == 0
    assert "per_subject.social science" in out["metrics"] and "n_img" not in out["metrics"]


def test_identical_and_equal_accuracy_include_zero():
    a = samples(sqa(set(range(100))))
    same = paired_bootstrap(ScienceQA(), a, a, n_boot=200, seed=0)["metrics"]["accuracy"]
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0 and not same["excludes_zero"]
    swapped = samples(sqa(set(range(50, 150))))  # same accuracy, different questions right
    m = paired_bootstrap(ScienceQA(), a, swapped, n_boot=300, seed=0)["metrics"]["accuracy"]
    assert m["diff"] == 0 and m["ci_low"] < 0 < m["ci_high"] and not m["excludes_zero"]


def test_seeded():
    a, b = samples(sqa(set(range(100)))), samples(sqa(set(range(60, 170))))
    r1 = paired_bootstrap(ScienceQA(), a, b, n_boot=100, seed=7)
    assert r1 == paired_bootstrap(ScienceQA(), a, b, n_boot=100, seed=7)
    assert r1["metrics"]["accuracy"]["ci_low"] != paired_bootstrap(ScienceQA(), a, b, n_boot=100, seed=8)["metrics"]["accuracy"]["ci_low"]


def test_flatten_skips_counts_and_text():
    flat = flatten_metrics({"n": 3, "accuracy": 50.0, "per_subject": {"x": 1.0}, "per_subject_n": {"x": 3},
                            "method": "generation", "img_accuracy": None, "ok": True})
    assert flat == {"accuracy": 50.0, "per_subject.x": 1.0, "img_accuracy": None}


def test_cli_compare(cli, tmp_path, jsonl):
    jsonl.write(tmp_path / "a.jsonl", sqa(set(range(100))))
    jsonl.write(tmp_path / "b.jsonl", sqa(set(range(180))))
    for name in ("a", "b"):
        r = cli("score-benchmark", "scienceqa", "--predictions", tmp_path / f"{name}.jsonl", "--out",
                tmp_path / name / "results.json", "--no-plots")
        assert r.code == 0, r
    r = cli("compare", tmp_path / "a", tmp_path / "b" / "results.json", "--n-boot", "200", "--seed", "3",
            "--out", tmp_path / "cmp.json")
    assert r.code == 0, r
    line = next(x for x in r.out.splitlines() if x.startswith("| accuracy |"))
    assert line.startswith("| accuracy | 50.00 | 90.00 | 40.00 | [") and line.endswith("| yes |")
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert saved["seed"] == 3 and saved["a"]["model"] == "a" and saved["metrics"]["accuracy"]["diff"] == 40.0
    # different answers on the same question ids: not the same data
    bad = sqa(set(range(100)))
    bad[5]["answer"] = "C"
    jsonl.write(tmp_path / "c.jsonl", bad)
    cli("score-benchmark", "scienceqa", "--predictions", tmp_path / "c.jsonl", "--out", tmp_path / "c.json", "--no-plots")
    r = cli("compare", tmp_path / "a", tmp_path / "c.json")
    assert r.code == 2 and "different questions or answers" in r.err
    r = cli("compare", tmp_path / "a", tmp_path / "nothing.json")
    assert r.code == 2 and "nothing.json: results file not found" in r.err


def test_cli_compare_refuses_different_benchmarks(cli, tmp_path, jsonl):
    jsonl.write(tmp_path / "a.jsonl", sqa({1, 2}, n=4))
    jsonl.write(tmp_path / "m.jsonl", [{"subtask": "count", "image": "1.jpg", "question": "q", "answer": "Yes",
                                        "prediction": "Yes"}])
    cli("score-benchmark", "scienceqa", "--predictions", tmp_path / "a.jsonl", "--out", tmp_path / "a.json", "--no-plots")
    cli("score-benchmark", "mme", "--predictions", tmp_path / "m.jsonl", "--out", tmp_path / "m.json", "--no-plots")
    r = cli("compare", tmp_path / "a.json", tmp_path / "m.json")
    assert r.code == 2 and "m.json: benchmark 'mme' differs from 'scienceqa'" in r.err
    r = cli("compare", tmp_path / "a.json", tmp_path / "a.json", "--n-boot", "0")
    assert r.code == 2 and "--n-boot must be at least 1" in r.err


def test_compare_recomputes_with_the_options_the_results_were_scored_with(cli, tmp_path, jsonl):
    refs = ["右肺下叶实变。", "心影增大。", "右侧胸腔积液。", "双肺未见异常。"]
    preds = {"a": ["疑似右肺下叶实变。", "心影增大。", "考虑右侧胸腔积液。", "双肺未见异常。"],
             "b": ["右肺下叶实变。", "双肺未见异常。", "右侧胸腔积液。", "双肺未见异常。"]}
    res = {}
    for name, texts in preds.items():
        jsonl.write(tmp_path / f"{name}.jsonl", [{"id": str(i), "prediction": p, "reference": r}
                                                for i, (p, r) in enumerate(zip(texts, refs))])
        r = cli("score-benchmark", "report", "--predictions", tmp_path / f"{name}.jsonl", "--out",
                tmp_path / f"{name}.json", "--lang", "zh", "--protocol", "r2gen", "--uncertain", "negative", "--no-plots")
        assert r.code == 0, r
        res[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert res["a"]["options"] == {"lang": "zh", "protocol": "r2gen", "uncertain": "negative"}
    r = cli("compare", tmp_path / "a.json", tmp_path / "b.json", "--n-boot", "20", "--json")
    assert r.code == 0, r
    m = json.loads(r.out)["metrics"]
    f1 = m["clinical.findings.macro.f1"]  # A's two hedged findings count as negative, as they were scored
    assert (f1["a"], f1["b"]) == (res["a"]["clinical"]["findings"]["macro"]["f1"],
                                  res["b"]["clinical"]["findings"]["macro"]["f1"])
    assert f1["a"] < f1["b"]
    for side in ("a", "b"):
        assert m["bleu_4"][side] == pytest.approx(res[side]["bleu_4"])
