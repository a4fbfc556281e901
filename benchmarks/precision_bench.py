"""fp32 vs bf16 on this machine: what ``precision: auto`` picks and why.

    python benchmarks/precision_bench.py [--repeats 5]

Times, in one process, with fp32 as the baseline of each row:
1. a 1024x1024 matmul (fp32 inputs vs bf16 inputs);
2. a Linear 1024->1024 on 256 rows, forward + backward (plain fp32 vs ``torch.autocast(bfloat16)``);
3. one training step (forward, backward, AdamW) of the quickstart's LLM (Llama, hidden 192, 3
   layers, vocab 1024) on a batch of 32 x 224 tokens, fp32 vs bf16 autocast (what Lightning's
   ``bf16-mixed`` does).
Prints the CPU class (``medmllm.hardware.cpu_class``) and the precision ``auto`` resolves to.
To see an AVX2-only CPU on a machine with AVX512/AMX, cap PyTorch's and oneDNN's kernels:
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/precision_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from medmllm.hardware import bf16_native, cpu_capability, cpu_class, resolve_precision

    torch.manual_seed(0)
    rows = []

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    ab, bb = a.bfloat16(), b.bfloat16()
    rows.append(("matmul 1024x1024", timed(lambda: a @ b, args.repeats), timed(lambda: ab @ bb, args.repeats)))

    lin = torch.nn.Linear(1024, 1024)
    x = torch.randn(256, 1024)

    def linear_step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = lin(x)
        y.float().sum().backward()

    rows.append(("Linear 1024 fwd+bwd, 256 rows", timed(lambda: linear_step(False), args.repeats),
                 timed(lambda: linear_step(True), args.repeats)))

    llm = LlamaForCausalLM(LlamaConfig(vocab_size=1024, hidden_size=192, intermediate_size=512, num_hidden_layers=3,
                                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512))
    opt = torch.optim.AdamW(llm.parameters(), lr=1e-4)
    ids = torch.randint(0, 1024, (32, 224))

    def llm_step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = llm(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    rows.append(("quickstart LLM train step, 32x224", timed(lambda: llm_step(False), max(2, args.repeats // 2)),
                 timed(lambda: llm_step(True), max(2, args.repeats // 2))))

    native, why = bf16_native("cpu")
    print(f"CPU class {cpu_class()} (PyTorch kernels {cpu_capability()}); bf16 native: {native} ({why})")
    print(f"precision: auto -> {resolve_precision('auto', 'cpu')} on this CPU")
    print(f"| {'operation':<36} | {'fp32':>10} | {'bf16':>10} | bf16 / fp32 |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 12}|-------------|")
    for name, fp32, bf16 in rows:
        print(f"| {name:<36} | {fp32 * 1000:8.1f}ms | {bf16 * 1000:8.1f}ms | {bf16 / fp32:10.2f}x |")


if __name__ == "__main__":
    main()
