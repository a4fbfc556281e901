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

_OPTIONS = {"method": "--method", "judge": "--judge", "judge_model": "--judge-model", "image_root": "--images",
            "lang": "--lang", "protocol": "--protocol", "uncertain": "--uncertain"}


def add_arguments(parser):
    parser.add_argument("name", metavar="NAME", help="benchmark: mme, seed-bench, scienceqa, mllm-bench, report, clinical")
    parser.add_argument("--predictions", required=True, metavar="P.jsonl", help="predictions, one JSON row per line")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="results JSON to write (.md, plots beside it)")
    parser.add_argument("--references", metavar="R", help="manifest or reference rows joined by id")
    parser.add_argument("--model", help="model name for the results (default: rows' 'model' or the file name)")
    parser.add_argument("--method", choices=("likelihood", "generation"),
                        help="seed-bench: how the predictions were made (default: the rows' 'method')")
    parser.add_argument("--judge", metavar="SPEC", help="mllm-bench: http(s)://URL (OpenAI-compatible), hf:DIR or "
                        "checkpoint:DIR; API key from MEDMLLM_JUDGE_API_KEY or OPENAI_API_KEY")
    parser.add_argument("--judge-model", metavar="NAME", help="mllm-bench: model name sent to the endpoint")
    parser.add_argument("--images", metavar="DIR", help="mllm-bench: folder the rows' image paths are relative to")
    parser.add_argument("--lang", choices=("en", "zh"), help="report/clinical: language of the reports")
    parser.add_argument("--protocol", choices=("coco", "r2gen"),
                        help="report/clinical: text preparation before the NLG metrics (default coco)")
    parser.add_argument("--uncertain", choices=("positive", "negative"),
                        help="report/clinical: what uncertain findings count as (default positive)")
    parser.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")


def run(args):
    import inspect
    from pathlib import Path

    from medmllm.errors import InputError
    from medmllm.evaluation.benchmarks.results import render_markdown, score_file
    from medmllm.registry import BENCHMARKS

    cls, _ = BENCHMARKS.get(args.name)
    accepted = set(inspect.signature(cls).parameters)
    kwargs = {}
    for key, flag in _OPTIONS.items():
        value = getattr(args, key, None)
        if value is None:
            continue
        if key not in accepted:
            raise InputError(None, f"{flag} does not apply to {args.name}")
        kwargs[key] = value
    out = Path(args.out)
    if "cache" in accepted:
        kwargs["cache"] = str(out.with_name(out.stem + ".judgments.jsonl"))
    benchmark = cls(**kwargs)
    results = score_file(benchmark, args.predictions, out, references=args.references, model=args.model,
                         plots=not args.no_plots)
    print(render_markdown(benchmark, results), end="")
    print(f"\nwrote {out}")
    return 0
