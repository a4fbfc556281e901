"""What benchmarks declare about themselves, and the command-line flags that must match it."""

import argparse
from pathlib import Path

import pytest

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.lookup import all_options, build_benchmark
from medmllm.evaluation.benchmarks.options import Option
from medmllm.registry import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]


def benchmark_flags(command):
    """``{dest: action}`` of the "benchmark options" group of a command's parser."""
    from medmllm.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    (group,) = [g for g in sub._action_groups if g.title == "benchmark options"]
    return {a.dest: a for a in group._group_actions}


@pytest.mark.parametrize("command", ["evaluate", "score-benchmark"])
def test_cli_flags_match_the_declarations(command):
    declared = all_options()
    flags = benchmark_flags(command)
    assert set(flags) == set(declared), "add the flag of a new option to medmllm/commands/_benchmark_options.py"
    for name, opt in declared.items():
        action = flags[name]
        assert action.option_strings == [opt.cli_flag], name
        assert tuple(action.choices or ()) == opt.choices, name
        assert (action.type or str) is opt.type, name


def test_declarations_of_the_general_benchmarks():
    get = lambda name: BENCHMARKS.get(name)[0]  # noqa: E731
    assert {n: get(n).max_new_tokens for n in ("mme", "seed-bench", "scienceqa", "mllm-bench", "report",
                                               "clinical")} == {"mme": 16, "seed-bench": 16, "scienceqa": 32,
                                                                "mllm-bench": 512, "report": 256, "clinical": 256}
    assert get("seed-bench").methods == ("likelihood", "generation")
    assert [o.name for o in get("seed-bench").declared_options()] == ["method"]
    assert [o.cli_flag for o in get("mllm-bench").declared_options()] == ["--judge", "--judge-model", "--images"]
    assert [n for n in BENCHMARKS.names() if get(n).needs_references] == ["mllm-bench"]
    assert get("report").controls == get("clinical").controls == ("shuffled_images", "constant_normal")
    assert not any(get(n).controls for n in ("mme", "seed-bench", "scienceqa", "mllm-bench"))


def test_options_become_attributes_and_are_checked():
    report, rest = build_benchmark("report", {"protocol": "r2gen", "lang": None})
    assert (report.protocol, report.uncertain, report.lang, rest) == ("r2gen", "positive", None, {})
    with pytest.raises(InputError, match="--protocol: 'bleu' is not one of coco, r2gen"):
        build_benchmark("report", {"protocol": "bleu"})
    with pytest.raises(InputError, match="^--judge does not apply to report$"):
        build_benchmark("report", {"judge": "http://x"})
    with pytest.raises(InputError, match="--method: 'vote' is not one of likelihood, generation"):
        build_benchmark("seed-bench", {"method": "vote"})
    assert Option("n", "a count", type=int).check("3") == 3


def test_evaluate_knows_no_benchmark_by_name():
    source = (ROOT / "medmllm" / "evaluation" / "evaluate.py").read_text(encoding="utf-8")
    for name in BENCHMARKS.names():
        assert f'"{name}"' not in source and f"'{name}'" not in source, name
    assert "inspect" not in source and "signature" not in source
