"""Evaluation throughput (samples/s): batched vs one-at-a-time generation through `medmllm evaluate`'s path.

The same synthetic report records (X-ray only) go through the benchmark runner exactly as
`medmllm evaluate --benchmark report` sends them: image loading and MONAI preprocessing,
prompt building, generation, rows appended to a predictions file. Only the batch size changes
between passes; every pass starts from an empty predictions file, after one warm-up batch.

Model: the quickstart export when there is one (``--checkpoint``, ``$MEDMLLM_QUICKSTART`` or
``$MEDMLLM_CACHE/quickstart/export``); it stops at its end-of-turn token as in a real evaluation.
Otherwise a model of the quickstart's size built from config (resnet2d X-ray encoder at 128x128 +
mlp2x_gelu + a random-init Llama, hidden 192, 3 layers) that is made to write exactly
``--new-tokens`` tokens per answer, so that every pass generates the same number of tokens.

    .venv/bin/python benchmarks/eval_bench.py [--records 32] [--new-tokens 64] [--batch-sizes 1 8 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

QUICKSTART_SIZE = {
    "modalities": {"xray": {"encoder": {"name": "resnet2d", "image_size": 128, "channels": 1},
                            "connector": {"name": "mlp2x_gelu"}}},
    "llm": {"name": "tiny", "family": "llama", "hidden_size": 192, "num_layers": 3, "num_heads": 4, "seed": 0},
    "max_length": 512,
}


def find_export(given: str | None) -> Path | None:
    """The quickstart export, if one exists."""
    cands = [given, os.environ.get("MEDMLLM_QUICKSTART")]
    cache = os.environ.get("MEDMLLM_CACHE") or str(Path.home() / ".cache" / "medmllm")
    cands.append(str(Path(cache) / "quickstart" / "export"))
    for c in cands:
        if c and (Path(c) / "medmllm.yaml").is_file():
            return Path(c)
    return None


def xray_records(folder: Path, n: int) -> tuple[list[dict], Path]:
    """``n`` synthetic report records whose only image is the 128x128 X-ray."""
    from medmllm.data.schema import read_manifest
    from medmllm.data.synthetic import SynthConfig, generate

    cfg = SynthConfig(xray_size=(128, 128), ct_shape=(8, 32, 32), langs=("en",), tasks=("report",),
                      render_ct=False)
    generate(folder, max(4, n // 2), seed=1, config=cfg, workers=1, progress=False)
    recs = [r for r in read_manifest(folder / "manifest.jsonl")
            if r["task"] == "report" and [i["modality"] for i in r["images"]] == ["xray"]]
    if len(recs) < n:
        raise SystemExit(f"only {len(recs)} X-ray report records; ask for fewer --records")
    return recs[:n], folder / "manifest.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="export to measure (default: the quickstart export, else a built model)")
    ap.add_argument("--records", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64, help="answer length of the built model (default 64)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as d:
        measure(args, Path(d))


def measure(args: argparse.Namespace, tmp: Path) -> None:
    """Build or load the model, make the records, time one pass per batch size; print the table."""
    from medmllm.data.schema import image_root
    from medmllm.evaluation.benchmarks.report import Report
    from medmllm.evaluation.benchmarks.runner import run_predictions
    from medmllm.inference import Predictor
    from medmllm.models.mllm import MedMLLM

    records, manifest = xray_records(tmp / "synth", args.records)
    export = find_export(args.checkpoint)
    if export is not None:
        gen = {"max_new_tokens": Report.max_new_tokens}
        predictor = Predictor.from_pretrained(export, device="cpu", image_root=image_root(manifest), **gen)
        what = f"export {export} (stops at end of turn, max {Report.max_new_tokens} new tokens)"
    else:
        torch.manual_seed(0)
        gen = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
        predictor = Predictor(MedMLLM.build(QUICKSTART_SIZE), None, "cpu", image_root=image_root(manifest),
                              generation=gen)
        what = f"quickstart-size model built from config (random init, exactly {args.new_tokens} new tokens)"
    model = predictor.model
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {what}; {n_params / 1e6:.2f}M parameters, "
          f"{model.num_image_tokens('xray', (1, 128, 128))} image tokens; torch threads {torch.get_num_threads()}")
    print(f"data: {len(records)} synthetic report records, 128x128 X-ray (DICOM / PNG), loaded and preprocessed "
          "in every pass")
    bench = Report(lang="en")
    run_predictions(bench, records[:2], predictor, tmp / "warmup.jsonl", batch_size=2)  # warm-up
    rows = []
    for bs in args.batch_sizes:
        out = tmp / f"pred-b{bs}.jsonl"
        t = time.perf_counter()
        run_predictions(bench, records, predictor, out, batch_size=bs)
        secs = time.perf_counter() - t
        rows.append((bs, secs, len(records) / secs))
    base = rows[0][2]
    print(f"\n| batch size | seconds | samples/s | x batch {rows[0][0]} |")
    print("|---|---|---|---|")
    for bs, secs, sps in rows:
        print(f"| {bs} | {secs:.1f} | {sps:.2f} | {sps / base:.2f} |")


if __name__ == "__main__":
    main()
