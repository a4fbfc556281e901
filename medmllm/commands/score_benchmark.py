"""medmllm score-benchmark: score a predictions file by the benchmark's official rule (no model)."""

NAME = "score-benchmark"
HELP = "score a benchmark's predictions file by its official rule (no model needed)"
DESCRIPTION = """Score predictions of MME, SEED-Bench, ScienceQA, MLLM-Bench, report or clinical.

Writes OUT.json (metrics, rule, versions, provenance), OUT.md (a table to paste in a paper),
OUT.samples.jsonl (per-sample scores, what `medmllm compare` resamples) and PNG plots.

Rows (one JSON object per line):
  mme         {"subtask", "image", "question", "answer": "Yes"|"No", "prediction"}
  seed-bench  {"question_id", "question_type_id", "answer": "A".."D", "prediction"[, "losses", "method"]}
  scienceqa   {"pid", "answer": letter, "prediction", "has_image", "subject"}
  mllm-bench  {"question_id", "question", "prediction"}; --references = the other model's answers
  report      {"id", "prediction", "reference"[, "lang", "labels"]} (or `medmllm score` rows {"id", "report"})
  clinical    {"id", "task", "prediction", "reference"[, "lang", "labels"]}
--references takes a manifest (or reference rows) joined by id: it fills fields the rows lack and
counts references without a prediction as skipped.

examples:
  medmllm score-benchmark mme --predictions mme_preds.jsonl --out mme.json
  medmllm score-benchmark seed-bench --predictions seed.jsonl --method generation --out seed.json
  medmllm score-benchmark mllm-bench --predictions a.jsonl --references b.jsonl \\
      --judge http://localhost:8000/v1 --judge-model qwen2-vl --out ab.json
"""
ORDER = 62


def add_arguments(parser):
    from medmllm.commands._benchmark_options import add_benchmark_options

    parser.add_argument("name", metavar="NAME", help="benchmark: mme, seed-bench, scienceqa, mllm-bench, report, clinical")
    parser.add_argument("--predictions", required=True, metavar="P.jsonl", help="predictions, one JSON row per line")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="results JSON to write (.md, plots beside it)")
    parser.add_argument("--references", metavar="R", help="manifest or reference rows joined by id")
    parser.add_argument("--model", help="model name for the results (default: rows' 'model' or the file name)")
    add_benchmark_options(parser)
    parser.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")


def run(args):
    from pathlib import Path

    from medmllm.commands._benchmark_options import benchmark_options
    from medmllm.errors import InputError
    from medmllm.evaluation.benchmarks.lookup import build_benchmark
    from medmllm.evaluation.benchmarks.options import flag_of
    from medmllm.evaluation.benchmarks.results import render_markdown, score_file

    benchmark, hook_options = build_benchmark(args.name, benchmark_options(args))
    if hook_options:  # options of a benchmark that evaluates the checkpoint itself
        raise InputError(None, f"{flag_of(next(iter(hook_options)))} applies only when `medmllm evaluate` runs "
                               f"{args.name}")
    out = Path(args.out)
    benchmark.bind(out)
    results = score_file(benchmark, args.predictions, out, references=args.references, model=args.model,
                         plots=not args.no_plots)
    print(render_markdown(benchmark, results), end="")
    print(f"\nwrote {out}")
    return 0
