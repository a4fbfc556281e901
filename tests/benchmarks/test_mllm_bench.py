"""MLLM-Bench pairwise judging against a local fake OpenAI-compatible endpoint with scripted verdicts."""

import json
import re

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mllm_bench.judges import OpenAIJudge
from medmllm.evaluation.benchmarks.mllm_bench.score import MLLMBench, combine, parse_verdict

ANSWERS = re.compile(r"\[Question\]\n(.*?)\n\n\[Answer A\]\n(.*?)\n\n\[Answer B\]\n(.*?)\n\n", re.S)


def scripted(question, first, second):
    """The fake judge's behaviour per question."""
    if question in ("q-good-model", "q-good-other"):  # a fair judge: prefers the answer saying 'good'
        return "A is better. [[A]]" if "good" in first else "B is better. [[B]]"
    if question == "q-position":  # a position-biased judge: always the first answer
        return "[[A]]"
    if question == "q-tie":
        return "Both fine. [[C]]"
    if question == "q-garbled":  # no verdict when the model's answer comes second
        return "[[A]]" if first.startswith("model") else "I cannot decide."
    raise AssertionError(question)


@pytest.fixture
def endpoint(chat_server):
    state = {"requests": [], "fail_first": 0}

    def respond(handler, body):
        state["requests"].append({"path": handler.path, "auth": handler.headers.get("Authorization"), "body": body})
        if state["fail_first"] > 0:
            state["fail_first"] -= 1
            return 503, b"busy"
        if body.get("model") == "bad":
            return 400, b'{"error": "unknown model"}'
        user = body["messages"][-1]["content"]
        text = user if isinstance(user, str) else user[0]["text"]
        q, first, second = ANSWERS.search(text).groups()
        return 200, {"choices": [{"message": {"role": "assistant", "content": scripted(q, first, second)}}]}

    state["url"] = chat_server(respond)
    return state


QUESTIONS = ["q-good-model", "q-good-other", "q-position", "q-tie", "q-garbled"]


def files(tmp_path, jsonl):
    mine, other = [], []
    for i, q in enumerate(QUESTIONS):
        m = "model: good answer" if q == "q-good-model" else "model: plain answer"
        o = "other: good answer" if q == "q-good-other" else "other: plain answer"
        level = "Perception" if i < 2 else "Creation"
        mine.append({"question_id": i, "question": q, "prediction": m, "level": level})
        other.append({"question_id": i, "question": q, "prediction": o, "level": level})
    other.append({"question_id": 99, "question": "unanswered", "prediction": "x"})
    return jsonl.write(tmp_path / "mine.jsonl", mine), jsonl.write(tmp_path / "other.jsonl", other)


def test_verdicts_and_rule():
    assert parse_verdict("long text [[A]] then [[B]]") == "second"
    assert parse_verdict("[[ c ]]") == "tie" and parse_verdict("[[tie]]") == "tie" and parse_verdict("none") is None
    assert combine("first", "second") == ("win", False)  # model first then second: preferred both times
    assert combine("second", "first") == ("lose", False)
    assert combine("first", "first") == ("tie", True)  # position bias
    assert combine("tie", "tie") == ("tie", False)
    assert combine("first", None) == ("tie", True)


def test_pairwise_judging_with_order_swap(tmp_path, jsonl, endpoint, monkeypatch, cli):
    monkeypatch.setenv("MEDMLLM_JUDGE_API_KEY", "sk-test-123")
    mine, other = files(tmp_path, jsonl)
    out = tmp_path / "res.json"
    r = cli("score-benchmark", "mllm-bench", "--predictions", mine, "--references", other, "--judge", endpoint["url"],
            "--judge-model", "judge-x", "--out", out)
    assert r.code == 0, r
    reqs = endpoint["requests"]
    assert len(reqs) == 10 and all(q["path"] == "/v1/chat/completions" for q in reqs)
    assert all(q["auth"] == "Bearer sk-test-123" and q["body"]["model"] == "judge-x" for q in reqs)
    assert "sk-test-123" not in r.out + r.err
    # every pair asked twice, the model's answer first and then second
    for i, q in enumerate(QUESTIONS):
        a, b = (ANSWERS.search(x["body"]["messages"][-1]["content"]).groups() for x in reqs[2 * i:2 * i + 2])
        assert a[0] == b[0] == q and a[1].startswith("model") and b[2].startswith("model")
    res = json.loads(out.read_text())
    # win: good-model; lose: good-other; tie: position (inconsistent), tie (consistent), garbled (inconsistent)
    assert (res["win"], res["tie"], res["lose"]) == (1, 3, 1)
    assert res["inconsistent"] == 2 and res["unparsed_verdicts"] == 1
    assert res["win_rate"] == pytest.approx(100 * (1 + 1.5) / 5) and res["strict_win_rate"] == 20.0
    assert res["per_level"] == pytest.approx({"Perception": 50.0, "Creation": 50.0})
    assert res["n"] == 5 and res["skipped"] == 1 and "order swapped" in res["rule"]
    samples = jsonl.read(tmp_path / "res.samples.jsonl")
    assert [s["outcome"] for s in samples] == ["win", "lose", "tie", "tie", "tie"]
    # a rerun reuses the cached judgments: no new requests
    r = cli("score-benchmark", "mllm-bench", "--predictions", mine, "--references", other, "--judge", endpoint["url"],
            "--judge-model", "judge-x", "--out", out)
    assert r.code == 0 and len(endpoint["requests"]) == 10
    # comparing results re-aggregates the judged samples without a judge
    cmp = cli("compare", out, out, "--n-boot", "50", "--json")
    assert cmp.code == 0 and json.loads(cmp.out)["metrics"]["win_rate"]["diff"] == 0.0


def test_retry_and_http_errors(endpoint):
    endpoint["fail_first"] = 1
    judge = OpenAIJudge(endpoint["url"], model="m", backoff=0.0, retries=1)
    msgs = [{"role": "user", "content": "[Question]\nq-tie\n\n[Answer A]\nx\n\n[Answer B]\ny\n\n"}]
    assert judge.complete(msgs, []) == "Both fine. [[C]]" and len(endpoint["requests"]) == 2
    with pytest.raises(InputError, match=r"chat/completions: judge returned HTTP 400"):
        OpenAIJudge(endpoint["url"], model="bad", backoff=0.0).complete(msgs, [])
    with pytest.raises(InputError, match="cannot reach the judge"):
        OpenAIJudge("http://127.0.0.1:9/v1", retries=0, timeout=2).complete(msgs, [])
    with pytest.raises(InputError, match="must start with http"):
        OpenAIJudge("ftp://x")


def test_images_are_sent_as_data_urls(endpoint, tmp_path):
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    bench = MLLMBench(judge=endpoint["url"], image_root=str(tmp_path))
    rows = [(1, {"question_id": 1, "question": "q-tie", "prediction": "a", "image": "img.png"})]
    refs = [(1, {"question_id": 1, "prediction": "b"})]
    samples, _ = bench.prepare(rows, "mine", refs, "other")
    content = endpoint["requests"][0]["body"]["messages"][-1]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert samples[0]["outcome"] == "tie"
    # no image root: text only; a path leaving the root is refused
    MLLMBench(judge=endpoint["url"]).prepare(rows, "mine", refs, "other")
    assert isinstance(endpoint["requests"][-1]["body"]["messages"][-1]["content"], str)
    sneaky = [(1, dict(rows[0][1], image="../secret.png"))]
    with pytest.raises(InputError, match="leaves the image root"):
        bench.prepare(sneaky, "mine", refs, "other")


def test_needs_references_and_judge(tmp_path):
    rows = [(1, {"question_id": 1, "prediction": "a"})]
    with pytest.raises(InputError, match="needs --references"):
        MLLMBench().prepare(rows, "p.jsonl")
    with pytest.raises(InputError, match="needs a judge"):
        MLLMBench().prepare(rows, "p.jsonl", [(1, {"question_id": 1, "prediction": "b"})], "r.jsonl")
    with pytest.raises(InputError, match="r.jsonl: line 2: question_id 1 appears twice"):
        MLLMBench().prepare(rows, "p.jsonl", [(1, {"question_id": 1, "prediction": "b"}),
                                              (2, {"question_id": 1, "prediction": "c"})], "r.jsonl")
