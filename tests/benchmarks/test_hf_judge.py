"""A local Hugging Face model as the MLLM-Bench judge (tiny random model: plumbing, not quality)."""

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mllm_bench.judges import HFJudge, PredictorJudge, make_judge
from medmllm.evaluation.benchmarks.mllm_bench.score import MLLMBench


@pytest.mark.slow  # ~8-11 s: imports transformers and trains a tiny tokenizer
def test_hf_judge_from_a_local_folder(tmp_path):
    from medmllm.registry import LLMS

    bundle = LLMS.build("tiny", hidden_size=32, num_layers=1, num_heads=2)
    bundle.model.save_pretrained(tmp_path / "judge")
    bundle.tokenizer.save_pretrained(tmp_path / "judge")
    judge = make_judge(f"hf:{tmp_path / 'judge'}")
    assert isinstance(judge, HFJudge) and not judge.sees_images
    judge.max_new_tokens = 6
    bench = MLLMBench(judge=judge)
    samples, skipped = bench.prepare([(1, {"question_id": 1, "question": "What is it?", "prediction": "a lung"})],
                                     "mine", [(1, {"question_id": 1, "prediction": "a heart"})], "other")
    s = samples[0]
    # a random model writes no verdict: both orders unparsed -> a (consistent) tie
    assert isinstance(s["judge_model_first"], str) and "[Question]" not in s["judge_model_first"]
    assert s["outcome"] == "tie" and bench.aggregate(samples)["unparsed_verdicts"] == 2 and skipped == 0
    with pytest.raises(InputError, match="must be a local model folder"):
        HFJudge(tmp_path / "missing")


def test_predictor_judge_and_specs(fake_predictor):
    pred = fake_predictor(default="The first is better. [[A]]")
    judge = make_judge(PredictorJudge(pred))
    bench = MLLMBench(judge=judge)
    samples, _ = bench.prepare([(1, {"question_id": 1, "prediction": "x"})], "m", [(1, {"question_id": 1, "prediction": "y"})], "o")
    assert pred.generated == ["judge", "judge"] and samples[0]["outcome"] == "tie" and samples[0]["inconsistent"]
    with pytest.raises(InputError, match="judge must be an http"):
        make_judge("gpt-4")
