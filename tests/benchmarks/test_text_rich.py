"""ChartQA (relaxed accuracy), DVQA (exact match), DocVQA / InfographicVQA (ANLS) and OCR (characters):
rules on rows worked out by hand, the releases' layouts through `prepare`, `score-benchmark` and `compare`."""

import json

import pytest
from PIL import Image

from medmllm.evaluation.benchmarks.chartqa.score import DVQA, ChartQA, relaxed_correct
from medmllm.evaluation.benchmarks.docvqa.score import DocVQA, anls_score
from medmllm.evaluation.benchmarks.ocr.score import OCR, char_scores, normalise_text


@pytest.mark.parametrize("prediction, label, right", [
    ("12.6", "12", True),      # |12.6 - 12| / 12 = 0.05: the edge is right
    ("12.61", "12", False),
    ("5%", "0.05", True),      # a trailing % divides by 100
    ("0.1", "0", False),       # a label of 0 is compared as text (pix2struct's rule)
    ("0", "0", True),
    (" Yes ", "yes", True),
    ("Mexico", "mexico city", False),
    ("1,000", "1000", False),  # not a number to float(): exact text
])
def test_relaxed_correctness(prediction, label, right):
    assert relaxed_correct(prediction, label) is right


def test_chartqa_human_augmented_and_average():
    rows = [{"question_id": "h0", "subset": "human", "answer": "20", "prediction": "20.9"},
            {"question_id": "h1", "subset": "human", "answer": "Blue", "prediction": "red"},
            {"question_id": "a0", "subset": "augmented", "answer": "7", "prediction": "7"},
            {"question_id": "a1", "subset": "augmented", "answer": "7", "prediction": "7.3"},  # 4.3 % off
            {"question_id": "a2", "subset": "augmented", "answer": "yes", "prediction": "Yes"},
            {"question_id": "a3", "subset": "augmented", "answer": "2019", "prediction": None}]
    res = ChartQA().score(rows)
    assert (res["human"], res["augmented"], res["average"]) == (50.0, 100.0, 75.0)
    assert res["accuracy"] == pytest.approx(4 / 5 * 100) and res["n"] == 5 and res["skipped"] == 1


def test_dvqa_exact_match_per_template():
    rows = [{"question_id": "1", "answer": "Bar", "prediction": "bar.", "template_id": "structure", "subset": "easy"},
            {"question_id": "2", "answer": "3", "prediction": "3.0", "template_id": "data", "subset": "hard"},
            {"question_id": "3", "answer": "no", "prediction": "No", "template_id": "reasoning", "subset": "hard"}]
    res = DVQA().score(rows)
    assert res["accuracy"] == pytest.approx(200 / 3)
    assert res["per_template"] == {"data": 0.0, "reasoning": 100.0, "structure": 100.0}
    assert res["per_subset"] == {"easy": 100.0, "hard": 50.0}


def test_anls_by_hand():
    assert anls_score("dr smith", ["Dr. Smith"]) == pytest.approx(1 - 1 / 9)  # one deletion in 9 characters
    assert anls_score("  DR.   SMITH ", ["dr. smith"]) == 1.0                 # case and whitespace
    assert anls_score("smyth", ["smith", "Smyth"]) == 1.0                       # best reference
    assert anls_score("abcdef", ["abc"]) == 0.0                                 # NL = 0.5: not below the threshold
    assert anls_score("abcde", ["abcd"]) == pytest.approx(0.8)
    res = DocVQA().score([{"question_id": 1, "answers": ["1998"], "prediction": "1998"},
                          {"question_id": 2, "answers": ["total"], "prediction": "totals"},
                          {"question_id": 3, "answers": ["left"], "prediction": "right"}])
    assert res["anls"] == pytest.approx((1 + 5 / 6 + 0) / 3) and res["threshold"] == 0.5


def test_ocr_width_case_and_chinese_characters():
    assert normalise_text("ＡＢＣ　１２３\nDef") == "abc123def"  # full-width letters, digits and space
    s = char_scores("人民医", "人民医院")
    assert (s["edits"], s["ref_len"], s["ned"], s["exact"]) == (1, 4, 0.25, False)
    assert char_scores("ＨＯＳＰＩＴＡＬ", "hospital")["exact"]
    rows = [{"id": "a", "answer": "人民医院", "prediction": "人民医", "ocr_task": "read", "dataset": "icdar-rctw"},
            {"id": "b", "answer": "EXIT", "prediction": "ｅｘｉｔ", "ocr_task": "region", "dataset": "icdar-rctw"},
            {"id": "c", "answer": "北京", "prediction": "上海市", "ocr_task": "question", "dataset": "anyword"}]
    res = OCR().score(rows)
    assert res["one_minus_ned"] == pytest.approx((0.75 + 1 + 0) / 3)
    assert res["char_accuracy"] == pytest.approx(1 - (1 + 0 + 3) / (4 + 4 + 2))
    assert res["exact_match"] == pytest.approx(1 / 3)
    assert res["per_task"]["region"]["one_minus_ned"] == 1.0 and res["per_dataset"]["anyword"]["n"] == 1


def png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (255, 255, 255)).save(path)


def chartqa_release(root):
    for split in ("train", "test"):
        qa = [{"imgname": f"{split}1.png", "query": "What is the highest value?", "label": "44"},
              {"imgname": f"{split}1.png", "query": "Which color is the largest bar?", "label": "Blue"}]
        (root / split).mkdir(parents=True)
        (root / split / f"{split}_human.json").write_text(json.dumps(qa))
        (root / split / f"{split}_augmented.json").write_text(json.dumps(
            [{"imgname": f"{split}2.png", "query": "What is the sum?", "label": "10"},
             {"imgname": f"{split}9.png", "query": "Missing chart?", "label": "1"}]))
        png(root / split / "png" / f"{split}1.png")
        png(root / split / "png" / f"{split}2.png")
    return root


def test_chartqa_release_prepare_score_compare(tmp_path, cli, jsonl):
    rel = chartqa_release(tmp_path / "ChartQA Dataset")
    out = tmp_path / "chartqa.jsonl"
    r = cli("prepare", "chartqa", rel, "--split", "test", "--out", out)
    assert r.code == 0, r
    assert "converted 3, skipped 5" in r.out and "skipped 4: in split train (--split test)" in r.out
    assert "skipped 1: image file not found" in r.out
    recs = jsonl.read(out)
    assert recs[0]["images"][0]["path"] == "test/png/test1.png" and recs[0]["answer"] == "44"
    assert recs[0]["messages"][0]["content"] == ("<xray>\nWhat is the highest value?\n"
                                                 "Answer the question using a single word or phrase.")
    assert [r["meta"]["subset"] for r in recs] == ["human", "human", "augmented"]
    answers = {"a": ["44", "blue", "12"], "b": ["45", "Blue", "10"]}  # b: 45 is within 5% of 44
    for name, preds in answers.items():
        jsonl.write(tmp_path / f"{name}.jsonl", [{"id": rec["id"], "prediction": p} for rec, p in zip(recs, preds)])
        r = cli("score-benchmark", "chartqa", "--predictions", tmp_path / f"{name}.jsonl", "--references", out,
                "--out", tmp_path / name / "results.json", "--no-plots")
        assert r.code == 0, r
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert (a["human"], a["augmented"], a["average"]) == (100.0, 0.0, 50.0)
    assert (b["human"], b["augmented"], b["average"]) == (100.0, 100.0, 100.0)
    assert a["rule"].startswith("ChartQA relaxed accuracy")
    r = cli("compare", tmp_path / "a", tmp_path / "b", "--n-boot", "50")
    assert r.code == 0, r
    assert any(x.startswith("| average | 50.00 | 100.00 | 50.00 |") for x in r.out.splitlines())


def test_dvqa_release(tmp_path, cli, jsonl):
    (tmp_path / "DVQA" / "qa").mkdir(parents=True)
    (tmp_path / "DVQA" / "qa" / "val_hard_qa.json").write_text(json.dumps(
        [{"question_id": 11, "image": "bar_val_hard_00000001.png", "question": "Does the bar x have the largest value?",
          "answer": "no", "template_id": "reasoning", "answer_bbox": []},
         {"question_id": 12, "image": "bar_val_hard_00000001.png", "question": "What is the label?",
          "answer": "", "template_id": "structure", "answer_bbox": []}]))
    (tmp_path / "DVQA" / "qa" / "train_qa.json").write_text("[]")
    png(tmp_path / "DVQA" / "images" / "bar_val_hard_00000001.png")
    r = cli("prepare", "dvqa", tmp_path / "DVQA", "--out", tmp_path / "dvqa.jsonl")
    assert r.code == 0 and "converted 1, skipped 1" in r.out, r
    (rec,) = jsonl.read(tmp_path / "dvqa.jsonl")
    assert rec["split"] == "test" and rec["meta"]["subset"] == "hard" and rec["meta"]["template_id"] == "reasoning"
    assert json.loads((tmp_path / "dvqa.jsonl.meta.json").read_text())["image_root"] == "DVQA/images"


@pytest.mark.parametrize("fmt, image_key, image_dir", [("docvqa", "image", "documents"),
                                                       ("infovqa", "image_local_name", "infographicsvqa_images")])
def test_docvqa_infovqa_release_and_anls(tmp_path, cli, jsonl, fmt, image_key, image_dir):
    name = "val_v1.0.json" if fmt == "docvqa" else "infographicsVQA_val_v1.0_withQT.json"
    image = "documents/pybv0228_81.png" if fmt == "docvqa" else "37313.jpeg"
    qa = {"dataset_name": fmt, "dataset_split": "val", "data": [
        {"questionId": 1, "question": "What is the date?", image_key: image, "answers": ["1/8/93", "January 8, 1993"]},
        {"questionId": 2, "question": "Who signed?", image_key: image, "answers": []}]}
    (tmp_path / fmt).mkdir()
    (tmp_path / fmt / name).write_text(json.dumps(qa))
    png(tmp_path / fmt / (image if fmt == "docvqa" else f"{image_dir}/{image}"))
    r = cli("prepare", fmt, tmp_path / fmt / name, "--out", tmp_path / f"{fmt}.jsonl")
    assert r.code == 0, r
    assert "converted 1, skipped 1" in r.out and "no answers (test split: scored on the RRC server)" in r.out
    (rec,) = jsonl.read(tmp_path / f"{fmt}.jsonl")
    assert rec["split"] == "val" and rec["meta"]["answers"] == ["1/8/93", "January 8, 1993"]
    jsonl.write(tmp_path / "p.jsonl", [{"id": rec["id"], "prediction": "january 8 1993"}])
    r = cli("score-benchmark", fmt, "--predictions", tmp_path / "p.jsonl", "--references", tmp_path / f"{fmt}.jsonl",
            "--out", tmp_path / "res.json", "--no-plots")
    assert r.code == 0, r
    assert json.loads((tmp_path / "res.json").read_text())["anls"] == pytest.approx(1 - 1 / 15)
