"""ScienceQA letter extraction and accuracy against numbers computed by hand."""

import json

import pytest

from medmllm.evaluation.benchmarks.mcq import extract_letter
from medmllm.evaluation.benchmarks.scienceqa.score import ScienceQA


@pytest.mark.parametrize("text,n,expected", [
    ("B", 4, "B"), ("B.", 4, "B"), ("(B)", 4, "B"), ("The answer is B.", 4, "B"), (" \nC\n", 4, "C"),
    ("B. Paris", 4, "B"), ("(D) the moon", 4, "D"), ("Because of X. The answer is (A).", 4, "A"),
    ("the answer is C", 4, "C"),
    ("b", 4, None),  # lower case is not a letter answer (as in the official scripts)
    ("I think it is B", 4, None), ("Paris", 4, None), ("", 4, None), ("E", 4, None),  # past the choices
    ("The answer is A. No wait, the answer is B.", 4, None),  # two different letters
    ("AB", 4, None), ("Bee", 4, None),
])
def test_extract_letter(text, n, expected):
    assert extract_letter(text, n) == expected


def test_extract_letter_non_text():
    assert extract_letter(None) is None and extract_letter(3) is None


def rows():
    def r(pid, ans, pred, img, subj):
        return {"pid": pid, "answer": ans, "prediction": pred, "has_image": img, "subject": subj, "n_choices": 4}

    return [
        r("1", "A", "A", True, "natural science"),            # right
        r("2", "B", "The answer is B.", True, "natural science"),  # right
        r("3", "C", "(B)", True, "social science"),           # wrong, parsed
        r("4", "D", "I would say D", False, "social science"),  # unparsed -> wrong
        r("5", "A", "A. yes", False, "language science"),     # right
        r("6", "B", "b", False, "language science"),          # unparsed -> wrong
    ]


def test_accuracies_by_hand():
    res = ScienceQA().score(rows())
    assert res["accuracy"] == pytest.approx(100 * 3 / 6)
    assert res["img_accuracy"] == pytest.approx(100 * 2 / 3)
    assert res["per_subject"] == pytest.approx({"language science": 50.0, "natural science": 100.0, "social science": 0.0})
    assert res["unparsed"] == 2 and res["n_img"] == 3 and res["n"] == 6


def test_no_image_subset_gives_null():
    res = ScienceQA().score([dict(r, has_image=False) for r in rows()])
    assert res["img_accuracy"] is None


def test_cli_and_table(cli, tmp_path, jsonl):
    p = jsonl.write(tmp_path / "sqa.jsonl", rows())
    r = cli("score-benchmark", "scienceqa", "--predictions", p, "--out", tmp_path / "sqa.json", "--no-plots")
    assert r.code == 0, r
    res = json.loads((tmp_path / "sqa.json").read_text())
    assert res["accuracy"] == 50.0 and res["unparsed"] == 2 and "unparsed" in res["rule"]
    assert "| Model | Avg | IMG | LAN | NAT | SOC | Unparsed |" in r.out
    assert "| sqa | 50.00 | 66.67 | 50.00 | 100.00 | 0.00 | 2 |" in r.out
    assert not list(tmp_path.glob("*.png"))
    bad = [dict(rows()[0], has_image="yes")]
    r = cli("score-benchmark", "scienceqa", "--predictions", jsonl.write(tmp_path / "b.jsonl", bad), "--out", tmp_path / "b.json")
    assert r.code == 2 and "b.jsonl: line 1: has_image must be true or false" in r.err
