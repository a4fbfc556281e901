"""`medmllm score` and `medmllm label`: outputs, and one clear line for every bad input."""

import json

import pytest


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    refs = _write(tmp_path / "refs.jsonl", [
        {"id": "a", "report": "右肺下叶实变，右侧少量胸腔积液。", "labels": {"consolidation:RLL": 1,
                                                                "pleural_effusion:right": 1}},
        {"id": "b", "report": "双肺未见明显异常。"},
        {"id": 3, "report": "心影增大。"},
    ])
    preds = _write(tmp_path / "preds.jsonl", [
        {"id": "b", "prediction": "双肺纹理清晰。"},
        {"id": "3", "report": "心影增大，双肺未见实变。"},
        {"id": "a", "report": "右肺下叶实变。"},
    ])
    return tmp_path, preds, refs


def test_score_writes_results_samples_table_and_plot(cli, files):
    tmp, preds, refs = files
    out = tmp / "res" / "scores.json"
    r = cli("score", "--predictions", preds, "--references", refs, "--out", out, "--lang", "zh",
            "--protocol", "r2gen", "--uncertain", "negative", "--plot", tmp / "f1.png")
    assert r.code == 0, r
    res = json.loads(out.read_text())
    for key in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "clinical", "protocol",
                "lang", "n", "versions", "provenance"):
        assert key in res, key
    assert (res["protocol"], res["lang"], res["n"], res["meteor"]) == ("r2gen", "zh", 3, None)
    assert res["clinical"]["uncertain"] == "negative"
    assert res["clinical"]["reference_labels"] == {"given": 1, "from_reference_text": 2}
    # a: RLL found, right effusion missed; 3: cardiomegaly found; b: normal found
    per = res["clinical"]["findings"]["per_label"]
    assert (per["consolidation:RLL"]["tp"], per["pleural_effusion:right"]["fn"], per["cardiomegaly"]["tp"]) == (1, 1, 1)
    assert res["clinical"]["findings"]["macro"]["f1"] == pytest.approx((1 + 0 + 1 + 1) / 4)  # normal, RLL, R eff, cardio
    samples = [json.loads(line) for line in (tmp / "res" / "scores.samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["a", "b", "3"]  # reference order
    assert samples[0]["ref_labels_source"] == "given" and samples[1]["ref_labels_source"] == "reference_text"
    assert "| BLEU-4 |" in r.out and "| findings |" in r.out and "| consolidation:RLL | 1 |" in r.out
    assert (tmp / "f1.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_score_english_coco_default(cli, tmp_path):
    refs = _write(tmp_path / "r.jsonl", [{"id": "1", "report": "Right lower lobe consolidation. No effusion."},
                                         {"id": "2", "report": "The lungs are clear."}])
    preds = _write(tmp_path / "p.jsonl", [{"id": "1", "report": "Consolidation in the right lower lobe."},
                                          {"id": "2", "report": "The lungs are clear."}])
    r = cli("score", "--predictions", preds, "--references", refs, "--out", tmp_path / "s.json")
    assert r.code == 0, r
    res = json.loads((tmp_path / "s.json").read_text())
    assert (res["protocol"], res["lang"], res["clinical"]["uncertain"]) == ("coco", "en", "positive")
    assert 0 < res["meteor"] < 1 and res["versions"]["java"] and res["versions"]["pycocoevalcap"] == "1.2"
    assert res["clinical"]["findings"]["macro"]["f1"] == 1.0


def test_score_accepts_a_manifest_as_references(cli, tmp_path):
    manifest = _write(tmp_path / "m.jsonl", [
        {"id": "c1-en", "split": "test", "task": "report", "report": {"findings": "x", "impression": "y",
                                                                      "language": "en"},
         "labels": {"cardiomegaly": 1},
         "messages": [{"role": "user", "content": "<xray>\nWrite the radiology report."},
                      {"role": "assistant", "content": "Findings: 心影增大。 Impression: 心影增大。"}]},
        {"id": "c1-zh", "split": "test", "task": "report", "report": {"findings": "心影增大。", "impression": "心脏增大。",
                                                                      "language": "zh"}, "labels": {"cardiomegaly": 1}},
        {"id": "c1-vqa", "split": "test", "task": "vqa", "messages": []},
        {"id": "c2-zh", "split": "train", "task": "report", "report": {"findings": "未见异常。", "language": "zh"}},
    ])
    preds = _write(tmp_path / "p.jsonl", [{"id": "c1-zh", "prediction": "心影增大。"},
                                          {"id": "c1-en", "prediction": "ignored: another language"}])
    out = tmp_path / "s.json"
    r = cli("score", "--predictions", preds, "--references", manifest, "--out", out, "--lang", "zh",
            "--protocol", "r2gen", "--split", "test")
    assert r.code == 0, r
    res = json.loads(out.read_text())
    assert res["n"] == 1 and res["skipped"] == {"reference_rows": 3, "predictions": 1}
    assert res["clinical"]["findings"]["per_label"]["cardiomegaly"]["tp"] == 1


@pytest.mark.parametrize("case, expect", [
    ("missing_prediction", "no prediction for 1 reference ids: 3"),
    ("extra_prediction", "1 ids are not in the references: zzz"),
    ("duplicate", "2 duplicate ids: a, b"),
    ("bad_json", "line 2: not valid JSON"),
    ("no_id", "line 1: missing or invalid 'id'"),
    ("bad_report", "line 1 (id a): 'report' must be a string"),
    ("no_text", "line 1 (id a): no report text"),
    ("bad_labels", "line 1 (id a): unknown findings keys in 'labels': pneumonia"),
    ("empty", "no report rows"),
    ("not_utf8", "not UTF-8"),
    ("missing_file", "file not found"),
    ("huge", "line 1 (id a): the report has 60,000 characters; the limit is 50,000"),
])
def test_score_bad_inputs(cli, files, case, expect):
    tmp, preds, refs = files
    bad = tmp / "bad.jsonl"
    target = "predictions"
    if case == "missing_prediction":
        _write(bad, [{"id": "a", "report": "x"}, {"id": "b", "report": "y"}])
    elif case == "extra_prediction":
        _write(bad, [{"id": i, "report": "x"} for i in ("a", "b", "3", "zzz")])
    elif case == "duplicate":
        _write(bad, [{"id": i, "report": "x"} for i in ("a", "a", "b", "b", "3")])
    elif case == "bad_json":
        _write(bad, [{"id": "a", "report": "x"}, '{"id": "b", "report": '])
    elif case == "no_id":
        _write(bad, [{"report": "x"}])
    elif case == "bad_report":
        _write(bad, [{"id": "a", "report": 5}])
    elif case == "no_text":
        _write(bad, [{"id": "a", "text": "x"}])
    elif case == "bad_labels":
        target = "references"
        _write(bad, [{"id": "a", "report": "x", "labels": {"pneumonia": 1}}])
    elif case == "empty":
        bad.write_text("\n\n")
    elif case == "not_utf8":
        bad.write_bytes(b'{"id": "a", "report": "\xff\xfe"}\n')
    elif case == "missing_file":
        bad = tmp / "nope.jsonl"
    elif case == "huge":
        _write(bad, [{"id": "a", "report": "x" * 60_000}])
    args = {"predictions": preds, "references": refs, target: bad}
    out = tmp / "out.json"
    r = cli("score", "--predictions", args["predictions"], "--references", args["references"], "--out", out,
            "--lang", "zh", "--protocol", "r2gen")
    assert r.code == 2, r
    assert r.err.startswith("error: ") and expect in r.err and str(bad) in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp.glob("out.samples.jsonl"))  # nothing half-written


def test_score_out_is_a_folder(cli, files):
    tmp, preds, refs = files
    r = cli("score", "--predictions", preds, "--references", refs, "--out", tmp, "--lang", "zh", "--protocol", "r2gen")
    assert r.code == 2 and "is a folder" in r.err


def test_score_usage_errors(cli, files):
    tmp, preds, refs = files
    r = cli("score", "--predictions", preds, "--references", refs, "--out", tmp / "o.json", "--protocol", "bleu")
    assert r.code == 2
    assert cli("score", "--help").code == 0


def test_label_command(cli, tmp_path):
    src = _write(tmp_path / "in.jsonl", [
        {"id": "e1", "report": "Small left pleural effusion. Heart size is normal."},
        {"id": "z1", "report": "右肺下叶实变，不除外肺不张。"},
        {"id": "n1", "prediction": "No acute cardiopulmonary abnormality."},
    ])
    out = tmp_path / "labels" / "out.jsonl"
    r = cli("label", src, "--out", out)
    assert r.code == 0, r
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["id"], x["lang"]) for x in rows] == [("e1", "en"), ("z1", "zh"), ("n1", "en")]
    assert rows[0]["findings"]["pleural_effusion:left"] == 1 and rows[0]["chexpert"]["Cardiomegaly"] == 0
    # 不除外 (cannot be excluded) raises a possibility: no label, listed under "possible"
    assert rows[1]["findings"]["consolidation:RLL"] == 1 and rows[1]["findings"]["atelectasis"] is None
    assert rows[1]["possible"] == {"chexpert": ["Atelectasis"], "findings": ["atelectasis"]}
    assert rows[0]["possible"] == {"chexpert": [], "findings": []}
    assert rows[2]["findings"]["normal"] == 1
    assert "| pleural_effusion:left | 1 | 0 | 0 | 0 | 2 |" in r.out
    assert "| atelectasis | 0 | 0 | 1 | 0 | 2 |" in r.out
    # forcing a language labels every row in it (the Chinese row has no English findings)
    r = cli("label", src, "--out", out, "--lang", "en")
    assert r.code == 0 and json.loads(out.read_text(encoding="utf-8").splitlines()[1])["findings"]["consolidation:RLL"] is None


def test_label_bad_input(cli, tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [{"id": "a"}])
    r = cli("label", bad, "--out", tmp_path / "o.jsonl")
    assert r.code == 2 and "line 1 (id a): no report text" in r.err
    assert not (tmp_path / "o.jsonl").exists()
