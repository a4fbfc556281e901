"""The "benchmark options" flags shared by ``medmllm evaluate`` and ``medmllm score-benchmark``.

One flag per option a benchmark declares (:mod:`medmllm.evaluation.benchmarks.options`). The flags
are written out here rather than read from the declarations, because reading those imports every
benchmark and ``--help`` must import nothing heavy; ``tests/benchmarks/test_declarations.py``
checks that they match (flag, destination, choices), so a benchmark that declares a new option
fails that test until its flag is added here.
"""


def add_benchmark_options(parser, helps: dict | None = None) -> None:
    """Add the "benchmark options" group to a command's parser.

    Args:
        parser: the command's parser.
        helps: option name -> help text of this command, where it differs from the default text.
    """
    helps = helps or {}
    group = parser.add_argument_group("benchmark options", "each applies to the benchmarks that declare it; "
                                                           "another is refused")
    for flag, kw, text in (
            ("--method", dict(choices=("likelihood", "generation")),
             "seed-bench: how the predictions were made (default: the rows' 'method')"),
            ("--lang", dict(choices=("en", "zh")), "report/clinical: language of the reports"),
            ("--protocol", dict(choices=("coco", "r2gen")),
             "report/clinical: text preparation before the NLG metrics (default coco)"),
            ("--uncertain", dict(choices=("positive", "negative")),
             "report/clinical: what uncertain findings count as (default positive)"),
            ("--judge", dict(metavar="SPEC"), "mllm-bench: http(s)://URL (OpenAI-compatible), hf:DIR or "
             "checkpoint:DIR; API key from MEDMLLM_JUDGE_API_KEY or OPENAI_API_KEY"),
            ("--judge-model", dict(metavar="NAME"), "mllm-bench: model name sent to the endpoint"),
            ("--images", dict(metavar="DIR", dest="image_root"),
             "mllm-bench: folder the rows' image paths are relative to")):
        dest = kw.get("dest", flag[2:].replace("-", "_"))
        group.add_argument(flag, help=helps.get(dest, text), **kw)


def benchmark_options(args) -> dict:
    """The benchmark options given on the command line, by option name (None: not given)."""
    from medmllm.evaluation.benchmarks.lookup import all_options

    return {name: getattr(args, name, None) for name in all_options()}
