"""MME scoring against numbers computed by hand."""

import json

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mme.score import MME, parse_yes_no


@pytest.mark.parametrize("text,expected", [
    ("Yes", "yes"), ("no", "no"), ("  NO \n", "no"), ("yes.", "yes"), ("No, there is not.", "no"),
    ("Nope", "no"), ("not sure", "no"),  # official: 'no' in the first four characters
    ("There are two", "other"), ("Y", "other"), ("I don't know", "other"), ("", "other"),
    ("The answer is yes", "other"),  # 'yes' is not in the first four characters
])
def test_official_parsing(text, expected):
    assert parse_yes_no(text) == expected


def rows_by_hand():
    def r(sub, img, q, ans, pred):
        return {"subtask": sub, "image": img, "question": q, "answer": ans, "prediction": pred}

    return [
        # existence: img1 both right; img2 one right -> acc 3/4 = 75, acc+ 1/2 = 50, score 125
        r("existence", "1.jpg", "Is there a dog?", "Yes", "Yes"),
        r("existence", "1.jpg", "Is there a cat?", "No", "No, there is not."),
        r("existence", "2.jpg", "Is there a car?", "Yes", "yes."),
        r("existence", "2.jpg", "Is there a bus?", "No", "Yes"),
        # count: img1 one right ('ther' is other), img2 one right ('y' is other) -> acc 50, acc+ 0, score 50
        r("count", "1.jpg", "Are there two?", "Yes", "There are two"),
        r("count", "1.jpg", "Are there three?", "No", "NO"),
        r("count", "2.jpg", "Are there four?", "No", "  no "),
        r("count", "2.jpg", "Are there five?", "Yes", "Y"),
        # commonsense_reasoning (cognition): one image, both right -> 100 + 100
        r("commonsense_reasoning", "9.png", "Q1?", "Yes", "yes"),
        r("commonsense_reasoning", "9.png", "Q2?", "No", "no"),
    ]


def test_scores_computed_by_hand():
    res = MME().score(rows_by_hand())
    ex, co, cr = (res["subtasks"][k] for k in ("existence", "count", "commonsense_reasoning"))
    assert (ex["acc"], ex["acc_plus"], ex["score"]) == (75.0, 50.0, 125.0)
    assert (co["acc"], co["acc_plus"], co["score"], co["other"]) == (50.0, 0.0, 50.0, 2)
    assert (cr["acc"], cr["acc_plus"], cr["score"]) == (100.0, 100.0, 200.0)
    assert res["perception"] == 175.0 and res["cognition"] == 200.0 and res["total"] == 375.0
    assert res["n"] == 10 and res["skipped"] == 0 and res["incomplete_images"] == 0
    assert "OCR" in res["missing_subtasks"] and "existence" not in res["missing_subtasks"]


def test_resampled_units_count_twice():
    # the bootstrap tags each draw of an image with its own _unit: a twice-drawn image is two images
    rows = [dict(r) for r in rows_by_hand()[:4]]
    samples, _ = MME().prepare(list(enumerate(rows, 1)), "p.jsonl")
    img1 = [s for s in samples if s["image"] == "1.jpg"]
    img2 = [s for s in samples if s["image"] == "2.jpg"]
    draw = [{**s, "_unit": "a"} for s in img1] + [{**s, "_unit": "b"} for s in img1] + [{**s, "_unit": "c"} for s in img2]
    res = MME().aggregate(draw)["subtasks"]["existence"]
    assert res["n_images"] == 3 and res["acc_plus"] == pytest.approx(200 / 3) and res["acc"] == pytest.approx(500 / 6)


def test_row_errors_name_file_and_line(tmp_path):
    bad = rows_by_hand()[:2]
    bad[1] = {k: v for k, v in bad[1].items() if k != "answer"}
    with pytest.raises(InputError, match=r"p.jsonl: line 2: missing field 'answer'"):
        MME().prepare(list(enumerate(bad, 1)), "p.jsonl")
    bad = rows_by_hand()[:2]
    bad[0]["answer"] = "maybe"
    with pytest.raises(InputError, match="line 1: answer must be 'Yes' or 'No'"):
        MME().prepare(list(enumerate(bad, 1)), "p.jsonl")
    bad = rows_by_hand()[:2]
    bad[1]["subtask"] = "counting"
    with pytest.raises(InputError, match="line 2: subtask 'counting' is not an MME subtask"):
        MME().prepare(list(enumerate(bad, 1)), "p.jsonl")
    dup = rows_by_hand()[:2] + rows_by_hand()[:1]
    with pytest.raises(InputError, match=r"line 3: duplicate row .* \(first on line 1\)"):
        MME().prepare(list(enumerate(dup, 1)), "p.jsonl")


def test_references_fill_fields_and_count_skipped():
    manifest = []
    for i, r in enumerate(rows_by_hand()[:4]):
        manifest.append({"id": f"mme-{i}", "task": "vqa", "messages": [{"role": "user", "content": r["question"]}],
                         "answer": r["answer"], "meta": {"benchmark": "mme", "subtask": r["subtask"],
                                                         "image": r["image"], "question": r["question"]}})
    preds = [{"id": "mme-0", "prediction": "Yes"}, {"id": "mme-1", "prediction": "No"},
             {"id": "mme-2", "prediction": "No"}]
    res = MME().score(preds, references=manifest)
    assert res["n"] == 3 and res["skipped"] == 1
    ex = res["subtasks"]["existence"]
    assert ex["acc"] == pytest.approx(200 / 3) and ex["acc_plus"] == 50.0 and ex["n_images"] == 2
    assert res["incomplete_images"] == 1
    with pytest.raises(InputError, match="'mme-9' is not in the references"):
        MME().score([{"id": "mme-9", "prediction": "Yes"}], references=manifest)


def test_cli_writes_results_md_and_plot(cli, tmp_path, jsonl):
    p = jsonl.write(tmp_path / "mme.jsonl", rows_by_hand())
    out = tmp_path / "res" / "mme.json"
    r = cli("score-benchmark", "mme", "--predictions", p, "--out", out, "--model", "tiny-v1")
    assert r.code == 0, r
    res = json.loads(out.read_text())
    for k in ("benchmark", "rule", "model", "data", "n", "skipped", "versions", "provenance", "perception",
              "cognition", "subtasks"):
        assert k in res
    assert res["benchmark"] == "mme" and res["model"] == "tiny-v1" and res["perception"] == 175.0
    assert res["provenance"]["data_hash"] and res["versions"]["numpy"]
    md = (tmp_path / "res" / "mme.md").read_text()
    assert "| Model | Perception | Cognition | Total |" in md and "| tiny-v1 | 175.00 | 200.00 | 375.00 |" in md
    assert "| existence | 75.00 | 50.00 | 125.00 | 2 |" in md
    png = tmp_path / "res" / "mme.subtasks.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = jsonl.read(tmp_path / "res" / "mme.samples.jsonl")
    assert len(samples) == 10 and [s["parsed"] for s in samples[:5]] == ["yes", "no", "yes", "yes", "other"]
    assert res["files"]["samples"] == "mme.samples.jsonl" and res["files"]["plots"] == ["mme.subtasks.png"]
    assert "| tiny-v1 |" in r.out
    assert not [f for f in (tmp_path / "res").iterdir() if ".tmp" in f.name]


def test_cli_bad_input_is_one_line(cli, tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"subtask": "count"}\n{"subtask": \n')
    r = cli("score-benchmark", "mme", "--predictions", p, "--out", tmp_path / "o.json")
    assert r.code == 2 and r.err.count("\n") == 1 and "bad.jsonl: line 2: invalid JSON" in r.err
    r = cli("score-benchmark", "nope", "--predictions", p, "--out", tmp_path / "o.json")
    assert r.code == 2 and "unknown benchmark 'nope'; valid:" in r.err and "seed-bench" in r.err
    r = cli("score-benchmark", "mme", "--predictions", tmp_path / "missing.jsonl", "--out", tmp_path / "o.json")
    assert r.code == 2 and "missing.jsonl: predictions file not found" in r.err
    r = cli("score-benchmark", "mme", "--predictions", p, "--out", tmp_path / "o.json", "--method", "likelihood")
    assert r.code == 2 and "--method does not apply to mme" in r.err
    assert not (tmp_path / "o.json").exists()
