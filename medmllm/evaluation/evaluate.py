"""Run a registered benchmark on an export folder: what ``medmllm evaluate`` does.

:func:`evaluate` checks everything cheap first (benchmark name, options, manifest, export folder,
that the manifest holds the benchmark's records, that ``out_dir`` belongs to the same run), then
checks the export and the records' image paths (:mod:`medmllm.inference`), then loads the
export (:class:`medmllm.inference.Predictor`) and hands it to :func:`medmllm.evaluation.benchmarks.runner.run_benchmark`, which appends
``predictions.jsonl`` batch by batch (a rerun resumes where it stopped), runs the benchmark's
controls and writes ``results.json``, ``results.md``, ``results.samples.jsonl`` and the plots.

``out_dir/run.json`` records what made the predictions (benchmark, method, export, generation
settings, seed). A rerun into the same folder must match it: predictions of two models or two
methods are never mixed in one file.

:func:`evaluate` knows no benchmark by name: what differs between benchmarks is what each declares
(:mod:`medmllm.evaluation.benchmarks.base`): its answer length, methods, options, controls, whether
scoring needs another model's answers (``--references``) and whether it evaluates the export itself
(``run_checkpoint``, e.g. ``encoder``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from medmllm.errors import InputError
from medmllm.inference.predictions import check_run, export_identity, locked_folder, read_done

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


def describe_records(records: Sequence[dict[str, Any]]) -> str:
    """What a manifest holds, e.g. ``"mme 6, report 12"`` (benchmark name, else task)."""
    c = Counter((r.get("meta") or {}).get("benchmark") or r.get("task") or "?" for r in records)
    return ", ".join(f"{k} {v}" for k, v in c.most_common(6)) or "nothing"


def check_run_identity(out_dir: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume into ``out_dir`` when its predictions came from another run; else record this run."""
    check_run(Path(out_dir) / RUN_FILE, identity, what=out_dir)


def default_model_name(checkpoint: str | os.PathLike) -> str:
    """The model's name in results: the export folder's name (``quickstart/export`` for ``runs/quickstart/export``)."""
    p = Path(os.path.abspath(checkpoint))
    return f"{p.parent.name}/{p.name}" if p.name == "export" and p.parent.name else p.name


def evaluate(checkpoint: str | os.PathLike, benchmark: str, data: str | os.PathLike, out_dir: str | os.PathLike, *,
             options: dict[str, Any] | None = None, limit: int | None = None, batch_size: int = 8,
             split: str | None = None, seed: int = 0, controls: Sequence[str] | None = None,
             generation: dict[str, Any] | None = None, device: str | None = None, dtype: str | None = None,
             references: str | os.PathLike | None = None, model_name: str | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Run benchmark ``benchmark`` with the export ``checkpoint`` on the manifest ``data``; write ``out_dir``.

    Args:
        checkpoint: export folder (``medmllm train`` output or ``MedMLLM.save_pretrained``).
        benchmark: registered name (``medmllm info`` lists them).
        data: manifest (``medmllm prepare`` / ``medmllm synth`` output).
        out_dir: output folder; a rerun resumes the predictions already in it.
        options: benchmark options, as the benchmark declares them (``method`` for seed-bench;
            ``lang``/``protocol``/``uncertain`` for report and clinical; ``judge``/``judge_model`` for
            mllm-bench); None values count as not given.
        limit, batch_size, split, seed: records to use (first ``limit`` of ``split``), records per
            generation batch, seed of the shuffled-images control.
        controls: controls to run (None: all the benchmark declares; ``()``: none).
        generation: generation settings (default ``max_new_tokens``: the benchmark's declaration;
            greedy).
        device, dtype: where and in which dtype to run the model.
        references: benchmarks that score against another model's answers (``needs_references``):
            those answers (without them the answers are generated and not scored).
        model_name: the model's name in the results (default: :func:`default_model_name`).
        progress: show progress bars.

    Returns:
        The results dictionary written to ``out_dir/results.json`` plus ``resumed`` (predictions already
        in ``out_dir``) and ``predicted`` (made now); without the references a ``needs_references``
        benchmark needs, ``{"benchmark", "scored": False, "predictions", "n", "resumed", "predicted"}``.

    Raises:
        InputError: unknown benchmark, inapplicable option, missing/invalid manifest or export, a
            manifest without the benchmark's records, an ``out_dir`` of another run.
    """
    from medmllm.data.schema import image_root
    from medmllm.evaluation.benchmarks.lookup import build_benchmark
    from medmllm.inference import Predictor
    from medmllm.inference.export import check_export
    from medmllm.inference.settings import check_generation

    if batch_size < 1:
        raise InputError(None, f"batch size must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise InputError(None, f"limit must be at least 1, got {limit}")
    generation = check_generation(generation)
    bench, hook_options = build_benchmark(benchmark, options)
    out = Path(out_dir)
    if bench.evaluates_checkpoint:
        run = dict(limit=limit, batch_size=batch_size, split=split, seed=seed, device=device, progress=progress,
                   model=model_name, controls=None if controls is None else list(controls))
        return _run_checkpoint(bench, checkpoint, data, out, {**run, **hook_options})
    _check_references(bench, references)
    records, chosen = _records(bench, data, limit, split, references is not None)
    gen = {"max_new_tokens": bench.max_new_tokens, **(generation or {})}
    ident = export_identity(checkpoint)
    check_export(checkpoint, device=device, dtype=dtype)
    identity = {"benchmark": benchmark, "export": ident["hash"], "generation": gen, "seed": seed}
    if bench.methods:  # the method changes the predictions themselves
        bench.method = identity["method"] = bench.method or bench.methods[0]
    root = image_root(data)
    _check_images(chosen, root, data)
    with locked_folder(out):
        check_run_identity(out, identity)
        pred_path = out / "predictions.jsonl"
        done = read_done(pred_path) if pred_path.is_file() else set()
        counts = {"resumed": len(done & {r["id"] for r in chosen})}
        counts["predicted"] = len(chosen) - counts["resumed"]
        predictor = Predictor.load(checkpoint, image_root=root, device=device, dtype=dtype, **gen)
        return _run(bench, benchmark, records, chosen, predictor, out, pred_path, counts, data=data, root=root,
                    name=model_name or default_model_name(checkpoint), references=references, batch_size=batch_size,
                    limit=limit, split=split, seed=seed, controls=controls, progress=progress,
                    config={"export": ident, "generation": gen, "options": dict(options or {})})


def _check_images(chosen: Sequence[dict[str, Any]], root: Path, data: str | os.PathLike) -> None:
    """Refuse records whose image paths cannot be read, before the model loads (a score needs them all)."""
    from medmllm.inference.inputs import image_problems

    problems = image_problems(chosen, root)
    if problems:
        rid, problem = next(iter(problems.items()))
        raise InputError(data, f"{len(problems)} record(s) with images that cannot be read (record {rid}: "
                               f"{problem})")


def _run(bench: Any, benchmark: str, records: list[dict[str, Any]], chosen: list[dict[str, Any]], predictor: Any,
         out: Path, pred_path: Path, counts: dict[str, int], *, data: str | os.PathLike, root: Path, name: str,
         references: str | os.PathLike | None, batch_size: int, limit: int | None, split: str | None, seed: int,
         controls: Sequence[str] | None, progress: bool, config: dict[str, Any]) -> dict[str, Any]:
    """Predict and score (the export and the inputs are checked, ``out`` is locked)."""
    from medmllm.evaluation.benchmarks.runner import run_benchmark, run_predictions

    bench.bind(out / "results.json", root)
    if not bench.needs_references:
        results = run_benchmark(bench, records, predictor, out, model=name, data=str(data), batch_size=batch_size,
                                limit=limit, split=split, seed=seed, controls=controls, config=config,
                                progress=progress)
        return {**results, **counts}
    run_predictions(bench, chosen, predictor, pred_path, batch_size=batch_size, progress=progress)
    if references is None:
        log.info("%s answers written to %s; score them with --references", benchmark, pred_path)
        return {"benchmark": benchmark, "scored": False, "predictions": str(pred_path), "n": len(chosen), **counts}
    from medmllm.evaluation.benchmarks.results import score_file

    return {**score_file(bench, pred_path, out / "results.json", references=references, model=name), **counts}


def _run_checkpoint(bench: Any, checkpoint: str | os.PathLike, data: str | os.PathLike, out: Path,
                    kwargs: dict[str, Any]) -> dict[str, Any]:
    """Call the ``run_checkpoint`` of a benchmark that evaluates the export itself (None values dropped)."""
    for p, what in ((checkpoint, "checkpoint"), (data, "data")):
        if not Path(p).exists():
            raise InputError(p, f"{what} not found")
    log.info("%s evaluates the checkpoint itself (run_checkpoint)", bench.name)
    return bench.run_checkpoint(checkpoint, data, out, **{k: v for k, v in kwargs.items() if v is not None})


def _check_references(bench: Any, references: str | os.PathLike | None) -> None:
    from medmllm.evaluation.benchmarks.lookup import benchmarks_where

    if references is None:
        return
    if not bench.needs_references:
        raise InputError(None, f"--references applies to {', '.join(benchmarks_where('needs_references'))} only")
    if not Path(references).is_file():
        raise InputError(references, "references file not found")


def _records(bench: Any, data: str | os.PathLike, limit: int | None, split: str | None,
             references: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The manifest's records and the ones the benchmark will run; a manifest without them is an error."""
    from medmllm.data.schema import read_manifest
    from medmllm.evaluation.benchmarks.runner import select_records

    records = read_manifest(data, needs_target=False)
    chosen, _ = select_records(bench, records, limit, split)
    if not chosen:
        from medmllm.data.schema import has_target
        from medmllm.data.text import report_text

        where = f" of split '{split}'" if split else ""
        bare = sum(1 for r in records if not has_target(r) and report_text(r) is None)
        hint = (f"; {bare} record(s) have no reference to score against: `medmllm generate --data` writes their "
                "reports") if bare else ""
        raise InputError(data, f"no {bench.name} records{where} in this manifest (it holds: "
                               f"{describe_records(records)}){hint}")
    problem = bench.preflight(chosen, references)
    if problem:
        raise InputError(None, problem)
    return records, chosen
