"""GPU smoke test on one CUDA GPU (bf16): LLM training throughput, then the quickstart end to end.

    bash scripts/gpu_smoke.sh            # on the GPU machine (installs carried wheels if any)
    python scripts/gpu_smoke.py --out DIR [--tiny]   # --tiny: toy sizes, runs on a CPU too

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
Writes ``DIR/gpu_smoke.json`` and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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


def quickstart(out: Path, tiny: bool, workers: int) -> dict:
    mm = [sys.executable, "-m", "medmllm"]
    run_dir = out / "quickstart-run"
    over = [f"--train.run_dir={run_dir}", f"--data.num_workers={workers}", "--train.log_every_n_steps=50",
            f"--data.train.0.synthetic.workers={workers}",
            f"--data.val.0.synthetic.workers={workers}", f"--data.train.0.synthetic.cache_dir={out / 'synth'}",
            f"--data.val.0.synthetic.cache_dir={out / 'synth'}"]
    held_cases = 300
    if tiny:
        held_cases = 12
        over += ["--model.llm.corpus.synthetic.cases=60", "--model.llm.vocab_size=512",
                 "--data.train.0.synthetic.cases=24", "--data.train.0.synthetic.xray_size=[64,64]",
                 "--data.val.0.synthetic.cases=4", "--model.modalities.xray.encoder.image_size=64",
                 "--pipeline.0.train.max_steps=2", "--pipeline.1.train.max_steps=4", "--pipeline.2.train.max_steps=2",
                 "--pipeline.0.train.val_every_n_steps=2", "--pipeline.1.train.val_every_n_steps=4",
                 "--pipeline.2.train.val_every_n_steps=2", "--train.eval.clinical_subset=4",
                 "--train.eval.max_new_tokens=16"]
    train_s = run(mm + ["train", "--config", "configs/quickstart.yaml", "--quiet"] + over, out / "train.log")
    held = out / "heldout"
    xs = "64" if tiny else "128"
    run(mm + ["synth", "--out", str(held), "--cases", str(held_cases), "--seed", "7", "--lang", "en", "--tasks",
              "report", "--xray-size", xs, "--workers", str(workers), "--overwrite", "--quiet"], out / "synth.log")
    records = [json.loads(line) for line in (held / "manifest.jsonl").read_text().splitlines() if line.strip()]
    both = [r for r in records if (r.get("meta") or {}).get("variant") == "report-both"]
    shuffled = [dict(r) for r in both]
    order = list(range(len(both)))
    random.Random(0).shuffle(order)
    for r, j in zip(shuffled, order):
        r["images"] = both[j]["images"]
    for name, rows in (("both", both), ("shuffled", shuffled)):
        (held / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    export = run_dir / "export"
    gen_s = run(mm + ["generate", "--checkpoint", str(export), "--data", str(held / "both.jsonl"), "--out",
                      str(out / "pred_both.jsonl"), "--batch-size", "64", "--max-new-tokens", "160", "--quiet"],
                out / "generate.log")
    run(mm + ["generate", "--checkpoint", str(export), "--data", str(held / "shuffled.jsonl"), "--out",
              str(out / "pred_shuffled.jsonl"), "--batch-size", "64", "--max-new-tokens", "160", "--quiet"],
        out / "generate_shuffled.log")
    refs = {str(r["id"]): r for r in both}
    return {"train_s": round(train_s, 1), "heldout_cases": len(both), "generate_s": round(gen_s, 1),
            "macro_f1": macro_f1(out / "pred_both.jsonl", refs),
            "macro_f1_shuffled_images": macro_f1(out / "pred_shuffled.jsonl", refs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-smoke-out"))
    ap.add_argument("--tiny", action="store_true", help="toy sizes (a CPU check of the script)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak (H100/H200 SXM: 989)")
    ap.add_argument("--skip-quickstart", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from medmllm.hardware import bf16_native, cpu_class

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    summary: dict = {"gpu": gpu, "torch": torch.__version__, "cpu_class": cpu_class(),
                     "bf16_native": bf16_native("gpu" if gpu else "cpu")[0], "throughput": []}
    arch, batch, seq, steps = (TINY_LLM, 4, 64, 2) if args.tiny else (SMOLLM2_135M, 32, 512, 20)
    for lora in (False, True):
        row = throughput(arch, batch, seq, steps, lora, args.peak_tflops)
        summary["throughput"].append(row)
        print(json.dumps(row), flush=True)
    if not args.skip_quickstart:
        workers = 2 if args.tiny else min(8, os.cpu_count() or 1)
        summary["quickstart"] = quickstart(args.out, args.tiny, workers)
        print(json.dumps(summary["quickstart"]), flush=True)
    (args.out / "gpu_smoke.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n| GPU | {gpu} | torch {summary['torch']} |")
    print("| LLM (SmolLM2-135M arch) | samples/s | tokens/s | peak GiB | MFU |\n|---|---|---|---|---|")
    for r in summary["throughput"]:
        print(f"| {r['mode']}, {r['batch']}x{r['seq']} | {r['samples_s']} | {r['tokens_s']} | {r['peak_gib']} | {r['mfu']} |")
    q = summary.get("quickstart")
    if q:
        print(f"quickstart: trained in {q['train_s']} s (synthetic generation included); held-out macro-F1 "
              f"{q['macro_f1']} (images shuffled: {q['macro_f1_shuffled_images']}) on {q['heldout_cases']} cases")


if __name__ == "__main__":
    main()
