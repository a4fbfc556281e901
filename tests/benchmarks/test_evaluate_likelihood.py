"""SEED-Bench's official likelihood method through `medmllm evaluate` picks what a tiny model was trained to prefer."""

import json

import numpy as np
import pytest

OPTIONS = ["bright", "dark", "grey", "blue"]


def seed_bench_release(tmp_path, brightness, n=8):
    """A SEED-Bench release in its published shape (SEED-Bench.json + image folder) on held-out images.

    Question i shows a bright (even i) or dark image; the options are rotated so that the right
    answer's letter runs through A..D.
    """
    rng = np.random.default_rng(123)  # not the training images' seed
    questions = []
    for i in range(n):
        bright = i % 2 == 0
        brightness.write(tmp_path / "images" / f"{i}.jpg", bright, rng)
        opts = OPTIONS[(i // 2) % 4:] + OPTIONS[:(i // 2) % 4]
        answer = "ABCD"[opts.index("bright" if bright else "dark")]
        questions.append({"answer": answer, "choice_a": opts[0], "choice_b": opts[1], "choice_c": opts[2],
                          "choice_d": opts[3], "data_id": f"{i}.jpg", "data_type": "image",
                          "question": brightness.question, "question_id": f"q{i}",
                          "question_type_id": 1 if i < 4 else 3})
    release = tmp_path / "SEED-Bench.json"
    release.write_text(json.dumps({"question_type": {"Scene Understanding": 1, "Instance Attributes": 3},
                                   "questions": questions}))
    return release, questions


@pytest.mark.slow
def test_likelihood_picks_the_trained_preference(tmp_path, cli, tiny_exports, brightness, jsonl):
    untrained, trained = tiny_exports
    release, questions = seed_bench_release(tmp_path, brightness)
    assert sorted({q["answer"] for q in questions}) == ["A", "B", "C", "D"]
    r = cli("prepare", "seed-bench", release, "--images", tmp_path / "images", "--out", tmp_path / "seed.jsonl")
    assert r.code == 0, r

    r = cli("evaluate", "--checkpoint", trained, "--benchmark", "seed-bench", "--data", tmp_path / "seed.jsonl",
            "--out", tmp_path / "trained", "--method", "likelihood", "--batch-size", "3", "--quiet")
    assert r.code == 0, r
    res = json.loads((tmp_path / "trained" / "results.json").read_text())
    assert res["method"] == "likelihood" and "official" in res["rule"] and res["n"] == 8
    assert res["overall"] == 100.0
    assert res["per_dimension"] == {"Scene Understanding": 100.0, "Instance Attributes": 100.0}
    rows = {r["question_id"]: r for r in jsonl.read(tmp_path / "trained" / "predictions.jsonl")}
    for q in questions:
        row = rows[q["question_id"]]
        assert row["method"] == "likelihood" and len(row["losses"]) == 4
        want = "bright" if int(q["question_id"][1:]) % 2 == 0 else "dark"
        best = int(np.argmin(row["losses"]))
        assert q[f"choice_{'abcd'[best]}"] == want and row["prediction"] == "ABCD"[best] == q["answer"]
        # the preference is a clear margin over every other option, not a near tie
        others = sorted(row["losses"])[1]
        assert others - min(row["losses"]) > 0.5

    # the same checkpoint before training does not have the preference
    r = cli("evaluate", "--checkpoint", untrained, "--benchmark", "seed-bench", "--data", tmp_path / "seed.jsonl",
            "--out", tmp_path / "untrained", "--quiet")
    assert r.code == 0, r
    base = json.loads((tmp_path / "untrained" / "results.json").read_text())
    assert base["method"] == "likelihood" and base["overall"] <= 50.0
    md = (tmp_path / "trained" / "results.md").read_text()
    assert "| Model | Method | Overall | Scene Understanding | Instance Attributes |" in md
    assert "| trained | likelihood | 100.00 | 100.00 | 100.00 |" in md  # the model is named after its folder
    assert (tmp_path / "trained" / "results.per_dimension.png").read_bytes()[:4] == b"\x89PNG"
