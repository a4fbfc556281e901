"""Registered benchmarks by name: build one from the options a user gave; what all of them declare.

``medmllm evaluate``, ``score-benchmark`` and ``compare`` look benchmarks up here; none of them
knows a benchmark by name.
"""

from __future__ import annotations

from typing import Any

from medmllm.evaluation.benchmarks.base import Benchmark
from medmllm.evaluation.benchmarks.options import Option


def build_benchmark(name: str, options: dict[str, Any] | None = None) -> tuple[Benchmark, dict[str, Any]]:
    """The registered benchmark ``name`` and the options that go to its ``run_checkpoint``.

    Options whose value is None were not given. A benchmark that evaluates the checkpoint itself
    (``evaluates_checkpoint``) is built without options: they are checked here and returned, to be
    passed to ``run_checkpoint``; any other benchmark gets them in its constructor.

    Raises:
        ConfigError: unknown benchmark (the message lists the valid names).
        InputError: an option the benchmark does not declare, or a value outside its choices.
    """
    from medmllm.registry import BENCHMARKS

    cls, extra = BENCHMARKS.get(name)
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if cls.evaluates_checkpoint:
        return cls(**extra), cls.check_options(given)
    return cls(**extra, **given), {}


def all_options() -> dict[str, Option]:
    """Every option some registered benchmark declares, by name (what the commands' flags must match).

    Raises:
        ValueError: two benchmarks declare an option of one name with different flags or choices.
    """
    from medmllm.registry import BENCHMARKS

    out: dict[str, Option] = {}
    for name in BENCHMARKS.names():
        for opt in BENCHMARKS.get(name)[0].declared_options():
            seen = out.setdefault(opt.name, opt)
            if (seen.cli_flag, seen.choices, seen.type) != (opt.cli_flag, opt.choices, opt.type):
                raise ValueError(f"benchmark {name!r} declares option {opt.name!r} unlike another benchmark "
                                 f"({opt.cli_flag} {opt.choices} vs {seen.cli_flag} {seen.choices})")
    return out


def benchmarks_where(flag: str) -> list[str]:
    """Names of the registered benchmarks whose class attribute ``flag`` is true (``needs_references`` ...)."""
    from medmllm.registry import BENCHMARKS

    return [n for n in BENCHMARKS.names() if getattr(BENCHMARKS.get(n)[0], flag, False)]
