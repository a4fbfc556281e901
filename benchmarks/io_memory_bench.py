"""Benchmark: peak memory of ``load_image`` on inputs just under the size limit, as a ratio of the decoded size.

Builds, in a temporary folder, inputs whose decoded float32 array is ``--fill`` (default 0.95) of
``--limit`` (default 1G; the issue's case is ``--limit 2G``):
  - ``nifti``: an int16 ``.nii.gz`` stored RAS (so the loader must reorient it);
  - ``dicom``: a 512 x 512 DICOM CT series (int16 slices);
  - ``xray`` (with ``--xray``): one 16-bit DICOM X-ray with a window.
Each load runs in a fresh subprocess (``python benchmarks/io_memory_bench.py --child ...``) that first
loads a tiny file of the same format (imports and caches in the baseline), resets its peak-RSS mark
(``/proc/self/clear_refs``), reads its resident set, loads the input the way ``medmllm inspect`` does
(``load_image`` + the facts), and reports the peak (VmHWM; ``ru_maxrss`` elsewhere) minus that baseline. A second subprocess does the same under ``tracemalloc``.
Beside each, in the same way, a bare library read of the same input: ``nibabel.load(..).get_fdata(
dtype=float32)`` (reoriented with ``np.ascontiguousarray``) for NIfTI, a ``dcmread`` + stack loop for
DICOM (the baseline of ``io_bench.py``). Prints peak / decoded size for each. Target: loader <= 1.5x.
With ``--pipeline`` the CT preprocessing of ``generate`` (``ImagePipeline('ct', ...)``) is measured too.

    python benchmarks/io_memory_bench.py [--limit 1G] [--fill 0.95] [--xray] [--pipeline] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SIDE = 512


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _start_peak() -> int:
    """Reset the peak-RSS mark where Linux allows it (a child inherits its parent's mark) and return the
    resident set now."""
    import resource

    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    now = _status("VmRSS")
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak() -> int:
    """Peak resident set since :func:`_start_peak` (VmHWM), else ``ru_maxrss``."""
    import resource

    hwm = _status("VmHWM")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# ---------------------------------------------------------------- inputs
def write_nifti(path: Path, depth: int, tiny: bool = False) -> Path:
    """int16 RAS volume, gzip, written slab by slab (the parent never holds it)."""
    import nibabel as nib

    shape = (16, 16, 4) if tiny else (SIDE, SIDE, depth)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.int16)
    hdr.set_qform(np.diag([0.7, 0.7, 1.0, 1.0]), code=1)
    hdr.set_sform(np.diag([0.7, 0.7, 1.0, 1.0]), code=1)
    hdr["vox_offset"], hdr["magic"] = 352, b"n+1"
    yy, xx = np.mgrid[: shape[1], : shape[0]]
    body = ((((xx - shape[0] / 2) ** 2 + (yy - shape[1] / 2) ** 2) < (shape[0] * 0.45) ** 2) * 1040 - 1000)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(hdr.binaryblock + b"\0" * 4)
        for k in range(shape[2]):
            f.write((body + (k % 7)).astype(np.int16).T.tobytes(order="F"))
    return path


def write_dicom_series(folder: Path, depth: int) -> Path:
    from medmllm.io.writers import write_ct_series

    yy, xx = np.mgrid[:SIDE, :SIDE]
    body = (((xx - SIDE / 2) ** 2 + (yy - SIDE / 2) ** 2) < (SIDE * 0.45) ** 2) * 1040.0 - 1000.0
    volume = np.broadcast_to(body.astype(np.float32), (depth, SIDE, SIDE))
    write_ct_series(volume, (1.0, 0.7, 0.7), folder)
    return folder


def write_xray(path: Path, side: int) -> Path:
    from medmllm.io.writers import write_xray_dicom

    yy, xx = np.mgrid[:side, :side]
    write_xray_dicom(((xx + yy) / (2.0 * side)).astype(np.float32), path, bits=16)
    return path


# ---------------------------------------------------------------- child
def _bare_load(path: Path, kind: str):
    if kind == "nifti":
        import nibabel as nib

        data = nib.load(path).get_fdata(dtype=np.float32)
        return np.ascontiguousarray(data[::-1, ::-1].transpose(2, 1, 0))
    if kind == "dicom":
        import pydicom

        slices = []
        for f in sorted(path.iterdir()):
            ds = pydicom.dcmread(f)
            slices.append(ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
        return np.stack(slices)
    import pydicom

    return pydicom.dcmread(path).pixel_array.astype(np.float32)


def child(args) -> int:
    from medmllm.commands.inspect import facts
    from medmllm.io import load_image

    path, warm = Path(args.child), Path(args.warm)
    run = {"loader": lambda p: facts(load_image(p, max_bytes=args.limit)),
           "bare": lambda p: _bare_load(p, args.kind),
           "pipeline": lambda p: _pipeline()(str(p))}[args.what]
    run(warm)
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    base = _start_peak()
    t0 = time.perf_counter()
    run(path)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else _peak() - base
    print(json.dumps({"peak": peak, "seconds": seconds}))
    return 0


def _pipeline():
    from medmllm.data.transforms import ImagePipeline

    pipe = ImagePipeline("ct", {"spatial_size": (64, 192, 192), "channels": 3, "mean": None, "std": None})
    return pipe.preprocess


# ---------------------------------------------------------------- parent
def measure(kind: str, what: str, path: Path, warm: Path, limit: int, traced: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--warm", str(warm), "--kind", kind, "--what", what,
           "--limit", str(limit)] + (["--tracemalloc"] if traced else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{kind}/{what} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_size(text: str) -> int:
    from medmllm.commands.inspect import parse_size as parse

    return parse(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", default="1G", help="max_bytes of the loads (default 1G)")
    ap.add_argument("--fill", type=float, default=0.95, help="decoded size as a fraction of the limit")
    ap.add_argument("--xray", action="store_true", help="also a 16-bit X-ray near the limit")
    ap.add_argument("--pipeline", action="store_true", help="also generate's CT preprocessing on the NIfTI")
    ap.add_argument("--keep", metavar="DIR", help="build the inputs here and keep them")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--warm", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--what", help=argparse.SUPPRESS)
    ap.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.limit = int(args.limit)
        return child(args)
    limit = parse_size(args.limit)
    depth = max(2, int(args.fill * limit / (SIDE * SIDE * 4)))
    with tempfile.TemporaryDirectory(prefix="medmllm-mem-") as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        inputs = {"nifti": (write_nifti(root / "ct.nii.gz", depth), write_nifti(root / "tiny.nii.gz", 0, tiny=True)),
                  "dicom": (write_dicom_series(root / "series", depth), write_dicom_series(root / "tiny", 4))}
        decoded = {"nifti": SIDE * SIDE * depth * 4, "dicom": SIDE * SIDE * depth * 4}
        if args.xray:
            side = int((args.fill * limit / 4) ** 0.5)
            inputs["xray"] = (write_xray(root / "xray.dcm", side), write_xray(root / "tiny-xray.dcm", 32))
            decoded["xray"] = side * side * 4
        print(f"inputs built in {time.perf_counter() - t0:.0f} s under {root} (limit {args.limit}, "
              f"fill {args.fill:.2f}; CT {SIDE} x {SIDE} x {depth})")
        rows = []
        for kind, (path, warm) in inputs.items():
            whats = ["loader", "bare"] + (["pipeline"] if args.pipeline and kind == "nifti" else [])
            for what in whats:
                rss = measure(kind, what, path, warm, limit, traced=False)
                traced = measure(kind, what, path, warm, limit, traced=True)
                rows.append((kind, what, decoded[kind], rss, traced))
    print(f"{'input':<7} {'reader':<9} {'decoded':>10} {'peak RSS':>10} {'ratio':>6} {'traced':>10} {'ratio':>6} "
          f"{'seconds':>8}")
    for kind, what, size, rss, traced in rows:
        print(f"{kind:<7} {what:<9} {size / 2**20:>8.0f} M {rss['peak'] / 2**20:>8.0f} M {rss['peak'] / size:>6.2f} "
              f"{traced['peak'] / 2**20:>8.0f} M {traced['peak'] / size:>6.2f} {rss['seconds']:>8.1f}")
    print("ratio = peak / decoded float32 size; target for 'loader': <= 1.5 (the issue measured 1.94 for "
          "inspect on a 1.9 GiB NIfTI before this change)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
