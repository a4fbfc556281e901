"""Synthetic cine cases (angiography runs; retrograde flow visible only in motion): files, manifest, controls,
and a small model learning the finding from time (held-out, with the shuffled-frames control at chance)."""

import numpy as np
import pytest

from medmllm.data.schema import check_manifest, read_manifest
from medmllm.data.synthetic.cine import ANSWERS, generate_cine, render_cine
from medmllm.io import load_image


def _bolus_top(frame: np.ndarray) -> int:
    return int(np.flatnonzero((frame < 0.4).any(axis=1))[0])


def test_runs_are_xa_clips_with_a_manifest_and_shuffled_controls(cli, tmp_path):
    r = cli("synth", "--cine", "--out", tmp_path / "a", "--cases", "40", "--seed", "3")
    assert r.code == 0, r
    recs = read_manifest(tmp_path / "a" / "manifest.jsonl")
    assert check_manifest(tmp_path / "a" / "manifest.jsonl").ok
    tests = [x for x in recs if x["split"] == "test"]
    shuffled = [x for x in tests if x["meta"]["variant"] == "shuffled-frames"]
    assert tests and len(shuffled) == len(tests) / 2  # each test record has its shuffled-frames twin
    vqa = next(x for x in recs if x["task"] == "vqa")
    assert vqa["messages"][0]["content"].startswith("<video>\n") and vqa["answer"] in ANSWERS
    assert vqa["answer"] == ANSWERS[vqa["meta"]["direction"] == "retrograde"]
    img = load_image(tmp_path / "a" / vqa["images"][0]["path"])
    assert img.kind == "video" and img.shape == (8, 32, 32, 1) and img.meta["modality"] == "XA"
    assert img.meta["fps"] == pytest.approx(15.0, abs=0.01) and img.meta["burned_in_annotation"] == "NO"
    tops = [_bolus_top(f[..., 0]) for f in img.array]
    step = np.diff(tops)
    assert (step > 0).all() if vqa["meta"]["direction"] == "antegrade" else (step < 0).all()
    case = shuffled[0]["images"][0]["path"].rsplit("/", 1)[0]
    run = load_image(tmp_path / "a" / case / "run.dcm").array
    mixed = load_image(tmp_path / "a" / case / "run-shuffled.dcm").array
    assert sorted(map(_bolus_top, run[..., 0])) == sorted(map(_bolus_top, mixed[..., 0]))
    assert [_bolus_top(f) for f in run[..., 0]] != [_bolus_top(f) for f in mixed[..., 0]]
    again = cli("synth", "--cine", "--out", tmp_path / "b", "--cases", "40", "--seed", "3")
    assert again.code == 0
    assert (tmp_path / "a" / case / "run.dcm").read_bytes() == (tmp_path / "b" / case / "run.dcm").read_bytes()


def test_no_single_frame_shows_the_finding():
    """The middle frame's bolus position has the same range and about the same mean for both directions."""
    tops = {0: [], 1: []}
    for i in range(400):
        run, retro = render_cine(0, i)
        tops[retro].append(_bolus_top(run[len(run) // 2]))
    assert min(tops[0]) == min(tops[1]) and max(tops[0]) == max(tops[1])
    assert abs(np.mean(tops[0]) - np.mean(tops[1])) < 1.0


@pytest.mark.slow
def test_a_small_model_learns_the_finding_from_time(tmp_path):
    """Through files and the data pipeline: the video model answers held-out runs; shuffled frames: chance."""
    import torch

    from medmllm.data.dataset import ManifestDataset
    from medmllm.training.probes import choice_accuracy, fit, probe_model_config
    from medmllm.data.transforms import build_pipelines
    from medmllm.models.mllm import build_model

    generate_cine(tmp_path / "cine", 500, seed=1)
    cfg = probe_model_config(8)
    vit = cfg["modalities"]["video"]["encoder"]["encoder"]
    vit["mean"], vit["std"] = [0.65], [0.15]
    cfg["llm"]["corpus"] = [*ANSWERS, "Is the flow in the vessel antegrade or retrograde?"]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        model = build_model(cfg)
        pipes = build_pipelines({"video": model.input_spec("video")})
        data = {split: ManifestDataset.from_manifest(tmp_path / "cine" / "manifest.jsonl", pipes, split=split,
                                                     tasks=["vqa"]) for split in ("train", "test")}
        train = [data["train"][i] for i in range(len(data["train"]))]
        fit(model, train, steps=200, seed=0)
        held = [data["test"][i] for i in range(len(data["test"]))]
        prompts = {v: [{**s, "messages": s["messages"][:1]} for s in held if s["meta"]["variant"] == v]
                   for v in ("vqa", "shuffled-frames")}
        truth = {v: [int(s["meta"]["direction"] == "retrograde") for s in held if s["meta"]["variant"] == v]
                 for v in prompts}
        ordered = choice_accuracy(model, prompts["vqa"], ANSWERS, truth["vqa"])
        shuffled = choice_accuracy(model, prompts["shuffled-frames"], ANSWERS, truth["shuffled-frames"])
    finally:
        torch.set_num_threads(threads)
    assert len(truth["vqa"]) >= 35
    assert ordered >= 0.85, (ordered, shuffled)
    assert shuffled <= 0.75, (ordered, shuffled)
