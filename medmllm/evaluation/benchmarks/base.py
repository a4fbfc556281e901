"""The benchmark protocol shared by every scorer, and the letter extraction of multiple-choice answers.

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

Benchmarks that evaluate a checkpoint directly (hook of ``medmllm evaluate``): most benchmarks score
predictions, and ``medmllm evaluate`` makes those with the generic runner
(:func:`medmllm.evaluation.benchmarks.runner.run_benchmark`). A benchmark that needs the model itself
rather than its answers (the ``encoder`` benchmark: retrieval / zero-shot / probes on the encoder's
features) defines ``run_checkpoint(checkpoint, data, out_dir, **options)`` on its registered object
(see :class:`CheckpointBenchmark`); :func:`medmllm.evaluation.evaluate.evaluate` then builds the object
with the options it takes, checks that ``checkpoint`` and ``data`` exist, and calls it instead of the
runner. ``options`` are the run settings that were given (not None): ``limit``, ``batch_size``,
``split``, ``seed``, ``device``, ``progress``, ``model`` (the name for the results), ``controls`` (a
list; empty for ``--no-controls``), plus the benchmark options (``lang`` ...) that the constructor does
not take. Only those the method's signature names are passed (all of them when it takes
``**options``); a benchmark option it cannot take is refused. ``checkpoint`` and ``data`` are passed as
given, ``out_dir`` as a :class:`~pathlib.Path`. The method writes ``out_dir/results.json`` (and
``results.md``, plots) with :mod:`.results` and returns the results dictionary; bad input raises
``InputError``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, Sequence

from medmllm.errors import InputError

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_BARE = re.compile(r"\(?([A-Z])\)?\.?")
_LEADING = re.compile(r"(?:([A-Z])\.|\(([A-Z])\))\s")
_ANSWER_IS = re.compile(r"(?i:the answer is)\s*:?\s*\(?([A-Z])\)?(?![A-Za-z0-9])")


def extract_letter(text: Any, n_choices: int | None = None) -> str | None:
    """The option letter a free-text answer gives, or None when it gives none unambiguously.

    Accepted forms (after stripping surrounding whitespace): a bare letter ``B``; ``B.``; ``(B)``;
    a letter followed by its option text (``B. Paris``, ``(B) Paris``); and ``The answer is B.``
    anywhere in the text (``the answer is (B)`` too; if it names two different letters the answer
    is ambiguous). Letters are upper case only, as in the official ScienceQA/LLaVA scripts; a
    letter past the number of choices is not an answer.

    Args:
        text: the model's answer.
        n_choices: number of options (letters ``A`` .. ``A + n - 1`` are valid), or None for any.
    """
    if not isinstance(text, str):
        return None
    t = text.strip()
    valid = LETTERS[:n_choices] if n_choices else LETTERS
    letter: str | None = None
    m = _BARE.fullmatch(t)
    if m:
        letter = m.group(1)
    else:
        m = _LEADING.match(t)
        if m:
            letter = m.group(1) or m.group(2)
        else:
            found = set(_ANSWER_IS.findall(t))
            if len(found) == 1:
                letter = found.pop()
    return letter if letter is not None and letter in valid else None


class Predictor(Protocol):
    """What a benchmark run needs from a model (``medmllm.evaluation.predictor.CheckpointPredictor`` wraps an export).

    ``generate`` gets manifest records (messages end with the user's turn) and returns one answer
    text per record. ``choice_losses`` returns, for each choice text, the mean token loss of the
    choice as the assistant's reply to the record's prompt (image + question).
    """

    def generate(self, batch: list[dict[str, Any]]) -> list[str]: ...

    def choice_losses(self, record: dict[str, Any], choices: list[str]) -> list[float]: ...


class CheckpointBenchmark(Protocol):
    """A benchmark that evaluates an export folder itself (see the module docstring).

    ``medmllm evaluate --benchmark NAME`` calls ``run_checkpoint`` instead of generating predictions
    when the registered object has it.
    """

    def run_checkpoint(self, checkpoint: str, data: str, out_dir: Any, **options: Any) -> dict[str, Any]: ...


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
    extra: dict[str, Any] = field(default_factory=dict)


class Benchmark:
    """Base class of the benchmark scorers (see the module docstring for the protocol).

    Subclasses set ``name`` (registry name), ``rule`` (the scoring rule in one sentence, written into
    results), ``row_fields`` (required row fields), ``key_fields`` (fields that identify a row) and
    implement :meth:`annotate` and :meth:`aggregate`.
    """

    name: ClassVar[str] = ""
    rule: ClassVar[str] = ""
    row_fields: ClassVar[tuple[str, ...]] = ()
    key_fields: ClassVar[tuple[str, ...]] = ("id",)
    unit_fields: ClassVar[tuple[str, ...]] = ()
    controls: ClassVar[tuple[str, ...]] = ()
    scale: ClassVar[str] = "percent"

    # ----------------------------------------------------------------- rows
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

    def _template_index(self, references: list[tuple[int, dict[str, Any]]]) -> tuple[dict, dict]:
        by_id: dict[Any, dict[str, Any]] = {}
        by_key: dict[tuple, dict[str, Any]] = {}
        for _, ref in references:
            if "messages" in ref:  # a manifest record
                if not self.accepts(ref):
                    continue
                tmpl = {"id": ref.get("id"), **self.row_from_record(ref)}
            else:
                tmpl = dict(ref)
            if tmpl.get("id") is not None:
                by_id[tmpl["id"]] = tmpl
            k = self.key(tmpl)
            if all(v is not None for v in k):
                by_key[k] = tmpl
        return by_id, by_key

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
        skipped = 0
        rows = raw
        if references is not None:
            by_id, by_key = self._template_index(references)
            if not by_id and not by_key:
                raise InputError(references_where, f"no {self.name} references found")
            used: set[int] = set()
            rows = []
            for n, row in raw:
                tmpl = by_id.get(row["id"]) if row.get("id") is not None else None
                if tmpl is None:
                    tmpl = by_key.get(self.key(row))
                if tmpl is None:
                    ident = row.get("id", self.key(row))
                    raise InputError(where, f"line {n}: {ident!r} is not in the references")
                if "answer" in row and "answer" in tmpl and row["answer"] != tmpl["answer"]:
                    raise InputError(where, f"line {n}: answer {row['answer']!r} differs from the "
                                            f"references' {tmpl['answer']!r}")
                used.add(id(tmpl))
                rows.append((n, {**tmpl, **row}))
            skipped += len({id(t) for t in list(by_id.values()) + list(by_key.values())} - used)
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

    # --------------------------------------------------------- presentation
    def headline(self, results: dict[str, Any]) -> dict[str, Any]:
        """Columns of the one-line-per-model table in results.md."""
        raise NotImplementedError

    def breakdowns(self, results: dict[str, Any]) -> list[Breakdown]:
        """Per-item tables (and plots) of a result."""
        return []

    # -------------------------------------------------------------- running
    def predict(self, predictor: Predictor, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Prediction fields (at least ``prediction``) for a batch of records (default: generation).

        The records are passed as prompts: a trailing assistant turn (the reference) is removed.
        """
        texts = predictor.generate([prompt_record(r) for r in records])
        if len(texts) != len(records):
            raise RuntimeError(f"predictor returned {len(texts)} answers for {len(records)} records")
        return [{"prediction": t} for t in texts]

    def constant_prediction(self, record: dict[str, Any]) -> str:
        """The answer of the constant-normal control for a record (benchmarks with controls)."""
        raise NotImplementedError(f"{self.name} has no constant control")


def prompt_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its trailing assistant turn(s): what the model is asked."""
    msgs = list(record.get("messages") or [])
    while msgs and msgs[-1].get("role") == "assistant":
        msgs.pop()
    return record if len(msgs) == len(record.get("messages") or []) else {**record, "messages": msgs}


def count_true(samples: Sequence[dict[str, Any]], key: str) -> int:
    """How many samples have a truthy ``key``."""
    return sum(1 for s in samples if s.get(key))


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
