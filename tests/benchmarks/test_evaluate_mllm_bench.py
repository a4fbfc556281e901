"""`medmllm evaluate` on MLLM-Bench (answers, then a judge with the order swapped) and `load_predictor`."""

import json

import numpy as np
import pytest


@pytest.fixture
def judge_url(chat_server):
    """A fake OpenAI-compatible judge: prefers a one-word answer over a hedge, whatever the order."""
    seen = []

    def respond(handler, body):
        content = body["messages"][-1]["content"]
        text = content[0]["text"] if isinstance(content, list) else content
        first = text.split("[Answer A]\n")[1].split("\n\n[Answer B]")[0]
        images = [p for p in content if p.get("type") == "image_url"] if isinstance(content, list) else []
        seen.append({"first": first, "images": len(images)})
        verdict = "[[B]]" if first.startswith("I do not know") else "[[A]]"
        return 200, {"choices": [{"message": {"content": f"Reasoning. {verdict}"}}]}

    return chat_server(respond), seen


@pytest.mark.slow
def test_mllm_bench_answers_then_judged_both_orders(tmp_path, cli, tiny_exports, brightness, jsonl, judge_url):
    url, seen = judge_url
    _, trained = tiny_exports
    rng = np.random.default_rng(5)
    qs = []
    for i in range(3):
        brightness.write(tmp_path / "bench" / "data" / "images" / f"{i}.jpg", i != 1, rng)
        qs.append({"id": i, "question": brightness.question, "image_path": f"images/{i}.jpg",
                   "meta": {"level": "Perception", "capability": "brightness"}})
    (tmp_path / "bench" / "data" / "questions.json").write_text(json.dumps(qs))
    r = cli("prepare", "mllm-bench", tmp_path / "bench", "--out", tmp_path / "mllm.jsonl")
    assert r.code == 0, r
    base = ["evaluate", "--checkpoint", trained, "--benchmark", "mllm-bench", "--data", tmp_path / "mllm.jsonl",
            "--out", tmp_path / "out", "--max-new-tokens", "8"]
    r = cli(*base)  # answers only: nothing to judge against yet
    assert r.code == 0, r
    assert "3 answers (0 already there, 3 new); judge them with --references" in r.out
    rows = jsonl.read(tmp_path / "out" / "predictions.jsonl")
    assert [x["prediction"] for x in rows] == ["bright", "dark", "bright"]
    assert not (tmp_path / "out" / "results.json").exists()
    other = jsonl.write(tmp_path / "other.jsonl", [{"question_id": str(i), "question": brightness.question,
                                                   "prediction": "I do not know."} for i in range(3)])
    r = cli(*base, "--references", other, "--judge", url, "--judge-model", "fake", "--quiet")
    assert r.code == 0, r
    assert "(3 already there, 0 new)" in r.out  # the answers were not generated again
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (res["win"], res["tie"], res["lose"], res["win_rate"], res["inconsistent"]) == (3, 0, 0, 100.0, 0)
    assert res["per_level"] == {"Perception": 100.0} and res["model"] == "trained"
    # each pair judged twice, once with the model's answer first; the judge saw each question's image
    assert sorted(s["first"] for s in seen) == sorted(["bright", "dark", "bright"] + ["I do not know."] * 3)
    assert all(s["images"] == 1 for s in seen)
    assert (tmp_path / "out" / "results.judgments.jsonl").is_file()
    r = cli(*base, "--references", other)
    assert r.code == 2 and "judging against --references needs --judge" in r.err


@pytest.mark.slow
def test_load_predictor_is_the_runner_and_judge_view_of_an_export(tmp_path, tiny_exports, brightness):
    from medmllm.evaluation.benchmarks.mllm_bench.judges import PredictorJudge, make_judge
    from medmllm.inference import Predictor, load_predictor

    _, trained = tiny_exports
    brightness.write(tmp_path / "img" / "a.jpg", True, np.random.default_rng(0))
    rec = {"id": "a", "images": [{"modality": "xray", "path": "a.jpg"}],
           "messages": [{"role": "user", "content": "<xray>\n" + brightness.question}]}
    p = load_predictor(trained, image_root=tmp_path / "img", max_new_tokens=4)
    assert isinstance(p, Predictor) and p.generate([]) == []
    assert p.generate([rec, rec]) == ["bright", "bright"]
    direct = Predictor.from_pretrained(trained)
    want = direct.choice_losses(rec, ["bright", "dark"], root=tmp_path / "img")
    assert p.choice_losses(rec, ["bright", "dark"]) == want and want[0] < want[1]
    judge = make_judge(f"checkpoint:{trained}")
    assert isinstance(judge, PredictorJudge) and judge.predictor.generation == {"max_new_tokens": 512}
    assert judge.sees_images is False
