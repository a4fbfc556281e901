"""SEED-Bench: both methods, labelled, against numbers computed by hand."""

import json

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.seed_bench.score import SeedBench, likelihood_record


def gen_rows():
    def r(q, t, ans, pred):
        return {"question_id": q, "question_type_id": t, "answer": ans, "prediction": pred}

    return [r("1", 1, "A", "A"), r("2", 1, "B", "The answer is B."), r("3", 1, "C", "D"), r("4", 1, "D", "maybe D"),
            r("5", 5, "A", "(A)"), r("6", 5, "B", "A")]


def test_generation_by_hand():
    res = SeedBench(method="generation").score(gen_rows())
    assert res["method"] == "generation"
    assert res["overall"] == pytest.approx(100 * 3 / 6)
    assert res["per_dimension"] == pytest.approx({"Scene Understanding": 50.0, "Instances Counting": 50.0})
    assert list(res["per_dimension"]) == ["Scene Understanding", "Instances Counting"]  # official order
    assert res["unparsed"] == 1 and res["per_dimension_n"]["Scene Understanding"] == 4


def test_likelihood_uses_lowest_mean_loss():
    rows = [{"question_id": "1", "question_type_id": 2, "answer": "C", "prediction": "C", "losses": [2.0, 1.5, 0.7, 0.9]},
            {"question_id": "2", "question_type_id": 2, "answer": "A", "prediction": "B", "losses": [1.1, 0.4, 3, 2]},
            {"question_id": "3", "question_type_id": 9, "answer": "D", "prediction": "D", "losses": [1, 1, 1, 0.2]}]
    for r in rows:
        r["method"] = "likelihood"
    res = SeedBench().score(rows)
    assert res["method"] == "likelihood" and res["overall"] == pytest.approx(200 / 3)
    assert res["per_dimension"] == pytest.approx({"Instance Identity": 50.0, "Text Understanding": 100.0})
    assert "lowest mean token loss" in SeedBench(method="likelihood").rule


def test_method_must_be_known_and_consistent():
    with pytest.raises(InputError, match="say which"):
        SeedBench().score(gen_rows())
    rows = [dict(r, method="likelihood") for r in gen_rows()]
    with pytest.raises(InputError, match="made with method 'likelihood', not 'generation'"):
        SeedBench(method="generation").score(rows)
    rows[0]["method"] = "generation"
    with pytest.raises(InputError, match="mix methods"):
        SeedBench().score(rows)


def seed_record(qid, answer, choices=("a cat", "a dog", "a car", "a tree")):
    prompt = "<xray>\nWhat is shown?\n" + "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices)) + \
        "\nAnswer with the option's letter from the given choices directly."
    return {"id": f"seed-bench-{qid}", "task": "mcq", "images": [{"modality": "xray", "path": f"{qid}.jpg"}],
            "messages": [{"role": "user", "content": prompt}], "choices": list(choices), "answer": answer,
            "meta": {"benchmark": "seed-bench", "question_id": qid, "question_type_id": 1,
                     "dimension": "Scene Understanding", "data_type": "image", "question": "What is shown?"}}


def test_likelihood_prompt_has_question_without_options():
    rec = likelihood_record(seed_record("7", "B"))
    assert rec["messages"] == [{"role": "user", "content": "<xray>\nWhat is shown?"}]


def test_likelihood_run_picks_preferred_choice(fake_predictor, tmp_path, jsonl):
    from medmllm.evaluation.benchmarks.runner import run_benchmark

    # the fake model prefers the dog (lowest mean loss) whatever the question
    pred = fake_predictor(losses=lambda rec, ch: [0.2 if c == "a dog" else 1.0 + i for i, c in enumerate(ch)])
    recs = [seed_record("1", "B"), seed_record("2", "B", ("a dog", "a cat", "a car", "a tree")),
            seed_record("3", "C"), dict(seed_record("4", "A"), meta={**seed_record("4", "A")["meta"], "data_type": "video"})]
    res = run_benchmark(SeedBench(), recs, pred, tmp_path / "out", model="fake")
    assert res["method"] == "likelihood" and res["overall"] == pytest.approx(100 / 3) and res["skipped"] == 1
    rows = jsonl.read(tmp_path / "out" / "predictions.jsonl")
    assert [r["prediction"] for r in rows] == ["B", "A", "B"] and rows[0]["losses"] == [1.0, 0.2, 3.0, 4.0]
    assert all("A. " not in c["messages"][0]["content"] for c, _ in pred.likelihood_calls)
    assert pred.generated == []
    # generation on the same records asks generate() and extracts letters
    gen = fake_predictor(answers={"seed-bench-1": "B", "seed-bench-2": "(A)", "seed-bench-3": "C."})
    res = run_benchmark(SeedBench(method="generation"), recs, gen, tmp_path / "gen", model="fake", batch_size=2)
    assert res["method"] == "generation" and res["overall"] == pytest.approx(100 * 2 / 3)
    md = (tmp_path / "gen" / "results.md").read_text()
    assert "| fake | generation | 66.67 | 66.67 |" in md
    assert json.loads((tmp_path / "gen" / "results.json").read_text())["files"]["predictions"] == "predictions.jsonl"
