"""Learning curve of the quickstart: held-out findings macro-F1 against minutes of training, with and
without encoder pretraining.

    python benchmarks/quickstart_curve.py [--every 100] [--steps 400] [--heldout 300] [--out DIR]
                                          [--variants pretrained,scratch] [--config configs/quickstart.yaml]

``pretrained``: the shipped pipeline's encoder stage, then its report stage (encoders frozen).
``scratch``: the same report stage with the same ResNets trained from random weights together with
the LLM (encoder lr 3e-3, no encoder stage, no feature cache). Every ``--every`` report steps the
model is exported (the export's time is not counted); after training each export writes reports for
``--heldout`` cases of seed 7 (X-ray + CT, no clinical text, as ``make demo``), scored with
``medmllm score`` (``clinical.findings.macro.f1``). Training seconds are whole-process wall time
of the stages so far (the pretrained variant includes its encoder stage). Prints a markdown table and
writes ``curve.json`` and ``curve.png`` to ``--out``. Slow: about 25 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def heldout_set(folder: Path, cases: int) -> Path:
    """Report prompts with both images for ``cases`` cases of seed 7: ``make demo``'s held-out set
    (the same ``medmllm synth`` command and folder, so one generation serves both)."""
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        subprocess.run([sys.executable, "-m", "medmllm", "synth", "--out", str(folder), "--cases", str(cases),
                        "--seed", "7", "--lang", "en", "--tasks", "report", "--xray-size", "128", "--overwrite"],
                       check=True)
    rows = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    both = [r for r in rows if (r.get("meta") or {}).get("variant") == "report-both"]
    if not both:
        raise SystemExit(f"error: {manifest}: no report-both records (not a `medmllm synth --tasks report` set)")
    keep = folder / "report-both.jsonl"
    keep.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in both))
    return keep


def variant_config(base: dict, variant: str, steps: int) -> dict:
    """The pipeline of a variant: (encoder stage +) the report stage of ``base``, ``steps`` long."""
    cfg = copy.deepcopy(base)
    stages = {s["name"]: s for s in cfg["pipeline"]}
    report = stages["report"]
    report["train"].update(max_steps=steps, val_every_n_steps=steps)
    if variant == "pretrained":
        cfg["pipeline"] = [stages["encoder"], report]
    else:
        report["train"]["trainable"] = dict(report["train"].get("trainable") or {}, encoders=True)
        report["train"]["optim"] = dict(report["train"].get("optim") or {}, lr_encoders=3.0e-3)
        cfg["pipeline"] = [report]
    return cfg


def make_snapshotter(out: Path, every: int, t0: float, transforms: dict):
    """A Lightning callback exporting the report-stage model every ``every`` steps (time not counted).

    The exports record the training transforms (``data.transforms``), as ``medmllm train``'s do:
    inference preprocesses images with them (without, the CT windows would fall back to defaults).
    """
    import lightning as L

    class Snapshots(L.Callback):
        def __init__(self):
            self.paused = 0.0
            self.rows: list[dict] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            step = trainer.global_step
            if type(pl_module).__name__ != "MedMLLMModule" or step % every:
                return
            start = time.perf_counter()
            path = out / f"step{step:05d}"
            pl_module.model.save_pretrained(path, extra={"data": {"transforms": transforms}})
            self.rows.append({"step": step, "train_s": round(start - t0 - self.paused, 1), "export": str(path)})
            self.paused += time.perf_counter() - start

    return Snapshots()


def score(export: str, data: Path, out: Path) -> float:
    """Held-out findings macro-F1 of an export (``medmllm evaluate`` then ``medmllm score``)."""
    mm = [sys.executable, "-m", "medmllm"]
    subprocess.run(mm + ["evaluate", "--checkpoint", export, "--benchmark", "report", "--data", str(data),
                         "--out", str(out), "--batch-size", "32", "--max-new-tokens", "160", "--protocol", "r2gen"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(mm + ["score", "--predictions", str(out / "predictions.jsonl"), "--references", str(data),
                         "--out", str(out / "score.json"), "--protocol", "r2gen"], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "score.json").read_text())["clinical"]["findings"]["macro"]["f1"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    ap.add_argument("--steps", type=int, default=400, help="report steps")
    ap.add_argument("--every", type=int, default=100, help="export every N report steps")
    ap.add_argument("--heldout", type=int, default=300, help="held-out cases (seed 7), when generated here")
    ap.add_argument("--heldout-dir", default="demo-out/heldout", help="make demo's held-out set (made if missing)")
    ap.add_argument("--variants", default="pretrained,scratch")
    ap.add_argument("--out", default="demo-out/quickstart-curve")
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ("pretrained", "scratch")]
    if unknown or not variants:
        ap.error(f"--variants: unknown or no variant {unknown or args.variants!r} (choose from pretrained, scratch)")
    if args.every <= 0 or args.steps < args.every:
        ap.error("--every must be positive and at most --steps")

    from medmllm.config import load_config
    from medmllm.data.cache import MemoryCache
    from medmllm.training.train import train

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = heldout_set(Path(args.heldout_dir).resolve(), args.heldout)
    base = load_config(args.config)
    results: dict[str, list[dict]] = {}
    for variant in variants:
        vdir = out / variant
        if (vdir / "run").exists():
            raise SystemExit(f"error: {vdir / 'run'}: already holds a run; remove it or choose another --out")
        MemoryCache.release_shared()  # each variant decodes its images itself (fair time)
        t0 = time.perf_counter()
        snap = make_snapshotter(vdir, args.every, t0, (base.get("data") or {}).get("transforms") or {})
        cfg = variant_config(base, variant, args.steps)
        cfg.setdefault("train", {})["run_dir"] = str(vdir / "run")
        train(cfg, config_path=args.config, callbacks=[snap], quiet=True)
        for row in snap.rows:
            row["macro_f1"] = round(score(row["export"], data, Path(row["export"]) / "eval"), 3)
            print(f"{variant} step {row['step']}: {row['train_s']} s of training, held-out macro-F1 {row['macro_f1']}",
                  flush=True)
        results[variant] = snap.rows
    (out / "curve.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| variant | report steps | training (min) | held-out findings macro-F1 |\n|---|---|---|---|")
    for variant, rows in results.items():
        for r in rows:
            print(f"| {variant} | {r['step']} | {r['train_s'] / 60:.1f} | {r['macro_f1']:.3f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for variant, rows in results.items():
            ax.plot([r["train_s"] / 60 for r in rows], [r["macro_f1"] for r in rows], marker="o", label=variant)
        ax.axhline(0.8, ls="--", c="grey", lw=0.8)
        ax.set(xlabel="minutes of training (2 CPU cores)", ylabel="held-out findings macro-F1", ylim=(0, 1))
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "curve.png", dpi=120)
    except ImportError:
        pass
    print(f"\nwrote {out / 'curve.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
