"""Batch inference over a manifest (``medmllm generate --data M --out PRED.jsonl``), resumable.

:func:`generate_manifest` checks everything before the model loads (the manifest, the output file,
the records' image paths), then appends one row ``{"id", "prediction", "reference", "prompt"}`` per record
(``prompt``: the user turn the model read, findings hint included)
through :class:`~medmllm.inference.predictions.PredictionsFile` (locked, resumable; records whose
id is already there are skipped). ``PRED.jsonl.run.json`` records what made the rows (the export's
fingerprint and the generation settings); resuming with another export or other settings is
refused, and so is an existing file that holds ids of another manifest.

A record whose images cannot be read is skipped and reported (:attr:`BatchResult.problems`); the
others are generated. The caller decides what the problems mean (``generate`` ends with one
``error:`` line and exit status 2 when there are any).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medmllm.errors import InputError
from medmllm.inference.inputs import image_problems, list_ids, prompt_text, read_records, select
from medmllm.inference.predictions import PredictionsFile, check_run
from medmllm.inference.progress import progress as progress_bar
from medmllm.inference.settings import check_generation

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one :func:`generate_manifest` call did."""

    out: Path
    records: int
    already: int
    new: int
    problems: dict[str, str] = field(default_factory=dict)


def run_file(out: str | os.PathLike) -> Path:
    """The record of the run beside a predictions file: ``PRED.jsonl.run.json``."""
    p = Path(out)
    return p.with_name(p.name + ".run.json")


def generate_manifest(predictor: Any | Callable[[], Any], manifest: str | os.PathLike, out: str | os.PathLike, *,
                      split: str | None = None, limit: int | None = None, batch_size: int = 8,
                      progress: bool = True, identity: dict[str, Any] | None = None, **gen: Any) -> BatchResult:
    """Append ``{"id", "prediction", "reference"}`` rows to ``out`` for the manifest's records.

    Args:
        predictor: a :class:`~medmllm.inference.Predictor`, or a function that loads one (called
            only once the inputs are checked and there is something to generate).
        manifest: the JSONL manifest (prompt-only records welcome).
        out: the predictions file (created, or resumed when it holds rows of the same run).
        split, limit: only records of this split; the first ``limit`` of them.
        batch_size: records per generation batch.
        progress: show a progress bar.
        identity: what makes this run (``{"export": ..., "generation": ...}``), checked against and
            written to ``PRED.jsonl.run.json``.
        **gen: generation settings.

    Raises:
        InputError: a bad manifest, output file, setting or export (before the model loads).
    """
    if batch_size < 1:
        raise InputError("--batch-size", f"must be at least 1, got {batch_size}")
    gen = check_generation(gen)
    out = Path(out)
    pf = PredictionsFile(out, require=("prediction",), manifest=manifest)
    pf.check()
    everything = read_records(manifest)
    records = select(everything, manifest, split, limit)
    from medmllm.data.schema import image_root

    root = image_root(manifest)
    problems = image_problems(records, root)
    with pf:
        foreign = sorted(pf.done - {str(r["id"]) for r in everything})
        if foreign:
            raise InputError(out, f"holds {len(foreign)} id(s) that are not records of {manifest} "
                                  f"({list_ids(foreign, 3)}): predictions of other data; use another --out")
        if identity is not None:
            check_run(run_file(out), identity, what=out, write=False)
        todo = [r for r in records if str(r["id"]) not in pf.done and str(r["id"]) not in problems]
        if todo:
            model = predictor() if callable(predictor) and not hasattr(predictor, "generate_prepared") else predictor
            if identity is not None:
                check_run(run_file(out), identity, what=out)
            _generate(model, todo, root, pf, batch_size, progress, problems, gen)
    for rid, problem in problems.items():
        log.error("%s: record %s: %s", manifest, rid, problem)
    already = sum(1 for r in records if str(r["id"]) in pf.done)
    return BatchResult(out, len(records), already, pf.written, problems)


def _generate(model: Any, todo: list[dict[str, Any]], root: Path, pf: PredictionsFile, batch_size: int,
              progress: bool, problems: dict[str, str], gen: dict[str, Any]) -> None:
    with progress_bar(progress, len(todo), "generate") as advance:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            prepared = []
            for i, r in enumerate(chunk):
                try:
                    prepared.append(model.prepare(r, root, start + i))
                except InputError as e:  # an unreadable image: this record is reported, the others go on
                    problems[str(r["id"])] = str(e)
            if prepared:
                texts = model.generate_prepared(prepared, **gen)
                pf.append({"id": p["id"], "prediction": t, "reference": p["reference"], "prompt": prompt_text(p)}
                          for p, t in zip(prepared, texts))
            advance(len(chunk))
