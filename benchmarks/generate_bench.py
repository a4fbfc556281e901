"""Batched vs one-at-a-time generation throughput, same prompts, same process.

For each configuration (the tiny test model; SmolLM2-135M-Instruct with a small X-ray encoder)
the same 8 prompts (X-ray image + text, different lengths) are generated one at a time and as one
left-padded batch with a KV cache; every sequence is made to produce exactly ``--new-tokens``
tokens so the token counts are equal. Prints tokens/s and the ratio batch / one-at-a-time
(fp32 and bf16 for the batch).

    .venv/bin/python benchmarks/generate_bench.py [--configs tiny smollm2] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from medmllm.config import load_config  # noqa: E402
from medmllm.data.conversation import encode_conversation  # noqa: E402
from medmllm.models.mllm import MedMLLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["Write the radiology report.", "Is there a pleural effusion?",
             "Describe the lungs, the heart and the mediastinum in detail, then give an impression.",
             "Any consolidation?", "Compare both lungs and say which lobe is affected, if any.",
             "Normal?", "Summarise the findings for the referring paediatrician in two sentences.",
             "Is the heart enlarged? Answer yes or no and explain why."]


def model_config(name: str) -> dict:
    cfg = load_config(ROOT / "configs" / "tiny.yaml")["model"]
    if name == "smollm2":
        cfg["modalities"] = {"xray": cfg["modalities"]["xray"]}
        cfg["llm"] = {"name": "smollm2"}
    return cfg


def batch_of(model: MedMLLM, idx: list[int], images: torch.Tensor) -> dict:
    shape = tuple(images.shape[1:])
    n_img = model.num_image_tokens("xray", shape)
    encs = [encode_conversation([{"role": "user", "content": f"<xray>\n{QUESTIONS[i]}"}], model.tokenizer,
                                {"xray": [n_img]}, sample_id=str(i), add_generation_prompt=True) for i in idx]
    n = max(len(e.input_ids) for e in encs)
    ids = torch.full((len(idx), n), model.tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for r, e in enumerate(encs):  # left padding
        ids[r, n - len(e.input_ids):] = torch.tensor(e.input_ids)
        mask[r, n - len(e.input_ids):] = 1
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": {"xray": images[idx]},
            "image_sample_index": {"xray": torch.arange(len(idx))}}


def timed(model: MedMLLM, batch: dict, new: int) -> tuple[float, int]:
    t = time.perf_counter()
    out = model.generate(**batch, max_new_tokens=new, min_new_tokens=new)
    return time.perf_counter() - t, out.numel()


def run(name: str, new: int, bsz: int) -> None:
    torch.manual_seed(0)
    model = MedMLLM.build(model_config(name)).eval()
    spec = model.input_spec("xray")
    images = torch.rand(bsz, spec["channels"], *spec["spatial_size"])
    idx = list(range(bsz))
    timed(model, batch_of(model, [0], images), 4)  # warm-up
    single_s, single_n = 0.0, 0
    for i in idx:
        s, n = timed(model, batch_of(model, [i], images), new)
        single_s, single_n = single_s + s, single_n + n
    batch_s, batch_n = timed(model, batch_of(model, idx, images), new)
    model.llm.to(torch.bfloat16)
    timed(model, batch_of(model, idx, images), 4)  # warm-up
    bf_s, bf_n = timed(model, batch_of(model, idx, images), new)
    base = single_n / single_s
    print(f"{name:8s} one-at-a-time fp32 {base:8.1f} tok/s | batch {bsz} fp32 {batch_n / batch_s:8.1f} tok/s "
          f"({batch_n / batch_s / base:4.1f}x) | batch {bsz} bf16 {bf_n / bf_s:8.1f} tok/s ({bf_n / bf_s / base:4.1f}x)",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "smollm2"], choices=["tiny", "smollm2"])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.new_tokens} new tokens per sequence")
    for name in a.configs:
        run(name, a.new_tokens, a.batch)


if __name__ == "__main__":
    main()
