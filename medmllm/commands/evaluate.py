"""medmllm evaluate: run a benchmark on an export folder and score it by the benchmark's official rule."""

NAME = "evaluate"
HELP = "run a benchmark with an export (generation or likelihood) and score it; resumes where it stopped"
DESCRIPTION = """Run a model on a benchmark manifest and score the answers by the benchmark's official rule.

Benchmarks: mme, seed-bench, scienceqa, mllm-bench, report, clinical (and encoder, which evaluates
the checkpoint's encoder directly). Make the manifest with `medmllm prepare` (MME, SEED-Bench,
ScienceQA, MLLM-Bench) or `medmllm synth` / `medmllm prepare p2med-dir` (report, clinical).

Writes into OUT: predictions.jsonl (one row per record, appended batch by batch), results.json
(metrics, rule, model, data, versions, provenance), results.md (a table to paste in a paper),
results.samples.jsonl (per-sample scores, what `medmllm compare` resamples), PNG plots, and
run.json (what made the predictions). report and clinical also run two controls on the same
records, in OUT/controls/: images shuffled across patients, and a constant normal answer.

An interrupted run resumes: rerun the same command and records already in predictions.jsonl are
not predicted again. A rerun with another checkpoint, method, seed or generation setting into the
same OUT is refused. SEED-Bench: --method likelihood (official; the choice with the lowest mean
token loss given image + question) or --method generation (the answer's letter).

examples:
  medmllm evaluate --checkpoint runs/quickstart/export --benchmark report --data synth/manifest.jsonl \\
      --split test --out results/report
  medmllm evaluate --checkpoint runs/quickstart/export --benchmark seed-bench --data seed.jsonl \\
      --method likelihood --out results/seed --limit 500
  medmllm evaluate --checkpoint runs/quickstart/export --benchmark mllm-bench --data mllm.jsonl \\
      --references gpt4v_answers.jsonl --judge http://localhost:8000/v1 --judge-model qwen2-vl --out results/mllm
"""
ORDER = 61


def add_arguments(parser):
    from medmllm.commands._benchmark_options import add_benchmark_options

    parser.add_argument("--checkpoint", required=True, metavar="DIR", help="export folder")
    parser.add_argument("--benchmark", required=True, metavar="NAME",
                        help="mme, seed-bench, scienceqa, mllm-bench, report, clinical, encoder")
    parser.add_argument("--data", required=True, metavar="MANIFEST", help="manifest of the benchmark's records")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (resumed when it exists)")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N records of the benchmark")
    parser.add_argument("--batch-size", type=int, default=8, metavar="B", help="records per batch (default 8)")
    parser.add_argument("--split", metavar="S", help="only records of this split (train, val, test)")
    parser.add_argument("--no-controls", action="store_true",
                        help="report/clinical: skip the shuffled-images and constant-normal controls")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image shuffle control (default 0)")
    parser.add_argument("--max-new-tokens", type=int, metavar="N",
                        help="answer length limit (default: 16 mme/seed-bench, 32 scienceqa, 256 report/clinical, "
                             "512 mllm-bench)")
    parser.add_argument("--temperature", type=float, help="sample with this temperature (default: greedy)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling threshold (with --temperature)")
    parser.add_argument("--num-beams", type=int, help="beam search width")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="model dtype (default: export's)")
    parser.add_argument("--model", metavar="NAME", help="model name in the results (default: the export folder's name)")
    parser.add_argument("--references", metavar="P.jsonl",
                        help="mllm-bench: the other model's answers to judge against")
    add_benchmark_options(parser, {"method": "seed-bench: likelihood (official, default) or generation",
                                   "lang": "report: only records of this language; clinical: force one language",
                                   "image_root": "mllm-bench: folder the judge reads the images from "
                                                 "(default: the manifest's image root)"})


def _generation(args):
    from medmllm.commands.generate import generation_kwargs

    return generation_kwargs(args)


def run(args):
    from pathlib import Path

    from medmllm.commands._benchmark_options import benchmark_options
    from medmllm.evaluation.evaluate import evaluate

    results = evaluate(args.checkpoint, args.benchmark, args.data, args.out, options=benchmark_options(args),
                       limit=args.limit, batch_size=args.batch_size, split=args.split, seed=args.seed,
                       controls=() if args.no_controls else None, generation=_generation(args), device=args.device,
                       dtype=args.dtype, references=args.references, model_name=args.model,
                       progress=not args.quiet)
    out = Path(args.out)
    counts = ""
    if "predicted" in results:
        counts = f" ({results['resumed']} already there, {results['predicted']} new)"
    if results.get("scored") is False:
        print(f"wrote {results['predictions']}: {results['n']} answers{counts}; judge them with "
              "--references OTHER.jsonl --judge SPEC")
        return 0
    md = out / "results.md"
    if not args.quiet and md.is_file():
        print(md.read_text(encoding="utf-8"), end="")
        print()
    print(f"wrote {out / 'results.json'}: n = {results.get('n')}{counts}")
    return 0
