"""`medmllm evaluate` end to end: a tiny trained export on MME / SEED-Bench / ScienceQA releases in their
published shapes, converted by `medmllm prepare`; resume after an interrupt."""

import json

import numpy as np
import pytest

SUBTASKS = {"existence": 4, "color": 2, "code_reasoning": 2}  # subtask -> images (alternately bright, dark)


def mme_release(root, brightness):
    """MME folders with one question per image that the trained export answers by the image's brightness."""
    rng = np.random.default_rng(7)
    for sub, n in SUBTASKS.items():
        for i in range(n):
            bright = i % 2 == 0
            brightness.write(root / sub / f"{i}.jpg", bright, rng)
            (root / sub / f"{i}.txt").write_text(f"{brightness.yes_no}\t{'Yes' if bright else 'No'}\n")
    return root


@pytest.fixture
def mme_manifest(tmp_path, cli, brightness):
    r = cli("prepare", "mme", mme_release(tmp_path / "MME", brightness), "--out", tmp_path / "mme.jsonl")
    assert r.code == 0, r
    return tmp_path / "mme.jsonl"


@pytest.mark.slow
def test_mme_results_files_and_batching(tmp_path, cli, tiny_exports, mme_manifest, jsonl):
    _, trained = tiny_exports
    out = tmp_path / "mme-b4"
    r = cli("evaluate", "--checkpoint", trained, "--benchmark", "mme", "--data", mme_manifest, "--out", out,
            "--batch-size", "4")
    assert r.code == 0, r
    assert "| trained |" in r.out and f"wrote {out / 'results.json'}: n = 8 (0 already there, 8 new)" in r.out
    res = json.loads((out / "results.json").read_text())
    # the export answers each question by its image's brightness: every answer right
    assert res["subtasks"]["existence"] == {"acc": 100.0, "acc_plus": 100.0, "score": 200.0, "n_questions": 4,
                                            "n_images": 4, "other": 0}
    assert res["perception"] == 400.0 and res["cognition"] == 200.0 and res["n"] == 8
    assert res["model"] == "trained" and res["data"] == str(mme_manifest) and res["provenance"]["data_hash"]
    assert res["provenance"]["config_hash"] and res["run"]["batch_size"] == 4 and "controls" not in res
    rows = jsonl.read(out / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in jsonl.read(mme_manifest))
    assert {r["prediction"] for r in rows} == {"Yes", "No"}
    assert (out / "results.md").read_text().count("| trained |") == 1
    for png in res["files"]["plots"]:
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # unbatched generation gives the same answers (left padding does not change greedy output)
    r = cli("evaluate", "--checkpoint", trained, "--benchmark", "mme", "--data", mme_manifest, "--out",
            tmp_path / "mme-b1", "--batch-size", "1", "--quiet")
    assert r.code == 0, r
    one = {r["id"]: r["prediction"] for r in jsonl.read(tmp_path / "mme-b1" / "predictions.jsonl")}
    assert one == {r["id"]: r["prediction"] for r in rows}


@pytest.mark.slow
def test_resume_after_interrupt_generates_no_id_twice(tmp_path, cli, tiny_exports, mme_manifest, jsonl, monkeypatch):
    from medmllm.inference import Predictor

    _, trained = tiny_exports
    real = Predictor.generate_prepared
    calls = []

    def counting(self, samples, **gen):
        if interrupt_at is not None and len(calls) == interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C while the third batch is generated
        calls.append([s["id"] for s in samples])
        return real(self, samples, **gen)

    monkeypatch.setattr(Predictor, "generate_prepared", counting)
    out = tmp_path / "out"
    args = ["evaluate", "--checkpoint", trained, "--benchmark", "mme", "--data", mme_manifest, "--out", out,
            "--batch-size", "3", "--quiet"]
    interrupt_at = 2
    assert cli(*args).code == 130
    first = [i for c in calls for i in c]
    assert len(first) == 6 and not (out / "results.json").exists()
    assert [r["id"] for r in jsonl.read(out / "predictions.jsonl")] == first
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"id": "mme-color-1-0", "subt')  # a torn line: the process died mid-write
    calls.clear()
    interrupt_at = None
    r = cli(*args[:-1])
    assert r.code == 0, r
    second = [i for c in calls for i in c]
    assert len(second) == 2 and not set(second) & set(first)
    assert "(6 already there, 2 new)" in r.out
    ids = [r["id"] for r in jsonl.read(out / "predictions.jsonl")]
    assert sorted(ids) == sorted(first + second) and len(ids) == len(set(ids)) == 8
    res = json.loads((out / "results.json").read_text())
    assert res["n"] == 8 and res["perception"] == 400.0
    # a third run has nothing left to generate
    calls.clear()
    assert cli(*args).code == 0 and calls == []
    # another generation setting into the same folder is refused, in one line
    r = cli(*args, "--max-new-tokens", "4")
    assert r.code == 2 and r.err.count("\n") == 1
    assert "holds predictions of another run (generation was {'max_new_tokens': 16}" in r.err


def seed_release(tmp_path, brightness):
    rng = np.random.default_rng(11)
    qs = []
    for i, (bright, answer) in enumerate(((True, "B"), (False, "A"), (True, "B"))):
        brightness.write(tmp_path / "seed-img" / f"{i}.jpg", bright, rng)
        qs.append({"answer": answer, "choice_a": "dark", "choice_b": "bright", "choice_c": "grey", "choice_d": "blue",
                   "data_id": f"{i}.jpg", "data_type": "image", "question": brightness.question,
                   "question_id": str(i), "question_type_id": 3})
    release = {"question_type": {"Instance Attributes": 3}, "questions": qs}
    (tmp_path / "SEED-Bench.json").write_text(json.dumps(release))
    return tmp_path / "SEED-Bench.json"


def scienceqa_release(folder, brightness):
    def problem(q, choices, answer, image, subject):
        return {"question": q, "choices": choices, "answer": answer, "hint": "", "image": image,
                "task": "closed choice", "grade": "grade3", "subject": subject, "topic": "t", "category": "c",
                "skill": "s", "lecture": "", "solution": "", "split": "test"}

    folder.mkdir()
    (folder / "problems.json").write_text(json.dumps({
        "1": problem(brightness.question, ["dark", "bright"], 1, "image.png", "natural science"),
        "2": problem("Which word rhymes with cat?", ["hat", "dog"], 0, None, "language science"),
        "3": problem("Which is a mammal?", ["whale", "shark"], 0, None, "natural science")}))
    (folder / "pid_splits.json").write_text(json.dumps({"test": ["1", "2", "3"]}))
    brightness.write(folder / "images" / "test" / "1" / "image.png", True, np.random.default_rng(3))
    return folder / "problems.json"


@pytest.mark.slow
def test_seed_generation_and_scienceqa_match_rescoring(tmp_path, cli, tiny_exports, brightness, jsonl):
    """Evaluate's numbers equal `score-benchmark` on its own predictions; the method is labelled."""
    _, trained = tiny_exports
    r = cli("prepare", "seed-bench", seed_release(tmp_path, brightness), "--images", tmp_path / "seed-img",
            "--out", tmp_path / "seed.jsonl")
    assert r.code == 0, r
    r = cli("prepare", "scienceqa", scienceqa_release(tmp_path / "sqa", brightness), "--out", tmp_path / "sqa.jsonl")
    assert r.code == 0, r
    for name, data, extra in (("seed-bench", "seed.jsonl", ["--method", "generation"]), ("scienceqa", "sqa.jsonl", [])):
        out = tmp_path / name
        r = cli("evaluate", "--checkpoint", trained, "--benchmark", name, "--data", tmp_path / data, "--out", out,
                "--max-new-tokens", "4", "--quiet", *extra)
        assert r.code == 0, r
        res = json.loads((out / "results.json").read_text())
        rows = jsonl.read(out / "predictions.jsonl")
        assert res["n"] == len(rows) == 3 and all(isinstance(r["prediction"], str) for r in rows)
        assert cli("score-benchmark", name, "--predictions", out / "predictions.jsonl", "--out",
                   tmp_path / f"{name}.json", "--no-plots").code == 0
        again = json.loads((tmp_path / f"{name}.json").read_text())
        for key in ("overall", "per_dimension", "unparsed", "method", "accuracy", "img_accuracy", "per_subject"):
            assert again.get(key) == res.get(key), key
    seed = json.loads((tmp_path / "seed-bench" / "results.json").read_text())
    assert seed["method"] == "generation" and "letter extracted" in seed["rule"] and seed["skipped"] == 0
    rows = jsonl.read(tmp_path / "seed-bench" / "predictions.jsonl")
    assert all(r["method"] == "generation" and "losses" not in r for r in rows)
    sqa = jsonl.read(tmp_path / "scienceqa" / "predictions.jsonl")
    assert {r["pid"]: r["has_image"] for r in sqa} == {"1": True, "2": False, "3": False}
