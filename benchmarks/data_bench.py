"""Benchmark: the CT data pipeline, cold vs cached, and 0 vs 2 DataLoader workers.

Writes synthetic CT series (DICOM, one file per slice) to a temporary folder and a manifest of
them, then measures samples/s of the CT pipeline (load the series -> resample to 2 x 1.5 x 1.5 mm
-> crop/pad to 32 x 128 x 128 -> lung / mediastinum / bone windows), all in this process:
  - cold: an empty tensor cache (every series decoded, transformed and written to the cache);
  - cached: the same samples again (the cache hits; no DICOM is decoded);
  - no cache, 0 workers vs 2 DataLoader workers.
Prints samples/s and the ratios. Target: cached at least 10x cold.

    python benchmarks/data_bench.py [--cases 8] [--slices 96] [--size 256] [--repeats 2]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--slices", type=int, default=96)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

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


if __name__ == "__main__":
    raise SystemExit(main())
