"""Benchmark: ``load_image`` on a CT DICOM series against a bare pydicom read-and-stack loop.

Writes a synthetic 512 x 512 x 300 CT series (about 150 MB) to a temporary folder, then times,
in the same process and alternating runs:
  - baseline raw: ``np.stack([dcmread(f).pixel_array ...])`` in file-name order (reference only);
  - baseline: ``dcmread`` every file, ``pixel_array * slope + intercept`` as float32, sort by
    position, ``np.stack`` (no validation at all);
  - ``load_image(folder)``: content sniffing, grouping, geometry checks, HU, canonical axes;
  - ``load_image(folder, workers=N)``: the same with N reader threads.
Prints the best-of-N seconds and the ratios. Target: load_image within 1.3x of the baseline.

    python benchmarks/io_bench.py [--slices 300] [--size 512] [--repeats 3] [--workers 4]
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


def baseline(folder: Path) -> np.ndarray:
    import pydicom

    slices = []
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        slices.append((float(ds.ImagePositionPatient[2]), hu))
    slices.sort(key=lambda s: s[0])
    return np.stack([s[1] for s in slices])


def baseline_raw(folder: Path) -> np.ndarray:
    """The barest loop: stored values stacked in file-name order (no HU, no ordering)."""
    import pydicom

    return np.stack([pydicom.dcmread(f).pixel_array for f in sorted(folder.iterdir())])


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    from medmllm.io import load_image
    from medmllm.io.writers import write_ct_series

    rng = np.random.default_rng(0)
    shape = (args.slices, args.size, args.size)
    volume = rng.integers(-1024, 1500, size=shape, dtype=np.int16).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="medmllm-io-bench-") as tmp:
        folder = Path(tmp) / "series"
        t_write, _ = timed(write_ct_series, volume, (1.25, 0.7, 0.7), folder, shuffle_names=True)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(f"series: {args.slices} slices of {args.size}x{args.size}, {size_mb:.0f} MB, written in {t_write:.1f} s")
        runs: dict[str, list[float]] = {"baseline": [], "baseline raw (no HU, no sort)": [], "load_image": [],
                                        f"load_image workers={args.workers}": []}
        for _ in range(args.repeats):
            t, raw = timed(baseline_raw, folder)
            runs["baseline raw (no HU, no sort)"].append(t)
            del raw
            t, ref = timed(baseline, folder)
            runs["baseline"].append(t)
            t, img = timed(load_image, folder)
            runs["load_image"].append(t)
            assert np.array_equal(img.array, ref) and np.array_equal(ref, volume), "loaders disagree"
            del img
            t, img = timed(load_image, folder, workers=args.workers)
            runs[f"load_image workers={args.workers}"].append(t)
            assert np.array_equal(img.array, ref)
            del img, ref
        base = min(runs["baseline"])
        print(f"{'reader':<30} {'best s':>8} {'median s':>9} {'vs baseline':>12}")
        for name, ts in runs.items():
            print(f"{name:<30} {min(ts):>8.2f} {float(np.median(ts)):>9.2f} {min(ts) / base:>11.2f}x")
        print(f"cpu cores: {os.cpu_count()}; target: load_image <= 1.30x baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
