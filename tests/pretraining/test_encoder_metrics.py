import numpy as np
import pytest

from medmllm.pretraining.metrics import (auroc_per_label, linear_probe_auroc, retrieval_recall,
                                                zero_shot_scores)


def test_retrieval_recall_hand_computed():
    # 3 pairs; text embeddings are rotated so image 2 retrieves text 1 first, text 2 second
    img = np.array([[1, 0, 0], [0, 1, 0], [0, 0.6, 0.8]], float)
    txt = np.array([[1, 0, 0], [0, 1, 0], [0, 0.8, 0.6]], float)
    r = retrieval_recall(img, txt, ks=(1, 2))
    # i2t: row0 hit@1, row1: sims to t1=1.0, t2=0.8 -> hit@1; row2: t1=0.6, t2=0.96 -> hit@1
    assert r["i2t_r1"] == pytest.approx(1.0)
    txt2 = np.array([[1, 0, 0], [0, 0.6, 0.8], [0, 1, 0]], float)  # texts 1 and 2 swapped
    r2 = retrieval_recall(img, txt2, ks=(1, 2))
    # image1 -> best text is index 2 (sim 1.0) not 1 (0.6): miss@1, hit@2; image2 -> best is index 1 (1.0 vs 0.6): miss@1
    assert r2["i2t_r1"] == pytest.approx(1 / 3)
    assert r2["i2t_r2"] == pytest.approx(1.0)
    assert r2["chance_r1"] == pytest.approx(1 / 3)
    assert r2["chance_r2"] == pytest.approx(2 / 3)


def test_retrieval_groups_count_identical_reports_as_hits():
    img = np.array([[1, 0], [1, 0]], float)
    txt = np.array([[1, 0], [1, 0]], float)
    r = retrieval_recall(img, txt, ks=(1,), groups=["normal", "normal"])
    assert r["i2t_r1"] == 1.0 and r["chance_r1"] == 1.0


def test_auroc_and_zero_shot_and_probe():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(200, 2))
    feats = np.concatenate([y * 2.0 + rng.normal(0, 0.5, size=y.shape), rng.normal(size=(200, 3))], axis=1)
    out = linear_probe_auroc(feats[:100], y[:100], feats[100:], y[100:], ["a", "b"])
    assert out["a"] > 0.95 and out["b"] > 0.95
    assert auroc_per_label(np.array([[0.1], [0.9]]), np.array([[0], [1]]), ["x"]) == {"x": 1.0}
    assert auroc_per_label(np.array([[0.1], [0.9]]), np.array([[1], [1]]), ["x"]) == {"x": None}
    img = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = zero_shot_scores(img, positive_prompt_emb=np.array([[1.0, 0.0]]), negative_prompt_emb=np.array([[0.0, 1.0]]))
    assert p[0, 0] > 0.99 and p[1, 0] < 0.01
