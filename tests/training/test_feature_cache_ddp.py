"""The frozen-encoder feature cache, and DDP on 2 CPU processes equal to one process."""

import os
import subprocess
import sys

import pytest
import torch

from tests.training.conftest import CONFIGS, ROOT


def first_batch(cfg):
    from medmllm.training.plan import build_plan

    ctx = build_plan(cfg, ROOT)[0]
    model = ctx.stage.build_model(ctx)
    ctx.stage.apply(model)
    dm = ctx.stage.build_datamodule(ctx, model)
    dm.setup("fit")
    return ctx, model, next(iter(dm.inner.train_dataloader()))


def test_feature_cache_reuses_frozen_encoder_outputs(tiny_cfg):
    from medmllm.models.loss import token_loss_sums
    from medmllm.training.module import MedMLLMModule

    ctx, model, batch = first_batch(tiny_cfg("align"))
    calls = {"xray": 0, "ct": 0}
    for m, enc in model.encoders.items():
        enc.vit.register_forward_pre_hook(lambda mod, inp, m=m: calls.__setitem__(m, calls[m] + inp[0].shape[0]))
    plain = MedMLLMModule(model, ctx.train, stage=ctx.stage)
    plain._set_frozen_eval()
    with torch.no_grad():
        ref = plain(batch)
    n_img = {m: batch["pixel_values"][m].shape[0] for m in ("xray", "ct")}
    assert calls == n_img

    cached = MedMLLMModule(model, ctx.train, stage=ctx.stage)
    assert sorted(cached.enable_feature_cache({"xray": False, "ct": False})) == ["ct", "xray"]
    cached.train()
    cached._set_frozen_eval()
    first = cached(batch)
    second = cached(batch)
    assert calls == {m: 2 * n for m, n in n_img.items()}  # computed once for the two cached passes
    assert cached.feature_cache.stats()["hits"] == sum(n_img.values())
    assert torch.allclose(first, ref, atol=1e-6) and torch.allclose(second, ref, atol=1e-6)
    sums, counts = token_loss_sums(second, batch["labels"])
    sums.sum().backward()  # connectors still get gradients through cached features
    assert all(p.grad is not None for p in model.connectors.parameters())
    cached.feature_cache.detach()

    aug = MedMLLMModule(model, ctx.train, stage=ctx.stage)
    assert aug.enable_feature_cache({"xray": True, "ct": False}) == ["ct"]  # augmented inputs: no cache
    aug.feature_cache.detach()
    ctx.stage.apply(model, {"encoders": True})
    trained = MedMLLMModule(model, ctx.train, stage=ctx.stage)
    assert trained.enable_feature_cache({}) == []  # encoders that train: no cache


def ddp_cfg_args(manifest, run, devices, batch, cache):
    return ["-m", "medmllm", "train", "--config", str(CONFIGS / "tiny.yaml"), "--quiet", "--pipeline=null",
            "--train.stage=instruct", "--train.max_steps=4", "--train.val_every_n_steps=null",
            "--train.accelerator=cpu", f"--train.devices={devices}",
            f"--train.strategy.name={'ddp' if devices > 1 else 'auto'}", f"--data.batch_size={batch}",
            f"--data.train=[{{path: {manifest}}}]", f"--data.val=[]", f"--data.cache_dir={cache}",
            f"--train.run_dir={run}", "--train.checkpoint.every_n_steps=4", "--train.optim.lr=1e-3"]


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(synth_manifest, tensor_cache, tmp_path):
    from safetensors.torch import load_file

    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=str(ROOT))
    # same global batch of 4; some batches of a rank hold no CT (or no X-ray) while the other's do
    for devices, batch in ((2, 2), (1, 4)):
        r = subprocess.run([sys.executable] + ddp_cfg_args(synth_manifest, tmp_path / f"d{devices}", devices, batch,
                                                           tensor_cache),
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    from medmllm.config import load_config
    from medmllm.models.mllm import MedMLLM

    initial = MedMLLM.build(load_config(CONFIGS / "tiny.yaml")["model"]).state_dict()
    for part in ("llm/model.safetensors", "mm.safetensors"):
        ddp = load_file(str(tmp_path / "d2" / "export" / part))
        one = load_file(str(tmp_path / "d1" / "export" / part))
        assert ddp.keys() == one.keys() and ddp
        assert max((ddp[k] - one[k]).abs().max().item() for k in ddp) < 1e-5, part
    moved = max((one[k] - initial[k]).abs().max().item() for k in one)
    assert moved > 1e-3  # training changed the weights far more than the two runs differ
