"""Run a predictor over manifest records and score the predictions (what ``medmllm evaluate`` calls).

The runner needs only a :class:`~medmllm.evaluation.benchmarks.base.Predictor`: an object with
``generate(records) -> list[str]`` and ``choice_losses(record, choices) -> list[float]``. Predictions
are appended to ``predictions.jsonl`` batch by batch (flushed and synced), so a run that stops can be
restarted: ids already in the file are not predicted again, and a truncated last line (the process
died mid-write) is cut off first.

Controls (benchmarks that declare them, e.g. ``report`` and ``clinical``) are predicted into
``controls/<name>.jsonl`` on the same records:

- ``shuffled_images``: each record gets the images of another record with the same image layout
  (same modalities in the same order), preferring a different patient; everything else (prompt,
  clinical context, reference) stays. A model that uses its images should do worse.
- ``constant_normal``: no model; every answer is the benchmark's constant normal answer.
"""

from __future__ import annotations

import logging
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Predictor
from medmllm.inference.predictions import PredictionsFile
from medmllm.inference.progress import progress as progress_bar

log = logging.getLogger(__name__)

CONTROLS = ("shuffled_images", "constant_normal")


@dataclass
class RunStats:
    """What one call of :func:`run_predictions` did."""

    path: Path
    total: int
    already_done: int
    predicted: int
    truncated_line_removed: bool = False


def load_done(path: str | os.PathLike) -> tuple[set[str], bool]:
    """Ids already in a predictions file, cutting off a torn last line (:mod:`medmllm.inference.predictions`).

    Returns:
        ``(ids, truncated)``; ``truncated`` is True when a partial last line was removed.

    Raises:
        InputError: a complete line that is not a JSON object with an ``id``, or a file in use.
    """
    if not Path(path).exists():
        return set(), False
    with PredictionsFile(path) as pf:
        return pf.done, pf.truncated


def shuffle_images(records: Sequence[dict[str, Any]], seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Records whose images come from other records (the ``shuffled_images`` control).

    Records are grouped by image layout; inside a group, patients are put in a random order (seeded)
    and record ``k`` takes the images of record ``k + m`` (cyclically), ``m`` the largest number of
    records of one patient: no record keeps its own patient's images when the group has at least
    ``2 m`` records.

    Returns:
        ``(records, stats)``; stats count ``same_patient`` (records that still show their own
        patient's images, e.g. a group of one) over ``n``.
    """
    rng = random.Random(seed)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[tuple(im.get("modality") for im in r.get("images") or [])].append(i)
    out = [dict(r) for r in records]
    same = 0
    for layout, idx in groups.items():
        if not layout:
            continue
        by_patient: dict[Any, list[int]] = defaultdict(list)
        for i in idx:
            by_patient[records[i].get("patient_id") or records[i].get("id")].append(i)
        patients = list(by_patient)
        rng.shuffle(patients)
        order = [i for p in patients for i in rng.sample(by_patient[p], len(by_patient[p]))]
        m = max(len(v) for v in by_patient.values())
        n = len(order)
        shift = m if n >= 2 * m else max(1, n // 2)
        for k, i in enumerate(order):
            donor = order[(k + shift) % n]
            out[i]["images"] = records[donor].get("images")
            meta = dict(records[i].get("meta") or {})
            meta["images_from"] = records[donor].get("id")
            out[i]["meta"] = meta
            pa, pb = records[i].get("patient_id"), records[donor].get("patient_id")
            same += donor == i or (pa is not None and pa == pb)
    return out, {"n": len(records), "same_patient": same}


def run_predictions(benchmark: Benchmark, records: Sequence[dict[str, Any]], predictor: Predictor | None,
                    out_path: str | os.PathLike, *, batch_size: int = 8, control: str | None = None, seed: int = 0,
                    progress: bool = False) -> RunStats:
    """Predict every record not yet in ``out_path`` and append the rows.

    Args:
        benchmark: gives the reference fields of each row and how to predict (generation/likelihood).
        records: manifest records of the benchmark (unique ``id``).
        predictor: the model; may be None for the ``constant_normal`` control.
        out_path: the predictions JSONL (created or resumed).
        batch_size: records per ``predict`` call.
        control: None, ``shuffled_images`` or ``constant_normal``.
        seed: seed of the image shuffle.
        progress: show a progress bar.
    """
    if control not in (None, *CONTROLS):
        raise InputError(None, f"unknown control {control!r}; valid: {', '.join(CONTROLS)}")
    if batch_size < 1:
        raise InputError(None, f"batch size must be at least 1, got {batch_size}")
    seen: set[str] = set()
    for r in records:
        if r.get("id") in seen:
            raise InputError(None, f"record id {r.get('id')!r} appears twice")
        seen.add(r.get("id"))
    out = Path(out_path)
    with PredictionsFile(out) as pf:
        inputs = list(records)
        if control == "shuffled_images":
            inputs, stats = shuffle_images(records, seed)
            if stats["same_patient"]:
                log.warning("shuffled_images: %d of %d records still show their own patient's images",
                            stats["same_patient"], stats["n"])
        todo = [(orig, inp) for orig, inp in zip(records, inputs) if orig["id"] not in pf.done]
        if predictor is None and control != "constant_normal" and todo:
            raise InputError(None, "a predictor is needed to generate predictions")
        label = f"{benchmark.name}{'/' + control if control else ''}"
        with progress_bar(progress, len(todo), label) as advance:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                if control == "constant_normal":
                    preds = [{"prediction": benchmark.constant_prediction(orig)} for orig, _ in chunk]
                else:
                    preds = benchmark.predict(predictor, [inp for _, inp in chunk])  # type: ignore[arg-type]
                rows = []
                for (orig, _), pred in zip(chunk, preds):
                    row = {"id": orig["id"], **benchmark.row_from_record(orig), **pred}
                    if control:
                        row["control"] = control
                    rows.append(row)
                pf.append(rows)
                advance(len(chunk))
    log.info("%s: %d predicted, %d already done", out, len(todo), len(records) - len(todo))
    return RunStats(out, len(records), len(records) - len(todo), len(todo), pf.truncated)


def progress_advancer(enabled: bool, total: int, label: str):
    """A progress bar as a callback: ``advance(n)`` moves it, ``advance(None)`` closes it
    (:func:`medmllm.inference.progress.progress` as a callback, for loops that cannot use a ``with``)."""
    cm = progress_bar(enabled, total, label)
    step = cm.__enter__()

    def advance(n: int | None) -> None:
        if n is None:
            cm.__exit__(None, None, None)
        else:
            step(n)

    return advance


def select_records(benchmark: Benchmark, records: Sequence[dict[str, Any]], limit: int | None = None,
                   split: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The records this benchmark scores (of ``split`` when given; first ``limit``) and how many it skips.

    A record is the benchmark's when ``meta.benchmark`` names it or :meth:`Benchmark.accepts` takes it;
    it is skipped when it is the benchmark's but not accepted (e.g. SEED-Bench video items).
    """
    if split is not None:
        records = [r for r in records if r.get("split") == split]
    ours = [r for r in records if (r.get("meta") or {}).get("benchmark") == benchmark.name or benchmark.accepts(r)]
    chosen = [r for r in ours if benchmark.accepts(r)]
    skipped = len(ours) - len(chosen)
    if limit is not None:
        chosen = chosen[:limit]
    return chosen, skipped


def run_benchmark(benchmark: Benchmark, records: Sequence[dict[str, Any]], predictor: Predictor | None,
                  out_dir: str | os.PathLike, *, model: str | None, data: str | None = None, batch_size: int = 8,
                  limit: int | None = None, split: str | None = None, seed: int = 0,
                  controls: Sequence[str] | None = None,
                  config: Any = None, progress: bool = False) -> dict[str, Any]:
    """Predict (resuming), run the benchmark's controls, score, and write the results files.

    Writes ``out_dir/predictions.jsonl``, ``out_dir/controls/<name>.jsonl``, ``out_dir/results.json``,
    ``results.md``, ``results.samples.jsonl`` and plots.

    Args:
        benchmark: the scorer.
        records: manifest records (other benchmarks' records are ignored).
        predictor: the model (see :class:`~medmllm.evaluation.benchmarks.base.Predictor`).
        out_dir: output folder.
        model: the model's name or checkpoint, for the results.
        data: the manifest, for the results (and its hash in provenance).
        batch_size, limit, split, seed: run settings (recorded in results under ``run``); ``split``
            keeps only records of that split (None: all).
        controls: which controls to run; default: all the benchmark declares.
        config: the model/run config, hashed into provenance.
        progress: show progress bars.

    Returns:
        The results dictionary.
    """
    from medmllm.evaluation.benchmarks.jsonl import read_jsonl
    from medmllm.evaluation.benchmarks.results import build_results, write_results

    chosen, skipped = select_records(benchmark, records, limit, split)
    if not chosen:
        raise InputError(data, f"no {benchmark.name} records in the data")
    out = Path(out_dir)
    controls = benchmark.controls if controls is None else tuple(controls)
    wanted = {r["id"] for r in chosen}

    def score(path: Path) -> tuple[list[dict[str, Any]], int]:
        raw = [(n, r) for n, r in read_jsonl(path) if r.get("id") in wanted]
        return benchmark.prepare(raw, str(path))

    pred_path = out / "predictions.jsonl"
    run_predictions(benchmark, chosen, predictor, pred_path, batch_size=batch_size, progress=progress)
    samples, null_preds = score(pred_path)
    metrics = benchmark.aggregate(samples)
    ctrl_results: dict[str, Any] = {}
    files: dict[str, Any] = {"predictions": pred_path.name}
    for c in controls:
        cpath = out / "controls" / f"{c}.jsonl"
        run_predictions(benchmark, chosen, predictor, cpath, batch_size=batch_size, control=c, seed=seed,
                        progress=progress)
        csamples, _ = score(cpath)
        ctrl_results[c] = benchmark.aggregate(csamples)
        files[f"control_{c}"] = f"controls/{c}.jsonl"
    extra: dict[str, Any] = {"files": files, "run": {"batch_size": batch_size, "limit": limit, "split": split,
                                                     "seed": seed}}
    if controls:
        extra["controls"] = ctrl_results
    results = build_results(benchmark, {**metrics, "n": len(samples), "skipped": skipped + null_preds}, model=model,
                            data=data, seed=seed, config=config, data_files=[data] if data else [], extra=extra)
    write_results(out / "results.json", benchmark, results, samples)
    return results


def run_manifest(name: str, manifest: str | os.PathLike, predictor: Predictor | None, out_dir: str | os.PathLike, *,
                 model: str | None, options: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """:func:`run_benchmark` for a registered benchmark over a manifest file (what ``medmllm evaluate`` does).

    Args:
        name: benchmark name (``mme``, ``seed-bench``, ``report`` ...).
        manifest: the manifest (JSONL records; validated).
        predictor: the model.
        out_dir: output folder.
        model: the model's name or checkpoint.
        options: benchmark options (``method`` for seed-bench, ``protocol``/``lang`` for report ...).
        **kwargs: passed to :func:`run_benchmark` (``batch_size``, ``limit``, ``split``, ``seed`` ...).
    """
    from medmllm.data.schema import read_manifest
    from medmllm.evaluation.benchmarks.lookup import build_benchmark

    benchmark, _ = build_benchmark(name, options)
    records = read_manifest(manifest)
    return run_benchmark(benchmark, records, predictor, out_dir, model=model, data=str(manifest), **kwargs)
