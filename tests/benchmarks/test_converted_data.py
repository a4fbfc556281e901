"""Scorers on manifests written by the real converters (`medmllm prepare`): the shared fields line up."""

import json

import pytest

from medmllm.evaluation.benchmarks.runner import run_manifest


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG")


def test_mme_from_converted_folder(tmp_path, cli, fake_predictor):
    root = tmp_path / "MME"
    for sub, img in (("existence", "1.jpg"), ("count", "2.jpg"), ("code_reasoning", "3.png")):
        touch(root / sub / img)
        (root / sub / img).with_suffix(".txt").write_text("Is it A? Please answer yes or no.\tYes\n"
                                                          "Is it B? Please answer yes or no.\tNo\n")
    assert cli("prepare", "mme", root, "--out", tmp_path / "mme.jsonl").code == 0
    answers = {"mme-existence-1-0": "Yes", "mme-existence-1-1": "No",  # both right
               "mme-count-2-0": "Yes", "mme-count-2-1": "Yes",          # one right
               "mme-code_reasoning-3-0": "No", "mme-code_reasoning-3-1": "Yes"}  # none right
    res = run_manifest("mme", tmp_path / "mme.jsonl", fake_predictor(answers=answers), tmp_path / "out", model="fake")
    assert res["subtasks"]["existence"]["score"] == 200.0 and res["subtasks"]["count"]["score"] == 50.0
    assert res["perception"] == 250.0 and res["cognition"] == 0.0 and res["n"] == 6
    # the predictions file alone rescored without a model gives the same numbers
    r = cli("score-benchmark", "mme", "--predictions", tmp_path / "out" / "predictions.jsonl", "--out", tmp_path / "s.json")
    assert r.code == 0 and json.loads((tmp_path / "s.json").read_text())["perception"] == 250.0


def test_seed_and_scienceqa_from_converted_files(tmp_path, cli, fake_predictor):
    qs = [{"answer": a, "choice_a": "cat", "choice_b": "dog", "choice_c": "car", "choice_d": "tree",
           "data_id": f"{i}.jpg", "data_type": "image", "question": "What is it?", "question_id": str(i),
           "question_type_id": t} for i, (a, t) in enumerate((("B", 1), ("A", 1), ("B", 5)))]
    (tmp_path / "SEED-Bench.json").write_text(json.dumps({"question_type": {"Scene Understanding": 1,
                                                                            "Instances Counting": 5}, "questions": qs}))
    for i in range(3):
        touch(tmp_path / "img" / f"{i}.jpg")
    assert cli("prepare", "seed-bench", tmp_path / "SEED-Bench.json", "--images", tmp_path / "img",
               "--out", tmp_path / "seed.jsonl").code == 0
    dog = fake_predictor(losses=lambda rec, ch: [0.1 if c == "dog" else 2.0 for c in ch])
    res = run_manifest("seed-bench", tmp_path / "seed.jsonl", dog, tmp_path / "seed", model="dog")
    assert res["method"] == "likelihood" and res["overall"] == pytest.approx(200 / 3)
    assert res["per_dimension"] == pytest.approx({"Scene Understanding": 50.0, "Instances Counting": 100.0})

    def problem(q, choices, answer, image, subject):
        return {"question": q, "choices": choices, "answer": answer, "hint": "", "image": image,
                "task": "closed choice", "grade": "grade3", "subject": subject, "topic": "t", "category": "c",
                "skill": "s", "lecture": "", "solution": "", "split": "test"}

    (tmp_path / "sqa").mkdir()
    (tmp_path / "sqa" / "problems.json").write_text(json.dumps({
        "1": problem("Which is a mammal?", ["shark", "whale"], 1, "image.png", "natural science"),
        "2": problem("Which word rhymes?", ["cat", "dog", "hat"], 0, None, "language science")}))
    (tmp_path / "sqa" / "pid_splits.json").write_text(json.dumps({"test": ["1", "2"]}))
    touch(tmp_path / "sqa" / "images" / "test" / "1" / "image.png")
    r = cli("prepare", "scienceqa", tmp_path / "sqa" / "problems.json", "--out", tmp_path / "sqa.jsonl")
    assert r.code == 0, r
    gen = fake_predictor(answers={"scienceqa-1": "The answer is B.", "scienceqa-2": "cat"})
    res = run_manifest("scienceqa", tmp_path / "sqa.jsonl", gen, tmp_path / "sqa", model="m")
    assert res["accuracy"] == 50.0 and res["img_accuracy"] == 100.0 and res["unparsed"] == 1
    assert res["per_subject"] == {"language science": 0.0, "natural science": 100.0}
