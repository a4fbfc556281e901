"""Benchmark: the CT data pipeline (cold vs cached, 0 vs 2 workers) and the synthetic source end to end.

Section ``ct``: writes synthetic CT series (DICOM, one file per slice) to a temporary folder and a manifest of
them, then measures samples/s of the CT pipeline (load the series -> resample to 2 x 1.5 x 1.5 mm
-> crop/pad to 32 x 128 x 128 -> lung / mediastinum / bone windows), all in this process:
  - cold: an empty tensor cache (every series decoded, transformed and written to the cache);
  - cached: the same samples again (the cache hits; no DICOM is decoded);
  - no cache, 0 workers vs 2 DataLoader workers.
Prints samples/s and the ratios. Target: cached at least 10x cold.

Section ``synthetic`` (the quickstart's data path): materialises ``--synth-cases`` cases of a
``synthetic`` source (report conversations in English, 128 x 128 X-ray, 32 x 64 x 64 CT as NIfTI)
into a temporary cache folder, then runs the DataModule (batch ``--batch-size``, 0 workers, a BPE
tokenizer trained on the reports, encoder inputs: X-ray 128 x 128 x 1, CT 32 x 64 x 64 x 2 windows
with the scan's own spacing) through a cold first epoch (empty tensor cache) and warm epochs, with
and without training augmentation. Baseline in the same process: no in-memory tensor cache and no
remembered tokenisation (``memory_cache_gb: 0``, ``Collator(memo_size=0)``), i.e. every warm sample
hashes its files, reads its safetensors entry and tokenises again. Target: warm >= 200 samples/s.
Measured (2 shared cores, load 5-7, 100 cases, two runs; the README's data section has the table):
previous code warm 435-657 samples/s (71-102 with augmentation); now 2,600-3,550 (240-305).

    python benchmarks/data_bench.py [--section all|ct|synthetic] [--cases 8] [--slices 96] [--size 256]
                                    [--repeats 2] [--synth-cases 100] [--batch-size 32] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SPEC = {"spatial_size": (32, 128, 128), "channels": 3, "mean": None, "std": None}


def make_cases(root: Path, cases: int, slices: int, size: int) -> Path:
    from medmllm.data.schema import new_record, write_manifest
    from medmllm.io.writers import write_ct_series

    rng = np.random.default_rng(0)
    recs = []
    for i in range(cases):
        vol = rng.normal(-700, 200, (slices, size, size)).clip(-1024, 2000)
        write_ct_series(vol, (1.25, 0.7, 0.7), root / f"ct{i}", series_uid=f"1.2.826.0.1.{i}")
        recs.append(new_record(id=f"c{i}", images=[{"modality": "ct", "path": f"ct{i}/", "format": "dicom-series"}],
                               messages=[{"role": "user", "content": "<ct>\nWrite the radiology report."},
                                         {"role": "assistant", "content": "Findings: none."}]))
    write_manifest(root / "m.jsonl", recs)
    return root / "m.jsonl"


def rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def ct_section(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from medmllm.data.cache import TensorCache
    from medmllm.data.dataset import ManifestDataset
    from medmllm.data.transforms import build_pipelines

    torch.set_num_threads(1)
    pipes = build_pipelines({"ct": SPEC})
    with tempfile.TemporaryDirectory(prefix="medmllm-data-bench-") as tmp:
        manifest = make_cases(Path(tmp), args.cases, args.slices, args.size)
        n = args.cases
        print(f"{n} CT series of {args.slices} x {args.size} x {args.size} -> {SPEC['spatial_size']} x 3 windows")

        def one_pass(ds):
            return lambda: [ds[i] for i in range(len(ds))]

        cold, cached = [], []
        for r in range(args.repeats):
            cache = TensorCache(Path(tmp) / f"cache{r}")
            ds = ManifestDataset.from_manifest(manifest, pipes, cache=cache)
            cold.append(rate(one_pass(ds), n))
            cached.append(rate(one_pass(ds), n))
            assert cache.misses == n and cache.hits == n, (cache.misses, cache.hits)
        plain = ManifestDataset.from_manifest(manifest, pipes)

        def loader_pass(workers: int):
            dl = DataLoader(plain, batch_size=1, num_workers=workers, collate_fn=lambda b: b)
            return lambda: list(dl)

        w0 = max(rate(loader_pass(0), n) for _ in range(args.repeats))
        w2 = max(rate(loader_pass(2), n) for _ in range(args.repeats))
    best_cold, best_cached = max(cold), max(cached)
    print(f"cold (decode + transform + cache write): {best_cold:8.2f} samples/s")
    print(f"cached (no decode):                      {best_cached:8.2f} samples/s")
    print(f"no cache, 0 workers:                     {w0:8.2f} samples/s")
    print(f"no cache, 2 workers:                     {w2:8.2f} samples/s")
    print(f"ratio cached / cold:      {best_cached / best_cold:6.1f}x  (target >= 10x)")
    print(f"ratio 2 workers / 0:      {w2 / w0:6.2f}x  (cores here: {os.cpu_count()})")
    return 0 if best_cached / best_cold >= 10 else 1


QUICKSTART_SPECS = {"xray": {"spatial_size": (128, 128), "channels": 1, "mean": [0.5], "std": [0.25]},
                    "ct": {"spatial_size": (32, 64, 64), "channels": 2, "mean": [0.4, 0.4], "std": [0.35, 0.35]}}


def _epoch(dm) -> tuple[float, int]:
    """(samples/s, samples) of one pass over the training loader."""
    t0 = time.perf_counter()
    n = sum(len(batch["ids"]) for batch in dm.train_dataloader())
    return n / (time.perf_counter() - t0), n


def synthetic_section(args: argparse.Namespace) -> int:
    import torch

    from medmllm.config import DataConfig, SyntheticSourceConfig, from_dict
    from medmllm.data.datamodule import MedDataModule
    from medmllm.data.schema import read_manifest
    from medmllm.data.synthetic_source import materialise
    from medmllm.models.llm import train_tokenizer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="medmllm-synth-bench-") as tmp:
        src = {"cases": args.synth_cases, "seed": 1, "xray_size": [128, 128], "ct_shape": [32, 64, 64],
               "prevalence": "balanced", "tasks": ["report"], "langs": ["en"], "cache_dir": str(Path(tmp) / "synth")}
        t0 = time.perf_counter()
        manifest = materialise(from_dict(SyntheticSourceConfig, src), "train", progress=False)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        materialise(from_dict(SyntheticSourceConfig, src), "train", progress=False)
        reuse_s = time.perf_counter() - t0
        records = read_manifest(manifest)
        print(f"\nsynthetic source: {args.synth_cases} cases -> {len(records)} records in {gen_s:.1f} s "
              f"({args.synth_cases / gen_s:.1f} cases/s, {os.cpu_count()} cores); reuse {reuse_s * 1000:.1f} ms")
        tok = train_tokenizer([r["messages"][-1]["content"] for r in records], vocab_size=1024)
        tok.add_tokens(["<xray>", "<ct>"], special_tokens=True)
        rows = []
        for aug in (False, True):
            for fast in (False, True):
                cfg = from_dict(DataConfig, {
                    "train": [{"synthetic": src}], "batch_size": args.batch_size, "num_workers": 0,
                    "cache_dir": str(Path(tmp) / f"cache-{aug}-{fast}"), "memory_cache_gb": 2.0 if fast else 0.0,
                    "transforms": {"ct": {"spacing": None}, "augment": {"enabled": aug}}})
                dm = MedDataModule(cfg, tokenizer=tok, num_image_tokens=lambda m, s: 16, input_specs=QUICKSTART_SPECS,
                                   max_length=512, progress=False)
                if not fast:
                    dm.collator.memo_size = 0
                dm.setup("fit")
                cold, n = _epoch(dm)
                warm = max(_epoch(dm)[0] for _ in range(args.epochs))
                rows.append((aug, fast, cold, warm))
                print(f"augment {'on ' if aug else 'off'}  {'memory cache + memo' if fast else 'baseline (disk only)':21s}"
                      f"  cold epoch {cold:7.1f} samples/s   warm {warm:7.1f} samples/s  ({n} samples, batch "
                      f"{args.batch_size})", flush=True)
    by = {(a, f): (c, w) for a, f, c, w in rows}
    for aug in (False, True):
        (c0, w0), (c1, w1) = by[(aug, False)], by[(aug, True)]
        print(f"augment {'on ' if aug else 'off'}: warm {w1 / w0:5.1f}x baseline, cold {c1 / c0:4.2f}x baseline")
    return 0 if min(w for _, f, _, w in rows if f) >= 200 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", choices=["all", "ct", "synthetic"], default="all")
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--slices", type=int, default=96)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--synth-cases", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2, help="warm epochs after the cold one")
    args = ap.parse_args()
    code = 0
    if args.section in ("all", "ct"):
        code |= ct_section(args)
    if args.section in ("all", "synthetic"):
        code |= synthetic_section(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
