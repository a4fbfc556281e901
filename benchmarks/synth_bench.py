"""Synthetic cases: time to render in memory vs to write as files, per case; projection to 1,000 cases.

Run: ``python benchmarks/synth_bench.py [N]``. Prints CPU milliseconds per case for rendering, writing
the radiograph, writing the CT as a DICOM series and as NIfTI, and the ratio of each to rendering
(the baseline, measured in the same process), then the projected wall time of
``medmllm synth --cases 1000`` with two workers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(n: int = 30) -> None:
    from medmllm.data.synthetic import SynthConfig, render_case
    from medmllm.io.writers import write_ct_series, write_nifti, write_xray_dicom

    cfg = SynthConfig()
    render_case(0, 0, cfg)  # warm-up (imports, thread pools)
    # CPU time, not wall time: on shared cores wall time mostly measures the neighbours
    t = time.process_time()
    cases = [render_case(0, i, cfg) for i in range(n)]
    render = (time.process_time() - t) / n
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        timings = {}
        for name, fn in (("xray dicom", lambda c: write_xray_dicom(c.xray, root / f"{c.index}.dcm")),
                         ("ct dicom series", lambda c: write_ct_series(c.ct, c.ct_spacing, root / f"ct{c.index}")),
                         ("ct nifti", lambda c: write_nifti(c.ct, c.ct_spacing, root / f"{c.index}.nii.gz"))):
            t = time.process_time()
            for c in cases:
                fn(c)
            timings[name] = (time.process_time() - t) / n
    print(f"render (baseline)   {render * 1000:7.1f} ms/case (CPU time)")
    for name, sec in timings.items():
        print(f"{name:<19} {sec * 1000:7.1f} ms/case  ({sec / render:4.1f}x render)")
    per_case = render + timings["xray dicom"] + 0.8 * timings["ct dicom series"] + 0.2 * timings["ct nifti"]
    print(f"projected 'medmllm synth --cases 1000 --workers 2': {1000 * per_case / 2:.0f} s "
          f"({per_case * 1000:.0f} ms per case on one core)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
