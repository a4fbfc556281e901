"""The ``encoder`` benchmark's aggregation, prompts and retrieval ranks, checked by hand."""

import numpy as np
import pytest

from medmllm.pretraining.features import eval_items, retrieval_ranks, zero_shot_prompts
from medmllm.pretraining.metrics import retrieval_recall
from medmllm.registry import BENCHMARKS


def _row(i, labels, zs, ranks=None):
    pred = {"zero_shot": zs, **(ranks or {})}
    return {"id": f"s{i}", "modality": "xray", "labels": labels, "prediction": pred}


def test_aggregate_by_hand():
    bench = BENCHMARKS.build("encoder")
    def r(i2t, t2i, hits):
        return {"i2t_rank": i2t, "t2i_rank": t2i, "hits": hits, "gallery": 4}

    rows = [_row(0, {"nodule": 1, "normal": 0}, {"nodule": 0.9, "normal": 0.2}, r(0, 1, 1)),
            _row(1, {"nodule": 0, "normal": 1}, {"nodule": 0.3, "normal": 0.8}, r(2, 0, 1)),
            _row(2, {"nodule": 1, "normal": 0}, {"nodule": 0.2, "normal": 0.1}, r(0, 0, 2)),
            _row(3, {"nodule": 0, "normal": None}, {"nodule": 0.4, "normal": 0.5}, r(1, 3, 2))]
    res = bench.aggregate(rows)
    x = res["xray"]
    assert res["modalities"] == ["xray"] and x["n"] == 4
    assert x["retrieval"]["i2t_r1"] == pytest.approx(0.5) and x["retrieval"]["t2i_r1"] == pytest.approx(0.5)
    assert x["retrieval"]["i2t_r5"] == 1.0 and x["retrieval"]["t2i_r5"] == 1.0
    # chance@1 = mean(hits / gallery) = (1 + 1 + 2 + 2) / 4 / 4; chance@5 (k > gallery) = 1
    assert x["retrieval"]["chance_r1"] == pytest.approx(6 / 16) and x["retrieval"]["chance_r5"] == 1.0
    # nodule: positives 0.9, 0.2 vs negatives 0.3, 0.4 -> 2 of 4 pairs ordered right -> 0.5
    assert x["zero_shot"]["auroc"]["nodule"] == pytest.approx(0.5)
    # normal: row 3 unknown; positive 0.8 vs negatives 0.2, 0.1 -> 1.0
    assert x["zero_shot"]["auroc"]["normal"] == pytest.approx(1.0)
    assert x["zero_shot"]["mean_auroc"] == pytest.approx(0.75)
    assert "linear_probe" not in x and x["n_pos"] == {"nodule": 2, "normal": 1}
    head = bench.headline(res)
    assert head["xray i2t R@1"] == 0.5 and head["xray zero-shot AUROC"] == 0.75 and head["xray probe AUROC"] is None
    titles = [b.title for b in bench.breakdowns(res)]
    assert titles == ["AUROC per label (xray)", "Retrieval recall (xray)"]


def test_retrieval_ranks_agree_with_retrieval_recall():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(30, 8))
    txt = img + rng.normal(scale=1.5, size=img.shape)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    reports = [f"report {i % 12}" for i in range(30)]  # groups of identical reports
    ranks = retrieval_ranks(img, txt, reports)
    ref = retrieval_recall(img, txt, ks=(1, 5), groups=reports)
    rows = [{"id": str(i), "modality": "ct", "labels": {}, "prediction": r} for i, r in enumerate(ranks)]
    got = BENCHMARKS.build("encoder").aggregate(rows)["ct"]["retrieval"]
    for k in ("i2t_r1", "t2i_r1", "i2t_r5", "t2i_r5", "chance_r1", "chance_r5"):
        assert got[k] == pytest.approx(ref[k]), k
    assert 0 < ref["i2t_r1"] < 1


def test_prompts_and_items():
    pos, neg = zero_shot_prompts(["consolidation:RLL", "pleural_effusion:left", "normal", "nodule"])
    assert pos == ["right lower lobe consolidation", "left pleural effusion", "no abnormality", "pulmonary nodule"]
    assert neg == ["no consolidation", "no pleural effusion", "abnormality", "no pulmonary nodule"]
    pos, neg = zero_shot_prompts(["consolidation:RLL"], "zh")
    assert pos == ["右肺下叶实变"] and neg == ["未见实变"]
    recs = [{"id": "a", "images": [{"modality": "xray", "path": "1.png"}]},
            {"id": "b", "images": [{"modality": "xray", "path": "1.png"}, {"modality": "ct", "path": "c/"}]},
            {"id": "c", "images": [{"modality": "xray", "path": "2.png"}, {"modality": "xray", "path": "3.png"}]}]
    assert [(r["id"], im["path"]) for r, im in eval_items(recs, "xray")] == [("a", "1.png"), ("c", "2.png")]
    assert [r["id"] for r, _ in eval_items(recs, "ct")] == ["b"]


def test_declares_that_it_evaluates_the_checkpoint_and_takes_lang(tmp_path):
    from medmllm.errors import InputError
    from medmllm.evaluation.benchmarks.lookup import build_benchmark
    from medmllm.evaluation.evaluate import evaluate

    bench, hook = build_benchmark("encoder", {"lang": "zh", "protocol": None})
    assert bench.evaluates_checkpoint and hook == {"lang": "zh"}  # goes to run_checkpoint
    with pytest.raises(InputError, match="--protocol does not apply to encoder"):
        build_benchmark("encoder", {"protocol": "r2gen"})
    with pytest.raises(InputError, match="--lang: 'fr' is not one of en, zh"):
        build_benchmark("encoder", {"lang": "fr"})
    (tmp_path / "m.jsonl").write_text("")
    with pytest.raises(InputError, match="checkpoint not found"):  # routed to run_checkpoint's checks
        evaluate(tmp_path / "missing", "encoder", tmp_path / "m.jsonl", tmp_path / "out")
