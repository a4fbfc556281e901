"""Wall time of `medmllm --help` (target < 1.5 s) against `python -c pass` in the same run."""

import statistics
import subprocess
import sys
import time


def timed(cmd, n=5):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


if __name__ == "__main__":
    base = timed([sys.executable, "-c", "pass"])
    helptime = timed([sys.executable, "-m", "medmllm", "--help"])
    print(f"python -c pass: {base:.3f} s;  medmllm --help: {helptime:.3f} s  (ratio {helptime / base:.1f}x; target < 1.5 s)")
