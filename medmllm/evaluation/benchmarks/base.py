"""The benchmark protocol: what every scorer implements and what it declares about itself.

A benchmark turns prediction rows (JSON objects, one per line of a predictions file) into metrics in
three steps, each a method a subclass may override:

1. :meth:`Benchmark.prepare` joins optional references, checks each row's fields (errors name the file
   and line) and annotates each row with its own score (``parsed``, ``correct`` ...): the *samples*.
2. :meth:`Benchmark.aggregate` turns samples into metrics. It is pure and cheap, so
   :mod:`medmllm.evaluation.compare` re-runs it on bootstrap resamples of the samples.
3. :meth:`Benchmark.headline` / :meth:`Benchmark.breakdowns` say what the Markdown table and the plots
   show.

Resampling unit: :meth:`Benchmark.unit` names the group of samples that must be resampled together
(an MME image with its two questions); a bootstrap draw stores a fresh name in ``_unit`` so that a unit
drawn twice counts twice.

Declarations: the class attributes ``max_new_tokens``, ``methods``, ``options``, ``controls``,
``needs_references`` and ``evaluates_checkpoint`` (documented on :class:`Benchmark`) say what a
benchmark needs; :func:`medmllm.evaluation.evaluate.evaluate` reads them and knows no benchmark by name.

Benchmarks that evaluate the checkpoint itself (``evaluates_checkpoint = True``, e.g. ``encoder``:
retrieval / zero-shot / probes on the encoder's features) implement
``run_checkpoint(checkpoint, data, out_dir, **kwargs)`` instead of being run by
:func:`medmllm.evaluation.benchmarks.runner.run_benchmark`. ``evaluate`` builds them without options,
checks that ``checkpoint`` and ``data`` exist and passes as keywords the run settings that were given
(not None) -- ``limit``, ``batch_size``, ``split``, ``seed``, ``device``, ``progress``, ``model`` (the
name for the results), ``controls`` (a list; empty for ``--no-controls``) -- plus the declared options
that were given. ``checkpoint`` and ``data`` are passed as given, ``out_dir`` as a
:class:`~pathlib.Path`. The method writes ``out_dir/results.json`` (and ``results.md``, plots) with
:mod:`.results` and returns the results dictionary; bad input raises ``InputError``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.options import Option, flag_of, method_option
from medmllm.evaluation.benchmarks.references import join_references


class Predictor(Protocol):
    """What a benchmark run needs from a model (:class:`medmllm.inference.Predictor` is one, for an export).

    ``generate`` gets manifest records (messages end with the user's turn) and returns one answer
    text per record. ``choice_losses`` returns, for each choice text, the mean token loss of the
    choice as the assistant's reply to the record's prompt (image + question).
    """

    def generate(self, batch: list[dict[str, Any]]) -> list[str]: ...

    def choice_losses(self, record: dict[str, Any], choices: list[str]) -> list[float]: ...


@dataclass
class Breakdown:
    """A per-item table of a result (per subtask, per dimension, per label) and optionally its plot.

    Attributes:
        title: table heading, e.g. ``"Accuracy per dimension (%)"``.
        slug: file-name part of the plot (``results.<slug>.png``).
        columns: column names after the item name.
        rows: ``(item, values)`` with one value per column.
        plot: index of the column drawn as a bar chart, or None for no plot.
        item: header of the first column.
    """

    title: str
    slug: str
    columns: list[str]
    rows: list[tuple[str, list[Any]]]
    plot: int | None = None
    item: str = "item"
    xlim: tuple[float, float] | None = None


class Benchmark:
    """Base class of the benchmark scorers (see the module docstring for the protocol).

    Subclasses set ``name`` (registry name), ``rule`` (the scoring rule in one sentence, written into
    results), ``row_fields`` (required row fields), ``key_fields`` (fields that identify a row), the
    declarations they differ in, and implement :meth:`annotate` and :meth:`aggregate`.

    Args:
        **options: values of the declared options (:meth:`declared_options`); each becomes an
            attribute of the same name, the option's default when not given or None.

    Raises:
        InputError: an option the benchmark does not declare (named by its flag), a value outside
            the option's choices.
    """

    name: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    row_fields: ClassVar[tuple[str, ...]] = ()
    key_fields: ClassVar[tuple[str, ...]] = ("id",)
    unit_fields: ClassVar[tuple[str, ...]] = ()

    max_new_tokens: ClassVar[int] = 256
    """Answer length limit of ``medmllm evaluate`` when the user gives none."""
    methods: ClassVar[tuple[str, ...]] = ()
    """Ways to make the predictions, the official one (evaluate's default) first; adds option ``method``."""
    options: ClassVar[tuple[Option, ...]] = ()
    """The options the constructor takes (``method`` comes from ``methods``)."""
    controls: ClassVar[tuple[str, ...]] = ()
    """Control runs on the same records (``shuffled_images``, ``constant_normal``; see :mod:`.runner`)."""
    needs_references: ClassVar[bool] = False
    """Scoring compares with another model's answers (``--references``); without them evaluate only answers."""
    evaluates_checkpoint: ClassVar[bool] = False
    """The benchmark runs the checkpoint itself (:meth:`run_checkpoint`) instead of scoring its answers."""

    method: str | None = None

    def __init__(self, **options: Any):
        given = self.check_options(options)
        for opt in self.declared_options():
            value = given.get(opt.name)
            setattr(self, opt.name, opt.default if value is None else value)

    @classmethod
    def declared_options(cls) -> tuple[Option, ...]:
        """``options``, preceded by ``method`` when the benchmark has ``methods``."""
        return ((method_option(cls.methods),) if cls.methods else ()) + tuple(cls.options)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The given options (None values dropped), each checked against its declaration.

        Raises:
            InputError: ``--flag does not apply to NAME`` for an undeclared option; a value outside
                the choices.
        """
        declared = {o.name: o for o in cls.declared_options()}
        out = {}
        for key, value in options.items():
            if value is None:
                continue
            if key not in declared:
                raise InputError(None, f"{flag_of(key)} does not apply to {cls.name}")
            out[key] = declared[key].check(value)
        return out

    def accepts(self, record: dict[str, Any]) -> bool:
        """Whether a manifest record belongs to this benchmark (default: ``meta.benchmark == name``)."""
        return (record.get("meta") or {}).get("benchmark") == self.name

    def row_from_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The reference fields of a prediction row, taken from a manifest record."""
        raise NotImplementedError

    def key(self, row: dict[str, Any]) -> tuple:
        """The identity of a row (duplicates are an error)."""
        return tuple(row.get(f) for f in self.key_fields)

    def unit(self, sample: dict[str, Any]) -> str:
        """The resampling unit of a sample (``_unit`` when a bootstrap draw set one)."""
        u = sample.get("_unit")
        if u is not None:
            return u
        return "\x1f".join(str(sample.get(f)) for f in (self.unit_fields or self.key_fields))

    def check_row(self, row: dict[str, Any]) -> str | None:
        """A benchmark-specific problem of a row with all required fields, or None."""
        return None

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its own score fields added (``parsed``, ``correct`` ...)."""
        raise NotImplementedError

    def aggregate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Metrics of annotated samples (pure; the bootstrap calls it on resamples)."""
        raise NotImplementedError

    def resampler(self, samples: Sequence[dict[str, Any]]) -> Callable[[Sequence[dict[str, Any]]], dict[str, Any]]:
        """The metrics function the bootstrap calls on each draw of ``samples`` (default: aggregate).

        Benchmarks whose official aggregation is expensive (report metrics) return a faster one that
        may leave metrics out; those get no interval.
        """
        return self.aggregate

    def prepare(self, raw: list[tuple[int, dict[str, Any]]], where: str,
                references: list[tuple[int, dict[str, Any]]] | None = None,
                references_where: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Check, join and annotate prediction rows.

        Args:
            raw: ``(line_number, row)`` pairs of the predictions file.
            where: the predictions file (for error messages).
            references: optional ``(line, object)`` pairs: manifest records of this benchmark or rows
                with the reference fields; prediction rows are matched to them by ``id`` or by key.
            references_where: the references file (for error messages).

        Returns:
            ``(samples, skipped)``; ``skipped`` counts references without a prediction and rows whose
            ``prediction`` is null (neither is scored).

        Raises:
            InputError: a missing or invalid field, a duplicate row, a row absent from the references.
        """
        rows, skipped = (raw, 0) if references is None else join_references(self, raw, where, references,
                                                                             references_where)
        samples: list[dict[str, Any]] = []
        seen: dict[tuple, int] = {}
        for n, row in rows:
            missing = [f for f in self.row_fields if f not in row]
            if missing:
                raise InputError(where, f"line {n}: missing field '{missing[0]}' ({self.name} rows need "
                                        f"{', '.join(self.row_fields)})")
            problem = self.check_row(row)
            if problem:
                raise InputError(where, f"line {n}: {problem}")
            k = self.key(row)
            if k in seen:
                raise InputError(where, f"line {n}: duplicate row {k!r} (first on line {seen[k]})")
            seen[k] = n
            if row.get("prediction") is None:
                skipped += 1
                continue
            samples.append(self.annotate(dict(row)))
        if not samples:
            raise InputError(where, f"no {self.name} predictions to score")
        return samples, skipped

    def score(self, rows: Sequence[dict[str, Any]], references: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Metrics of plain rows (Python API): ``aggregate(prepare(rows, references))``."""
        raw = [(i + 1, r) for i, r in enumerate(rows)]
        refs = None if references is None else [(i + 1, r) for i, r in enumerate(references)]
        samples, skipped = self.prepare(raw, "<rows>", refs, "<references>")
        return {**self.aggregate(samples), "n": len(samples), "skipped": skipped}

    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        """Columns of the one-line-per-model table in results.md."""
        raise NotImplementedError

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        """Per-item tables (and plots) of a result."""
        return []

    def predict(self, predictor: Predictor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Prediction fields (at least ``prediction``) for a batch of records (default: generation).

        The records are passed as prompts: a trailing assistant turn (the reference) is removed.
        """
        prompts = [prompt_record(r) for r in records]
        rows = getattr(predictor, "generate_rows", None)  # medmllm's Predictor: the prompt it read too
        out = rows(prompts) if rows is not None else [{"prediction": t} for t in predictor.generate(prompts)]
        if len(out) != len(records):
            raise RuntimeError(f"predictor returned {len(out)} answers for {len(records)} records")
        return out

    def constant_prediction(self, record: dict[str, Any]) -> str:
        """The answer of the constant-normal control for a record (benchmarks with controls)."""
        raise NotImplementedError(f"{self.name} has no constant control")

    def preflight(self, records: Sequence[dict[str, Any]], references: bool) -> str | None:
        """A problem that would stop this run, found before any model is loaded, or None.

        Args:
            records: the manifest records the run will predict.
            references: whether the answers will be scored against ``--references``.
        """
        return None

    def bind(self, results: Path, image_root: Path | None = None) -> None:
        """Tell the benchmark where this run's results go and where its rows' images are.

        ``evaluate`` and ``score-benchmark`` call it before scoring; a benchmark that keeps side files
        beside the results (mllm-bench's judgments) or looks at images (its judge) takes them from
        here. Default: nothing.

        Args:
            results: the results JSON about to be written.
            image_root: the folder the rows' image paths are relative to (the manifest's), if known.
        """

    def run_checkpoint(self, checkpoint: str, data: str, out_dir: Path, **kwargs: Any) -> dict[str, Any]:
        """Evaluate the checkpoint itself (``evaluates_checkpoint`` benchmarks; see the module docstring)."""
        raise NotImplementedError(f"{self.name} scores answers; it does not evaluate a checkpoint itself")


def prompt_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its trailing assistant turn(s): what the model is asked."""
    msgs = list(record.get("messages") or [])
    while msgs and msgs[-1].get("role") == "assistant":
        msgs.pop()
    return record if len(msgs) == len(record.get("messages") or []) else {**record, "messages": msgs}


def percent(num: float, den: float) -> float | None:
    """``100 * num / den``, or None when ``den`` is 0."""
    return None if den == 0 else 100.0 * num / den


def group_counts(samples: Sequence[dict[str, Any]], by: str, flag: str = "correct") -> dict[str, tuple[int, int]]:
    """``{group: (n_flag_true, n)}`` of samples grouped by field ``by``."""
    tot: Counter = Counter()
    hit: Counter = Counter()
    for s in samples:
        g = s.get(by)
        tot[g] += 1
        hit[g] += bool(s.get(flag))
    return {g: (hit[g], tot[g]) for g in tot}
