"""medmllm compare: paired bootstrap confidence intervals for the difference of two results."""

NAME = "compare"
HELP = "paired bootstrap differences (B - A) with confidence intervals for every metric of two results"
DESCRIPTION = """Compare two results of the same benchmark on the same data.

RESULTS_A and RESULTS_B are results JSON files (or folders holding results.json) written by
`medmllm score-benchmark` or `medmllm evaluate`; their per-sample files are paired by sample and
resampled together (paired bootstrap, percentile interval). For every metric the table shows A, B,
B - A, the confidence interval of B - A and whether it excludes 0. The same --seed gives the same
intervals.

example:
  medmllm compare runs/base/results.json runs/tuned/results.json --n-boot 2000 --seed 1
"""
ORDER = 63


def add_arguments(parser):
    parser.add_argument("results_a", metavar="RESULTS_A", help="results JSON (or its folder) of model A")
    parser.add_argument("results_b", metavar="RESULTS_B", help="results JSON (or its folder) of model B")
    parser.add_argument("--n-boot", type=int, default=1000, metavar="N", help="bootstrap draws (default 1000)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the draws (default 0)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    parser.add_argument("--out", metavar="OUT.json", help="also write the comparison as JSON")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")


def run(args):
    import json

    from medmllm.files import atomic_write_text
    from medmllm.evaluation.compare import compare_results, render_comparison

    cmp = compare_results(args.results_a, args.results_b, n_boot=args.n_boot, seed=args.seed,
                          confidence=args.confidence)
    text = json.dumps(cmp, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
    print(text if args.json else render_comparison(cmp), end="")
    return 0
