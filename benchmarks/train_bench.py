"""Training throughput: the Lightning path vs a bare PyTorch loop, and the frozen-encoder feature cache.

    python benchmarks/train_bench.py [--steps 30] [--batch-size 16] [--cases 24]

1. Overhead: the same model (quickstart-sized: ViT hidden 128 x 2 layers on 128x128 X-rays with
   32-pixel patches and on 32x64x64 CT, MLP / perceiver connectors, Llama hidden 192 x 3 layers),
   the same pre-collated batches, optimiser groups, schedule, loss and gradient clipping, trained
   by ``medmllm.training`` (LightningModule + Trainer, CSV logging, no checkpoints) and by a bare
   ``for batch: loss.backward(); opt.step()`` loop in the same process. Target: overhead <= 10%.
2. Feature cache: the ``align`` stage (encoders frozen) over the same batches for several epochs,
   with and without the cache. Ratio = samples/s with / without.

Samples/s exclude the first ``--warmup`` steps of each run. Synthetic cases come from ``medmllm synth``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = {
    "modalities": {
        "xray": {"encoder": {"name": "vit2d", "image_size": 128, "patch_size": 32, "channels": 1, "hidden_size": 128,
                             "num_layers": 2, "num_heads": 4, "mean": [0.5], "std": [0.25]},
                 "connector": {"name": "mlp2x_gelu"}},
        "ct": {"encoder": {"name": "vit3d", "image_size": [32, 64, 64], "patch_size": [8, 16, 16], "channels": 1,
                           "hidden_size": 128, "num_layers": 2, "num_heads": 4},
               "connector": {"name": "perceiver", "num_latents": 16, "depth": 1, "heads": 4}},
    },
    "llm": {"name": "tiny", "family": "llama", "hidden_size": 192, "num_layers": 3, "num_heads": 4, "vocab_size": 1024},
    "max_length": 512,
}


def make_cfg(data_dir: Path, run_dir: Path, stage: str, steps: int, batch: int, cache: bool) -> dict:
    manifest = str(data_dir / "manifest.jsonl")
    return {
        "model": copy.deepcopy(MODEL),
        "data": {"train": [{"path": manifest}], "val": [], "tasks": ["report"], "batch_size": batch,
                 "num_workers": 0, "cache_dir": str(data_dir / "tensor-cache"), "transforms": {
                     "ct": {"spacing": None}, "augment": {"enabled": False}}},
        "train": {"stage": stage, "max_steps": steps, "val_every_n_steps": None, "precision": "32-true",
                  "log_every_n_steps": 10, "run_dir": str(run_dir), "export": False,
                  "checkpoint": {"save_last": False, "save_top_k": 0},
                  "feature_cache": {"enabled": cache}, "trainable": {"llm": "full"} if stage == "instruct" else {},
                  "optim": {"lr": 1e-3, "warmup_steps": 0}},
    }


def collate_batches(cfg: dict, n: int) -> list:
    """``n`` collated batches from the DataModule (decoded once; the same list feeds every run)."""
    from medmllm.training.plan import build_plan

    ctx = build_plan(cfg, Path(cfg["train"]["run_dir"]), quiet=True)[0]
    model = ctx.stage.build_model(ctx)
    dm = ctx.stage.build_datamodule(ctx, model).inner
    dm.setup("fit")
    out = []
    while len(out) < n:
        for b in dm.train_dataloader():
            out.append(b)
            if len(out) == n:
                break
    return out


class Timer:
    """Lightning callback: wall time of steps after ``warmup``."""

    def __init__(self, warmup: int):
        import lightning as L

        class _CB(L.Callback):
            def on_train_batch_start(cb, trainer, *a):
                if trainer.global_step == warmup:
                    self.start = time.perf_counter()

            def on_train_end(cb, trainer, module):
                self.end = time.perf_counter()

        self.callback = _CB()
        self.start = self.end = 0.0


def lightning_run(cfg: dict, batches: list, warmup: int, stats: dict | None = None) -> float:
    """Seconds of the timed steps through medmllm.training's LightningModule + Trainer."""
    import lightning as L
    from torch.utils.data import DataLoader

    from medmllm.training.builders import build_trainer
    from medmllm.training.plan import build_plan

    ctx = build_plan(cfg, Path(cfg["train"]["run_dir"]), quiet=True)[0]
    L.seed_everything(0, verbose=False)
    model = ctx.stage.build_model(ctx)
    ctx.stage.apply(model, {k: v for k, v in cfg["train"]["trainable"].items()})
    module = ctx.stage.build_module(model, ctx)
    module.enable_feature_cache({"xray": False, "ct": False})
    timer = Timer(warmup)
    ctx.extra_callbacks = [timer.callback]
    trainer = build_trainer(ctx, model, has_val=False)
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None, shuffle=False))
    if stats is not None and module.feature_cache is not None:
        stats.update(module.feature_cache.stats())
    return timer.end - timer.start


def bare_run(cfg: dict, batches: list, warmup: int) -> float:
    """Seconds of the timed steps of a plain PyTorch loop doing the same work."""
    import lightning as L
    import torch

    from medmllm.training import optim as optim_lib
    from medmllm.models.loss import token_loss_sums
    from medmllm.training.plan import build_plan
    from medmllm.training.freeze import named_part_parameters

    ctx = build_plan(cfg, Path(cfg["train"]["run_dir"]), quiet=True)[0]
    L.seed_everything(0, verbose=False)
    model = ctx.stage.build_model(ctx)
    ctx.stage.apply(model, {k: v for k, v in cfg["train"]["trainable"].items()})
    model.train()
    out = optim_lib.configure(named_part_parameters(model), ctx.train.optim, ctx.train.max_steps)
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    params = [p for p in model.parameters() if p.requires_grad]
    start = 0.0
    for step, batch in enumerate(batches[: ctx.train.max_steps]):
        if step == warmup:
            start = time.perf_counter()
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pixel_values=batch["pixel_values"], image_sample_index=batch["image_sample_index"]).logits
        sums, counts = token_loss_sums(logits, batch["labels"])
        loss = sums.sum() / counts.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, ctx.train.optim.grad_clip)
        opt.step()
        sched.step()
    return time.perf_counter() - start


def encoder_share(cfg: dict, batches: list) -> float:
    """Fraction of a training step's time spent in the (frozen) encoders' forward passes."""
    import torch

    from medmllm.models.loss import token_loss_sums
    from medmllm.training.plan import build_plan

    ctx = build_plan(cfg, Path(cfg["train"]["run_dir"]), quiet=True)[0]
    model = ctx.stage.build_model(ctx)
    ctx.stage.apply(model, {})
    model.train()
    for enc in model.encoders.values():
        enc.eval()

    def step(b: dict) -> None:
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], pixel_values=b["pixel_values"],
                       image_sample_index=b["image_sample_index"]).logits
        sums, counts = token_loss_sums(logits, b["labels"])
        (sums.sum() / counts.sum()).backward()

    def encode(b: dict) -> None:
        with torch.no_grad():
            for m, x in b["pixel_values"].items():
                model.encoders[m](x)

    step(batches[0])
    encode(batches[0])
    t0 = time.perf_counter()
    for b in batches:
        step(b)
    t1 = time.perf_counter()
    for b in batches:
        encode(b)
    return (time.perf_counter() - t1) / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two paths this many times")
    ap.add_argument("--cache-epochs", type=int, default=4)
    ap.add_argument("--encoder-layers", type=int, default=2, help="ViT depth of both encoders (quickstart: 2)")
    ap.add_argument("--encoder-hidden", type=int, default=128, help="ViT width of both encoders (quickstart: 128)")
    args = ap.parse_args()
    for m in ("xray", "ct"):
        MODEL["modalities"][m]["encoder"].update(num_layers=args.encoder_layers, hidden_size=args.encoder_hidden)

    import logging
    import warnings

    import torch

    from medmllm.cli import main as cli
    from medmllm.commands.train import quiet_lightning

    logging.basicConfig(level=logging.WARNING)
    quiet_lightning(True)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "synth"
        assert cli(["synth", "--out", str(data), "--cases", str(args.cases), "--xray-size", "128", "--ct-shape",
                    "32,64,64", "--tasks", "report", "--lang", "en", "--quiet"]) == 0
        timed = args.steps - args.warmup
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch_size}, "
              f"{timed} timed steps after {args.warmup}")

        # 1. Lightning vs bare loop (instruct stage: encoders frozen, connectors + full LLM train)
        cfg = make_cfg(data, tmp / "run", "instruct", args.steps, args.batch_size, cache=False)
        batches = collate_batches(cfg, args.steps)
        light, bare = [], []
        for r in range(args.repeats):
            bare.append(bare_run(cfg, batches, args.warmup))
            cfg["train"]["run_dir"] = str(tmp / f"run-l{r}")
            light.append(lightning_run(cfg, batches, args.warmup))
        sl = timed * args.batch_size / min(light)
        sb = timed * args.batch_size / min(bare)
        print(f"bare PyTorch loop:   {sb:8.1f} samples/s")
        print(f"Lightning (medmllm): {sl:8.1f} samples/s")
        print(f"Lightning overhead:  {100 * (sb / sl - 1):+.1f}%  (target <= 10%)")

        # 2. Feature cache in the align stage (encoders frozen, inputs not augmented)
        n_batches = max(2, args.steps // args.cache_epochs)
        epochs = [b for _ in range(args.cache_epochs) for b in batches[:n_batches]]
        steps = len(epochs)
        rates, stats = {}, {}
        for cache in (False, True):
            c = make_cfg(data, tmp / f"align-{cache}", "align", steps, args.batch_size, cache=cache)
            sec = lightning_run(c, epochs, args.warmup, stats)
            rates[cache] = (steps - args.warmup) * args.batch_size / sec
        share = encoder_share(make_cfg(data, tmp / "share", "align", steps, args.batch_size, cache=False), batches[:4])
        print(f"frozen encoders' forward: {100 * share:.0f}% of an align step (the most the cache can save)")
        print(f"align, no cache:     {rates[False]:8.1f} samples/s  ({args.cache_epochs} epochs of {n_batches} batches)")
        print(f"align, feature cache:{rates[True]:8.1f} samples/s")
        print(f"feature cache speedup: {rates[True] / rates[False]:.2f}x  (cache: {stats.get('hits', 0)} hits, "
              f"{stats.get('misses', 0)} misses, {stats.get('mb', 0.0):.1f} MB)")


if __name__ == "__main__":
    main()
