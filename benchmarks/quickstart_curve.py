"""Learning curve of a quickstart pipeline: held-out findings macro-F1 against minutes of training.

    python benchmarks/quickstart_curve.py [--every 100] [--steps 400] [--heldout 300] [--out DIR]
                                          [--variants pretrained,scratch] [--config configs/quickstart.yaml]
                                          [--controls last|all|none] [--compare OTHER/curve.json ...]

Variants (the config's stages up to its ``report`` stage; a ``clinical`` stage is left out):

- ``pretrained``: the config's stages as shipped (encoder stage, then the report stage, encoders frozen).
- ``scratch``: the report stage alone with the same encoders trained from random weights together
  with the LLM (encoder lr 3e-3, no encoder stage, no feature cache).
- ``visual``: visual tokens only (the config without ``model.findings_prompt``).
- ``findings``: the findings prompt only (``model.findings_prompt.visual_tokens: false``; stages of
  kind ``align``, which train connectors only, are left out: there is nothing to align).
- ``both``: the findings prompt and the visual tokens.

Every ``--every`` report steps the model is exported (the export's time is not counted); after
training each export writes reports for ``--heldout`` cases of seed 7 (X-ray + CT, no clinical
text, as ``make demo``), scored with ``medmllm evaluate --benchmark report`` + ``medmllm score``
(``clinical.findings.macro.f1``; the two controls at the ``--controls`` points). Training seconds
are whole-process wall time of the stages so far (encoder stage and hint pre-pass included);
generating the synthetic cases and converting an LLM happen before the clock starts. The load
average is sampled every 10 s while training (other jobs share the cores) and reported with each
time, with the CPU class. With the findings prompt, the encoder heads' own macro-F1 (the findings
the hint states, read without the LLM) is reported as ``heads``. Prints a markdown table and writes
``curve.json`` and ``curve.png`` (with the ``--compare`` curves of earlier runs) to ``--out``.
Slow: about 25 minutes on 2 CPU cores for the tiny quickstart, hours for SmolLM2.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import threading
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


VARIANTS = ("pretrained", "scratch", "visual", "findings", "both")


def variant_config(base: dict, variant: str, steps: int) -> dict:
    """The pipeline of a variant: the stages of ``base`` up to its report stage, that one ``steps`` long."""
    cfg = copy.deepcopy(base)
    names = [s["name"] for s in cfg["pipeline"]]
    stages = cfg["pipeline"][: names.index("report") + 1]
    report = stages[-1]
    report["train"].update(max_steps=steps, val_every_n_steps=steps)
    if variant == "scratch":
        report["train"]["trainable"] = dict(report["train"].get("trainable") or {}, encoders=True)
        report["train"]["optim"] = dict(report["train"].get("optim") or {}, lr_encoders=3.0e-3)
        cfg["pipeline"] = [report]
        return cfg
    if variant in ("visual", "findings", "both"):
        prompt = cfg.setdefault("model", {}).pop("findings_prompt", None) or {}
        for s in stages:
            prompt = {**prompt, **((s.get("model") or {}).pop("findings_prompt", None) or {})}
        if variant != "visual":
            cfg["model"]["findings_prompt"] = {**prompt, "visual_tokens": variant == "both"}
        if variant == "findings":
            stages = [s for s in stages if (s.get("train") or {}).get("stage") != "align"]
    cfg["pipeline"] = stages
    return cfg


def prepare(cfg: dict) -> None:
    """What the clock does not count: the synthetic cases and the one-time conversion of the LLM."""
    from medmllm.config import SyntheticSourceConfig, from_dict
    from medmllm.data.synthetic_source import materialise

    for role in ("train", "val"):
        for i, src in enumerate((cfg.get("data") or {}).get(role) or []):
            if src.get("synthetic"):
                materialise(from_dict(SyntheticSourceConfig, src["synthetic"]), src.get("split") or role,
                            progress=False, where=f"data.{role}.{i}.synthetic")
    if ((cfg.get("model") or {}).get("llm") or {}).get("name") == "smollm2":
        from medmllm.models.smollm2 import converted_path

        converted_path()


class LoadSampler(threading.Thread):
    """The 1-minute load average every ``every`` seconds while a variant trains (other jobs share the cores)."""

    def __init__(self, every: float = 10.0):
        super().__init__(daemon=True)
        self.every, self.samples, self.halt = every, [os.getloadavg()[0]], threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        self.halt.set()
        return {"load_mean": round(sum(self.samples) / len(self.samples), 2), "load_max": round(max(self.samples), 2)}


def heads_f1(export: str, data: Path) -> float:
    """Macro-F1 of the findings the hint states (the export's findings heads alone, no LLM) on the held-out records."""
    from medmllm.data.schema import image_root, read_manifest
    from medmllm.evaluation.clinical import ce_group
    from medmllm.findings import FINDING_KEYS
    from medmllm.inference import Predictor
    from medmllm.models.findings_prompt import NORMAL

    pred = Predictor.from_pretrained(export)
    cfg, cut = pred.model.config.findings_prompt, pred.model.findings_heads.thresholds
    rows, truth = [], []
    for rec in read_manifest(data):
        probs = pred.prepare({**rec, "messages": rec["messages"][:1]}, image_root(data))["findings_probabilities"]
        found = {k: int(p >= cut.get(k, cfg.threshold)) for k, p in probs.items() if k != NORMAL}
        rows.append({**found, NORMAL: int(not any(found.values()))})
        truth.append(rec["labels"])
    return ce_group(rows, truth, FINDING_KEYS)["macro"]["f1"]


def make_snapshotter(out: Path, every: int, t0: float, data: dict):
    """A Lightning callback exporting the report-stage model every ``every`` steps (time not counted).

    The exports record the training transforms (``data.transforms``) and training prompts, as
    ``medmllm train``'s do: inference preprocesses images with them (without, the CT windows would
    fall back to defaults) and words requests with the recorded prompts.
    """
    import lightning as L

    from medmllm.data.prompts import training_prompts

    extra = {"data": {"transforms": data.get("transforms") or {}}, "prompts": training_prompts(data)}

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
            pl_module.model.save_pretrained(path, extra=extra)
            self.rows.append({"step": step, "train_s": round(start - t0 - self.paused, 1), "export": str(path)})
            self.paused += time.perf_counter() - start

    return Snapshots()


def score(export: str, data: Path, out: Path, controls: bool = True) -> dict:
    """Held-out findings macro-F1 of an export (``medmllm evaluate`` then ``medmllm score``) and of its controls."""
    mm = [sys.executable, "-m", "medmllm"]
    t = time.perf_counter()
    subprocess.run(mm + ["evaluate", "--checkpoint", export, "--benchmark", "report", "--data", str(data),
                         "--out", str(out), "--batch-size", "32", "--max-new-tokens", "160", "--protocol", "r2gen"]
                   + ([] if controls else ["--no-controls"]), check=True, stdout=subprocess.DEVNULL)
    eval_s = time.perf_counter() - t
    subprocess.run(mm + ["score", "--predictions", str(out / "predictions.jsonl"), "--references", str(data),
                         "--out", str(out / "score.json"), "--protocol", "r2gen"], check=True, stdout=subprocess.DEVNULL)
    row = {"macro_f1": round(json.loads((out / "score.json").read_text())["clinical"]["findings"]["macro"]["f1"], 3),
           "eval_s": round(eval_s, 1)}
    for name, c in (json.loads((out / "results.json").read_text()).get("controls") or {}).items():
        row[name] = round(c["clinical"]["findings"]["macro"]["f1"], 3)
    return row


def plot(results: dict, out: Path) -> None:
    """``curve.png``: macro-F1 against minutes of training, one line per variant (and per compared run)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, rows in results.items():
        ax.plot([r["train_s"] / 60 for r in rows], [r["macro_f1"] for r in rows], marker="o", label=variant)
    ax.axhline(0.8, ls="--", c="grey", lw=0.8)
    ax.set(xlabel="minutes of training (2 CPU cores)", ylabel="held-out findings macro-F1", ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    ap.add_argument("--steps", type=int, default=400, help="report steps")
    ap.add_argument("--every", type=int, default=100, help="export every N report steps")
    ap.add_argument("--heldout", type=int, default=300, help="held-out cases (seed 7), when generated here")
    ap.add_argument("--heldout-dir", default="demo-out/heldout", help="make demo's held-out set (made if missing)")
    ap.add_argument("--variants", default="pretrained,scratch", help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--out", default="demo-out/quickstart-curve")
    ap.add_argument("--controls", choices=("last", "all", "none"), default="last",
                    help="at which exports the two controls run (default: each variant's last)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides before the variant is made, e.g. pipeline.0.train.max_steps=150")
    ap.add_argument("--compare", nargs="*", default=[], metavar="CURVE_JSON",
                    help="curves of earlier runs drawn on the same plot (their variants prefixed with the folder name)")
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        ap.error(f"--variants: unknown or no variant {unknown or args.variants!r} (choose from {', '.join(VARIANTS)})")
    if args.every <= 0 or args.steps < args.every:
        ap.error("--every must be positive and at most --steps")

    from medmllm.config import load_config
    from medmllm.data.cache import MemoryCache
    from medmllm.hardware import cpu_class
    from medmllm.training.train import train

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = heldout_set(Path(args.heldout_dir).resolve(), args.heldout)
    base = load_config(args.config, args.set)
    results: dict[str, list[dict]] = {}
    meta = {"config": str(args.config), "set": args.set, "cpu_class": cpu_class(), "variants": {}}
    for variant in variants:
        vdir = out / variant
        if (vdir / "run").exists():
            raise SystemExit(f"error: {vdir / 'run'}: already holds a run; remove it or choose another --out")
        cfg = variant_config(base, variant, args.steps)
        cfg.setdefault("train", {})["run_dir"] = str(vdir / "run")
        prepare(cfg)
        MemoryCache.release_shared()  # each variant decodes its images itself (fair time)
        loads = LoadSampler()
        loads.start()
        t0 = time.perf_counter()
        snap = make_snapshotter(vdir, args.every, t0, base.get("data") or {})
        train(cfg, config_path=args.config, callbacks=[snap], quiet=True)
        info = {"train_s": round(time.perf_counter() - t0 - snap.paused, 1), **loads.summary()}
        if (cfg.get("model") or {}).get("findings_prompt") is not None and snap.rows:
            info["heads_macro_f1"] = round(heads_f1(snap.rows[-1]["export"], data), 3)
        for k, row in enumerate(snap.rows):
            last = k == len(snap.rows) - 1
            row.update(score(row["export"], data, Path(row["export"]) / "eval",
                             controls=args.controls == "all" or (args.controls == "last" and last)))
            print(f"{variant} step {row['step']}: {row['train_s']} s of training (load {info['load_mean']}), "
                  f"held-out macro-F1 {row['macro_f1']}"
                  + "".join(f", {c} {row[c]}" for c in ("shuffled_images", "constant_normal") if c in row), flush=True)
        results[variant] = snap.rows
        meta["variants"][variant] = info
    (out / "curve.json").write_text(json.dumps({**results, "_meta": meta}, indent=2) + "\n")
    print(f"\nCPU class {meta['cpu_class']}; config {args.config} {' '.join(args.set)}")
    print("| variant | report steps | training (min) | load avg (mean/max) | held-out findings macro-F1 | images shuffled "
          "| constant normal |\n|---|---|---|---|---|---|---|")
    for variant, rows in results.items():
        info = meta["variants"][variant]
        for r in rows:
            print(f"| {variant} | {r['step']} | {r['train_s'] / 60:.1f} | {info['load_mean']}/{info['load_max']} "
                  f"| {r['macro_f1']:.3f} | {r.get('shuffled_images', '')} | {r.get('constant_normal', '')} |")
        if "heads_macro_f1" in info:
            print(f"| {variant}: encoder heads alone (the hint's findings, no LLM) | | | | {info['heads_macro_f1']:.3f} | | |")
    shown = dict(results)
    for other in args.compare:
        prev = json.loads(Path(other).read_text())
        shown.update({f"{Path(other).parent.name}/{v}": rows for v, rows in prev.items() if not v.startswith("_")})
    plot(shown, out)
    print(f"\nwrote {out / 'curve.json'}")
    return 0


if __name__ == "__main__":
    from medmllm.errors import MedmllmError

    try:
        raise SystemExit(main())
    except MedmllmError as e:  # a bad checkpoint, config or data: one line, as the CLI says it
        raise SystemExit(f"error: {e}") from None
