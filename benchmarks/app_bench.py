"""Report app latency: time to first token and to the full report, through the app vs the model alone,
and N concurrent clients served without error.

    python benchmarks/app_bench.py [--checkpoint DIR] [--runs 3] [--max-new-tokens 128] [--clients 4]

Default checkpoint: the quickstart export (`make demo`); without one, a random-init model of the
quickstart's size is built (resnet2d X-ray encoder at 128x128 + MLP connector + Llama hidden 192,
3 layers): the same compute per token, but it writes exactly --max-new-tokens tokens of noise.
The baseline, run in the same process, is ``Predictor.stream`` called directly on the same inputs;
ratios are app / baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


QUICKSTART_SIZE = {
    "modalities": {"xray": {"encoder": {"name": "resnet2d", "image_size": 128, "channels": 1},
                            "connector": {"name": "mlp2x_gelu"}}},
    "llm": {"name": "tiny", "family": "llama", "hidden_size": 192, "num_layers": 3, "num_heads": 4, "seed": 0},
    "max_length": 512,
}


def _checkpoint(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from medmllm.commands.app import quickstart_export_dir

    if arg:
        return Path(arg), "given"
    if quickstart_export_dir().is_dir():
        return quickstart_export_dir(), "quickstart"
    import torch

    from medmllm.models.mllm import MedMLLM

    torch.manual_seed(0)
    MedMLLM.build(QUICKSTART_SIZE).save_pretrained(tmp / "quickstart-size")
    return tmp / "quickstart-size", "random init, no quickstart export found"


def _direct(backend, request) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    for piece in backend.stream(request):
        if first is None and piece.strip():
            first = time.perf_counter() - t0
    return first or float("nan"), time.perf_counter() - t0


def _via_app(url: str, args: tuple) -> tuple[float, float, str]:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    t0 = time.perf_counter()
    job = client.submit(*args, api_name="/generate")
    first = None
    for out in job:
        if first is None and isinstance(out, (list, tuple)) and isinstance(out[1], str) and out[1].strip():
            first = time.perf_counter() - t0
    status, report = job.result()[:2]
    if not status.startswith("Done"):
        raise RuntimeError(f"app answered: {status}")
    return first or float("nan"), time.perf_counter() - t0, report


def _upload(url: str, path: str) -> float:
    """Seconds to upload one file to the app (the page does this once, when the file is chosen)."""
    import httpx

    t0 = time.perf_counter()
    with open(path, "rb") as f:
        httpx.post(url.rstrip("/") + "/gradio_api/upload", files={"files": f}, timeout=60).raise_for_status()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--clients", type=int, default=4)
    a = ap.parse_args()

    from gradio_client import handle_file
    from pydicom.data import get_testdata_file

    from medmllm.app.backend import GenerationSettings, PredictorBackend, ReportRequest
    from medmllm.app.ui import ReportApp
    from medmllm.app.uploads import load_xray

    tmp = Path(tempfile.mkdtemp(prefix="medmllm-app-bench-"))
    ckpt, what = _checkpoint(a.checkpoint, tmp)
    xray = get_testdata_file("RG1_UNCR.dcm")
    backend = PredictorBackend(ckpt)
    request = ReportRequest(xray=load_xray(xray), xray_source=xray,
                            settings=GenerationSettings(max_new_tokens=a.max_new_tokens))
    app = ReportApp(backend, concurrency=1)
    app.launch(host="127.0.0.1", port=None, prevent_thread_lock=True, quiet=True)
    args = (handle_file(xray), None, None, "", "", "", "report", "", "en", a.max_new_tokens, 0.0, 1.0, 0)
    try:
        _direct(backend, request)  # warm-up: first call loads lazily-imported parts
        _via_app(app.blocks.local_url, args)
        base, via = [], []
        for _ in range(a.runs):  # interleaved, so that load from other jobs hits both alike
            base.append(_direct(backend, request))
            via.append(_via_app(app.blocks.local_url, args))
        upload = statistics.median(_upload(app.blocks.local_url, xray) for _ in range(a.runs))
        results, errors = [], []

        def one() -> None:
            try:
                results.append(_via_app(app.blocks.local_url, args))
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=one) for _ in range(a.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        app.close()

    med = statistics.median
    b_first, b_total = med(x[0] for x in base), med(x[1] for x in base)
    v_first, v_total = med(x[0] for x in via), med(x[1] for x in via)
    same = len({r for *_, r in via} | {r for *_, r in results}) == 1
    print(f"checkpoint: {ckpt.name} ({what}); input: RG1_UNCR.dcm (1955x1841 CR); max_new_tokens={a.max_new_tokens}; "
          f"median of {a.runs}")
    print(f"{'':28}{'first token':>12}{'full report':>13}")
    print(f"{'model alone (baseline)':28}{b_first:>11.2f}s{b_total:>12.2f}s")
    print(f"{'through the app':28}{v_first:>11.2f}s{v_total:>12.2f}s")
    print(f"{'ratio app / baseline':28}{v_first / b_first:>11.2f}x{v_total / b_total:>12.2f}x")
    print(f"of which uploading the {os.path.getsize(xray) / 2**20:.1f} MB DICOM: {upload:.2f}s per request "
          "(in the page it is uploaded once, when the file is chosen)")
    print(f"{a.clients} concurrent clients: {len(results)} served, {len(errors)} errors, wall {wall:.2f}s "
          f"= {wall / v_total:.2f}x one report (queue concurrency 1); same text for all: {same}")
    for e in errors:
        print("  error:", e)
    return 1 if errors or len(results) != a.clients else 0


if __name__ == "__main__":
    raise SystemExit(main())
