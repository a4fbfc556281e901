"""Findings-guided prompting at training time: encoder stage -> heads handed off -> hints computed once.

One tiny pipeline (encoder stage, then a report stage with ``model.findings_prompt``) on the
synthetic cases of the training fixtures. The report stage's heads are the encoder stage's, every
training batch carries the hint, the heads run once per distinct image (not per step), and the hint
a training sample gets is the hint the exported model's Predictor writes for the same record.
"""

import copy
import json
from collections import Counter

import pytest
import torch

pytestmark = pytest.mark.slow  # two short stages of the tiny model: ~30 s

HINT = "Findings detected by the image classifier:"


@pytest.fixture(scope="module")
def run(tiny_base, synth_manifest, tmp_path_factory):
    import lightning as L

    from medmllm.models import findings_prompt as fp
    from medmllm.training.train import train

    cfg = copy.deepcopy(tiny_base)
    cfg["data"]["train"] = [{"path": str(synth_manifest)}]
    cfg["data"]["val"] = [{"path": str(synth_manifest)}]
    cfg["model"]["findings_prompt"] = {"threshold": 0.3, "calibrate": True}
    cfg["train"].update(run_dir=str(tmp_path_factory.mktemp("hints") / "run"), max_steps=6, val_every_n_steps=6,
                        checkpoint={"every_n_steps": None})
    cfg["pipeline"] = [
        {"name": "encoder", "train": {"stage": "encoder", "pretrain": {
            "embed_dim": 16, "text": {"name": "small", "width": 32, "layers": 1, "heads": 2}}}},
        {"name": "report", "train": {"stage": "report", "optim": {"lr": 1e-3}}}]

    calls: Counter = Counter()
    forward = fp.FindingsHeads.forward

    def counted(self, encoder, modality, pixels):
        calls[modality] += 1
        calls[f"{modality} images"] += pixels.shape[0]
        return forward(self, encoder, modality, pixels)

    texts: list[str] = []

    class Batches(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if type(pl_module).__name__ == "MedMLLMModule":
                texts.extend(pl_module.model.tokenizer.batch_decode(batch["input_ids"]))

    mp = pytest.MonkeyPatch()
    mp.setattr(fp.FindingsHeads, "forward", counted)
    try:
        result = train(cfg, quiet=True, callbacks=[Batches()])
    finally:
        mp.undo()
    return result, calls, texts, synth_manifest


def test_the_report_stage_reads_the_encoder_stage_heads_and_exports_them(run):
    from safetensors.torch import load_file

    from medmllm.config import read_yaml

    result, _, _, _ = run
    enc, rep = result.exports["encoder"], result.exports["report"]
    pre = load_file(str(enc / "pretrain_heads.safetensors"))
    own = load_file(str(rep / "findings_heads.safetensors"))
    assert set(own) == {"xray.weight", "xray.bias", "ct.weight", "ct.bias"}
    from safetensors import safe_open

    with safe_open(str(rep / "findings_heads.safetensors"), "pt") as f:
        thresholds = json.loads(f.metadata()["thresholds"])
    assert thresholds and all(0 < t < 1 for t in thresholds.values())  # calibrated on the training records
    assert "normal" not in thresholds
    for k, v in own.items():
        assert torch.equal(v, pre[f"heads.{k}"])
    stages = read_yaml(result.run_dir / "config.yaml")["pipeline"]
    assert "findings_prompt" not in (stages[0].get("model") or {})
    assert read_yaml(rep / "medmllm.yaml")["model"]["findings_prompt"] == {
        "heads": None, "threshold": 0.3, "calibrate": True, "probabilities": False, "visual_tokens": True, "combine": "mean",
        "max_findings": 8, "template": {"en": f"{HINT} {{findings}}.", "zh": "图像分类器检出：{findings}。"}}
    assert read_yaml(enc / "medmllm.yaml")["model"]["findings_prompt"] is None  # the encoder stage ignores it


def test_hints_are_computed_once_per_distinct_image_and_every_batch_carries_one(run):
    _, calls, texts, manifest = run
    records = [json.loads(x) for x in manifest.read_text().splitlines()]
    distinct = {m: {im["path"] for r in records if r["split"] in ("train", "val") and r["task"] == "report"
                    for im in r["images"] if im["modality"] == m} for m in ("xray", "ct")}
    # 6 steps of 4 samples and a validation, yet each image went through its head exactly once
    assert calls["xray images"] == len(distinct["xray"]) and calls["ct images"] == len(distinct["ct"])
    assert calls["xray"] == calls["ct"] == 2  # one batch per source (train, val): fewer than 64 images each
    assert len(texts) == 6 * 4
    assert all(t.count(HINT) == 1 for t in texts)


def test_a_training_sample_gets_the_hint_inference_writes_for_the_same_images(run):
    from medmllm.data.datamodule import MedDataModule
    from medmllm.inference import Predictor
    from medmllm.training.findings_hints import FindingsPromptDataModule
    from medmllm.config import DataConfig, from_dict

    result, _, _, manifest = run
    pred = Predictor.from_pretrained(result.exports["report"])
    data = from_dict(DataConfig, {"train": [{"path": str(manifest)}], "val": [{"path": str(manifest)}],
                                  "tasks": ["report"], "num_workers": 0, "transforms": {"augment": {"enabled": False}}})
    dm = FindingsPromptDataModule.from_model(data, pred.model)
    assert isinstance(dm, MedDataModule)
    dm.setup("fit")
    ds = dm.val_set.datasets[0]
    for i in (0, 1, len(ds) - 1):
        sample = ds[i]
        record = ds.records[i]
        trained = sample["messages"][0]["content"]
        shown = pred.prepare(record, ds.root)["messages"][0]["content"]
        assert HINT in trained and trained == shown
