"""Benchmark options: what each benchmark declares it takes, and building a benchmark from what was given.

A benchmark lists its options as :class:`Option` objects (``Benchmark.options``; a benchmark with
several ``methods`` also takes ``method``). The declarations are the one source of truth for:

- the constructor: :class:`~medmllm.evaluation.benchmarks.base.Benchmark` sets each declared option as
  an attribute of the same name (its ``default`` when not given) and refuses any other keyword with
  one line naming its flag (``--judge does not apply to report``);
- ``medmllm evaluate`` and ``medmllm score-benchmark``: their "benchmark options" flags are checked
  against :func:`~medmllm.evaluation.benchmarks.lookup.all_options` by a test (same flag, destination
  and choices), and the values given are routed by
  :func:`~medmllm.evaluation.benchmarks.lookup.build_benchmark`;
- the reference in ``docs/benchmarks.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from medmllm.errors import InputError


def flag_of(name: str) -> str:
    """The command-line flag of an option name: ``judge_model`` -> ``--judge-model``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Option:
    """One setting a benchmark takes.

    Attributes:
        name: the keyword (``options={name: value}`` in Python, an attribute of the benchmark).
        help: what it does, in one line.
        choices: the allowed values (empty: any value).
        default: the value when it is not given.
        type: converts the command-line string (``str``, ``int``, ``float``).
        flag: the command-line flag when it is not :func:`flag_of` the name (``--images``).
    """

    name: str
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    type: Callable[[str], Any] = str
    flag: str = ""

    @property
    def cli_flag(self) -> str:
        """The flag of ``medmllm evaluate`` / ``score-benchmark`` that sets this option."""
        return self.flag or flag_of(self.name)

    def check(self, value: Any) -> Any:
        """``value`` when it is allowed (None stands for the default); a string is converted by ``type``.

        Raises:
            InputError: a string ``type`` cannot convert, a value outside ``choices``; named by the flag.
        """
        if isinstance(value, str) and self.type is not str:
            try:
                value = self.type(value)
            except ValueError:
                raise InputError(None, f"{self.cli_flag}: {value!r} is not a valid "
                                       f"{getattr(self.type, '__name__', 'value')}") from None
        if value is not None and self.choices and value not in self.choices:
            raise InputError(None, f"{self.cli_flag}: {value!r} is not one of {', '.join(self.choices)}")
        return value


def method_option(methods: tuple[str, ...]) -> Option:
    """The ``method`` option of a benchmark that makes its predictions in several ways."""
    return Option("method", f"how the answers are made: {' or '.join(methods)} (evaluate's default: {methods[0]}; "
                            "scoring's default: the rows' 'method')", choices=methods)


def option_values(bench: Any) -> dict[str, Any]:
    """The benchmark's option values that are set, as JSON values (written into results as ``options``).

    A value that is not a plain JSON value (a judge object) is written as its ``str``.
    """
    out = {}
    for opt in bench.declared_options():
        value = getattr(bench, opt.name, None)
        if value is not None:
            out[opt.name] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return out
