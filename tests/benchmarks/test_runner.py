"""The generic runner: resume without predicting an id twice, truncated lines, controls' image shuffle."""

import pytest

from medmllm.errors import ConfigError, InputError
from medmllm.evaluation.benchmarks.mme.score import MME
from medmllm.evaluation.benchmarks.runner import load_done, run_benchmark, run_predictions, shuffle_images


def mme_records(n_images=5):
    recs = []
    for i in range(n_images):
        for j, ans in enumerate(("Yes", "No")):
            q = f"Is there object {i}-{j}?"
            recs.append({"id": f"mme-{i}-{j}", "task": "vqa", "images": [{"modality": "xray", "path": f"{i}.jpg"}],
                         "messages": [{"role": "user", "content": "<xray>\n" + q}], "answer": ans,
                         "meta": {"benchmark": "mme", "subtask": "existence", "image": f"{i}.jpg", "question": q}})
    return recs


def test_resume_after_crash_and_truncated_line(tmp_path, fake_predictor, jsonl):
    recs = mme_records()  # 10 records
    out = tmp_path / "predictions.jsonl"
    crashing = fake_predictor(default="Yes", fail_after=6)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_predictions(MME(), recs, crashing, out, batch_size=3)
    assert crashing.generated == [r["id"] for r in recs[:6]]
    with open(out, "a") as f:
        f.write('{"id": "mme-3-0", "subtask": "exis')  # the process died mid-write
    again = fake_predictor(default="No")
    stats = run_predictions(MME(), recs, again, out, batch_size=3)
    assert stats.truncated_line_removed and stats.already_done == 6 and stats.predicted == 4
    assert again.generated == [r["id"] for r in recs[6:]]  # nothing generated twice
    rows = jsonl.read(out)
    assert [r["id"] for r in rows] == [r["id"] for r in recs]
    assert rows[0] == {"id": "mme-0-0", "subtask": "existence", "image": "0.jpg", "question": "Is there object 0-0?",
                       "answer": "Yes", "prediction": "Yes"}
    assert run_predictions(MME(), recs, fake_predictor(), out).predicted == 0


def test_corrupt_middle_line_is_an_error(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(InputError, match="line 2: not a JSON object"):
        load_done(p)
    p.write_text('{"id": "a"}\n{"x": 1}\n')
    with pytest.raises(InputError, match="line 2: a prediction row needs a string 'id'"):
        load_done(p)


def test_run_benchmark_scores_and_limits(tmp_path, fake_predictor, jsonl):
    recs = mme_records(3) + [{"id": "other", "task": "mcq", "messages": [], "meta": {"benchmark": "scienceqa"}}]
    # image 0 both right, image 1 one right, image 2 none right
    answers = {"mme-0-0": "Yes", "mme-0-1": "No", "mme-1-0": "Yes", "mme-1-1": "Yes", "mme-2-0": "No", "mme-2-1": "Yes"}
    res = run_benchmark(MME(), recs, fake_predictor(answers=answers), tmp_path / "o", model="m", data=None)
    ex = res["subtasks"]["existence"]
    assert (ex["acc"], ex["acc_plus"]) == (50.0, pytest.approx(100 / 3)) and res["n"] == 6 and res["skipped"] == 0
    assert res["run"] == {"batch_size": 8, "limit": None, "split": None, "seed": 0} and "controls" not in res
    limited = run_benchmark(MME(), recs, fake_predictor(answers=answers), tmp_path / "o", model="m", limit=2)
    assert limited["n"] == 2 and limited["subtasks"]["existence"]["acc_plus"] == 100.0
    with pytest.raises(InputError, match="no mme records"):
        run_benchmark(MME(), recs[-1:], fake_predictor(), tmp_path / "x", model="m")
    with pytest.raises(InputError, match="appears twice"):
        run_predictions(MME(), recs[:1] * 2, fake_predictor(), tmp_path / "d.jsonl")


def test_shuffle_images_moves_images_across_patients():
    recs = []
    for p in range(6):
        for lang in ("en", "zh"):  # two records per patient share the same images
            imgs = [{"modality": "xray", "path": f"p{p}/cxr.dcm"}]
            if p < 4:
                imgs.append({"modality": "ct", "path": f"p{p}/ct/"})
            recs.append({"id": f"case-{p}-{lang}", "patient_id": f"p{p}", "images": imgs, "meta": {}})
    out, stats = shuffle_images(recs, seed=3)
    assert stats == {"n": 12, "same_patient": 0}
    for orig, new in zip(recs, out):
        assert [i["modality"] for i in new["images"]] == [i["modality"] for i in orig["images"]]  # layout kept
        assert new["images"][0]["path"].split("/")[0] != orig["patient_id"]
        assert new["meta"]["images_from"] != orig["id"] and orig["meta"] == {}
    donors = sorted(r["meta"]["images_from"] for r in out)
    assert donors == sorted(r["id"] for r in recs)  # a permutation: every image set used once
    assert shuffle_images(recs, seed=3)[0] == out and shuffle_images(recs, seed=4)[0] != out
    lone, st = shuffle_images(recs[:1], seed=0)
    assert st["same_patient"] == 1


def test_run_manifest_by_name(tmp_path, fake_predictor):
    from medmllm.data.schema import new_record, write_manifest
    from medmllm.evaluation.benchmarks.runner import run_manifest

    recs = []
    for r in mme_records(2):
        recs.append(new_record(**{k: v for k, v in r.items()}, split="test"))
    recs[0]["split"] = "val"
    write_manifest(tmp_path / "m.jsonl", recs)
    res = run_manifest("mme", tmp_path / "m.jsonl", fake_predictor(default="Yes"), tmp_path / "o", model="m",
                       split="test", batch_size=2)
    assert res["n"] == 3 and res["data"].endswith("m.jsonl") and res["provenance"]["data_hash"]
    assert res["subtasks"]["existence"]["acc"] == pytest.approx(100 / 3)
    with pytest.raises(ConfigError, match="unknown benchmark"):
        run_manifest("nope", tmp_path / "m.jsonl", None, tmp_path / "x", model="m")
