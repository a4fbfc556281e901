"""Encoder pretraining speed: samples/s for X-ray and CT, the stage's LightningModule vs a bare PyTorch loop.

The model is the quickstart's (``configs/encoder-quickstart.yaml``: ResNet 128x128 X-ray, 2-window
ResNet 32x64x64 CT, small report transformer). For each modality the same optimiser steps run

1. in a bare PyTorch loop over ``EncoderPretrainer`` (forward, backward, AdamW step), and
2. through the stage's ``EncoderPretrainModule`` in a Lightning ``Trainer`` (logging, LR schedule,
   gradient clipping, no checkpoints), fed the same pre-made batches,

and, with ``--data MANIFEST``, 3. the whole stage (``medmllm.training.train``) on a manifest with a
warm tensor cache, augmentation on, one DataLoader worker: what ``medmllm train`` achieves.
Ratios are printed against the bare loop of the same run.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/encoder_bench.py [--steps 6] [--batch 32] [--data M.jsonl]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

REPORTS = ["There is consolidation of the right lower lobe. No pleural effusion. Normal heart size.",
           "The lungs are clear. No pleural effusion or pneumothorax. The heart size is normal.",
           "Small left pleural effusion. The heart is enlarged. No pneumothorax.",
           "Moderate right pneumothorax, the right lung collapsed by about 30%. No consolidation."]


def build(cfg: dict) -> torch.nn.Module:
    from medmllm.models.mllm import MedMLLM
    from medmllm.pretraining.heads import build_pretrainer

    torch.manual_seed(0)
    return build_pretrainer(MedMLLM.build(cfg["model"]), cfg["train"]["pretrain"])


def batches(modality: str, pre: torch.nn.Module, n: int, batch: int) -> list[dict]:
    spec = pre.model.input_spec(modality)
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        x = torch.randn(batch, spec["channels"], *spec["spatial_size"], generator=g)
        labels = [{"normal": int(i % 4 == 1), "consolidation:RLL": int(i % 4 == 0)} for i in range(batch)]
        out.append({"ids": [str(i) for i in range(batch)], "pixel_values": {modality: x},
                    "image_sample_index": {modality: torch.arange(batch)},
                    "texts": [REPORTS[i % 4] for i in range(batch)], "label_dicts": labels})
    return out


def bare(pre: torch.nn.Module, data: list[dict]) -> float:
    """Samples/s of a plain loop (first batch is warm-up)."""
    params = [p for p in pre.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    pre.train()
    t0, n = 0.0, 0
    for i, b in enumerate(data):
        if i == 1:
            t0, n = time.perf_counter(), 0
        loss = pre(b["pixel_values"], b["image_sample_index"], b["texts"], b["label_dicts"])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        n += len(b["texts"])
    return n / (time.perf_counter() - t0)


def lightning(pre: torch.nn.Module, data: list[dict], cfg: dict) -> float:
    """Samples/s of the stage's LightningModule in a Trainer on the same batches."""
    import lightning as L

    from medmllm.config import TrainConfig, from_dict
    from medmllm.training.stages import get_stage

    stage = get_stage("encoder")
    tc = from_dict(TrainConfig, {**cfg["train"], "max_steps": len(data), "optim": {**stage.optim_defaults(),
                                                                                 **cfg["train"]["optim"]}})
    stage.apply(pre, None)
    from medmllm.pretraining.module import EncoderPretrainModule

    module = EncoderPretrainModule(pre, tc, stage=stage)
    times: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_start(self, *a):
            times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(accelerator="cpu", max_steps=len(data), logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[Clock()],
                            gradient_clip_val=1.0, default_root_dir=tmp, limit_val_batches=0)
        trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(data, batch_size=None))
    end = time.perf_counter()
    return sum(len(b["texts"]) for b in data[1:]) / (end - times[1])


def full_stage(cfg: dict, manifest: str, steps: int) -> float:
    """Samples/s of the stage through ``medmllm.training.train`` on a manifest, after a run that filled the
    tensor cache; timed from the second optimiser step to the last (start-up not counted)."""
    import lightning as L

    from medmllm.training.train import train

    times: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_start(self, *a):
            times.append(time.perf_counter())

        def on_train_end(self, *a):
            times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        c = copy.deepcopy(cfg)
        c["data"].update(train=[{"path": manifest}], val=[], cache_dir=os.path.join(tmp, "cache"))
        c["train"].update(max_steps=steps, val_every_n_steps=None, export=False,
                          checkpoint={"save_last": False, "save_top_k": 0})
        c["train"]["run_dir"] = os.path.join(tmp, "warm")
        train(copy.deepcopy(c), quiet=True)  # fills the tensor cache
        c["train"]["run_dir"] = os.path.join(tmp, "timed")
        train(c, quiet=True, callbacks=[Clock()])
    return (steps - 1) * c["data"]["batch_size"] / (times[-1] - times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="optimiser steps per measurement (first is warm-up)")
    ap.add_argument("--batch", type=int, default=32, help="samples per batch")
    ap.add_argument("--data", help="a manifest (e.g. from medmllm synth) for the whole-stage measurement")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    from medmllm.config import load_config

    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "encoder-quickstart.yaml"))
    cfg["train"]["precision"] = "32-true"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, {a.steps} steps")
    rates = {}
    for m in ("xray", "ct"):
        pre = build(cfg)
        data = batches(m, pre, a.steps, a.batch)
        rates[(m, "bare")] = bare(pre, data)
        rates[(m, "stage")] = lightning(build(cfg), data, cfg)
        print(f"{m:<5} bare loop {rates[(m, 'bare')]:7.1f} samples/s | stage module (Lightning) "
              f"{rates[(m, 'stage')]:7.1f} samples/s = {rates[(m, 'stage')] / rates[(m, 'bare')]:.2f}x bare")
    print(f"X-ray vs CT (bare loop): {rates[('xray', 'bare')] / rates[('ct', 'bare')]:.1f}x more X-ray samples/s")
    if a.data:
        from medmllm.data.schema import read_manifest
        from medmllm.pretraining.data import select_records

        recs = select_records([r for r in read_manifest(a.data) if r.get("split") == "train"])
        per = {m: sum(im["modality"] == m for r in recs for im in r["images"]) / len(recs) for m in ("xray", "ct")}
        r = full_stage(cfg, a.data, a.steps)
        # a bare loop over the same images per sample (its X-ray and CT rates measured above)
        mixed = 1 / (per["xray"] / rates[("xray", "bare")] + per["ct"] / rates[("ct", "bare")])
        print(f"whole stage on {a.data} ({per['xray']:.2f} X-ray + {per['ct']:.2f} CT images per sample, "
              f"augmentation, warm cache, 1 worker): {r:.1f} samples/s = {r / mixed:.2f}x the bare loop's rate "
              "for that mix")


if __name__ == "__main__":
    main()
