"""Results files of a benchmark: ``OUT.json``, ``OUT.md``, ``OUT.samples.jsonl`` and PNG plots.

``OUT.json`` holds the metric keys at top level beside ``benchmark``, ``rule``, ``model``, ``data``,
``n``, ``skipped``, ``versions`` and ``provenance``; ``files`` names the per-sample file (what
``medmllm compare`` resamples), the predictions and the plots, relative to the JSON's folder.
``OUT.md`` is a Markdown table with one line per model (and per control) that can be pasted into a
paper, followed by the per-item tables. Every file is written to a temporary file first
(:func:`medmllm.files.atomic_writer`); they are renamed into place together, after the last one is
written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.base import Benchmark, Breakdown
from medmllm.evaluation.benchmarks.jsonl import dumps_rows
from medmllm.files import atomic_writer

log = logging.getLogger(__name__)

CONTROL_NAMES = {"shuffled_images": "images shuffled across samples", "constant_normal": "constant normal report"}
COMMON = ("benchmark", "rule", "model", "data", "n", "skipped")


def build_results(benchmark: Benchmark, metrics: dict[str, Any], *, model: str | None, data: str | None,
                  skipped: int = 0, seed: int | None = None, config: Any = None,
                  data_files: Iterable[str | os.PathLike] = (), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results dictionary: common fields, the metrics, the benchmark's ``options``, versions, provenance.

    Args:
        benchmark: the scorer (gives ``name`` and ``rule``).
        metrics: output of :meth:`Benchmark.aggregate` (``n`` and ``skipped`` may be in it).
        model: the model's name or checkpoint.
        data: the data the predictions are for (manifest or predictions file).
        skipped: rows not scored (see :meth:`Benchmark.prepare`).
        seed, config, data_files: recorded in ``provenance``.
        extra: more top-level keys (``controls``, ``files`` ...).
    """
    from medmllm.evaluation.benchmarks.options import option_values
    from medmllm.provenance import provenance, versions

    metrics = dict(metrics)
    n = metrics.pop("n", None)
    skipped = metrics.pop("skipped", skipped)
    out: dict[str, Any] = {"benchmark": benchmark.name, "rule": benchmark.rule, "model": model, "data": data,
                           "n": n, "skipped": skipped}
    out.update(metrics)
    out["options"] = option_values(benchmark)
    out.update(extra or {})
    out["versions"] = versions()
    out["provenance"] = provenance(config, data_files, seed)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v).replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_fmt(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(benchmark: Benchmark, results: dict[str, Any]) -> str:
    """``results.md``: the paper table (model and controls), then one table per breakdown."""
    model = results.get("model") or "model"
    head = benchmark.headline(results)
    rows = [[model, *head.values()]]
    for name, ctrl in (results.get("controls") or {}).items():
        ch = benchmark.headline({**results, **ctrl})
        rows.append([f"{model} ({CONTROL_NAMES.get(name, name)})", *[ch.get(k) for k in head]])
    lines = [f"## {benchmark.name}: {model}", "", f"Rule: {results['rule']}", "",
             f"Data: {results.get('data')}; n = {results.get('n')}, skipped = {results.get('skipped')}", ""]
    lines += _table(["Model", *head], rows)
    for b in benchmark.breakdowns(results):
        lines += ["", f"### {b.title}", ""] + _table([b.item, *b.columns], [[k, *v] for k, v in b.rows])
    return "\n".join(lines) + "\n"


def _plot(b: Breakdown, model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert b.plot is not None
    names = [k for k, _ in b.rows]
    values = [v[b.plot] if v[b.plot] is not None else 0.0 for _, v in b.rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.3))
    y = list(range(len(names)))[::-1]
    ax.barh(y, values, color="#4C72B0")
    ax.set_yticks(y, names)
    ax.set_xlabel(b.columns[b.plot])
    if b.xlim:
        ax.set_xlim(*b.xlim)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.1f}", va="center", fontsize=8)
    ax.set_title(f"{b.title}\n{model}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def beside(json_path: str | os.PathLike, suffix: str) -> Path:
    """A file that goes with a results JSON: ``OUT.json`` -> ``OUT<suffix>`` (``OUT.md``, ``OUT.judgments.jsonl``)."""
    p = Path(json_path)
    return p.with_name((p.name[:-5] if p.name.endswith(".json") else p.name) + suffix)


def write_results(json_path: str | os.PathLike, benchmark: Benchmark, results: dict[str, Any],
                  samples: Sequence[dict[str, Any]] | None = None, plots: bool = True) -> dict[str, Path]:
    """Write ``OUT.json``, ``OUT.md``, ``OUT.samples.jsonl`` and ``OUT.<breakdown>.png`` atomically.

    Returns:
        ``{"json", "md", "samples", "<slug>"...}`` -> the paths written.
    """
    out = Path(json_path)
    paths: dict[str, Path] = {"json": out, "md": beside(out, ".md")}
    files = dict(results.get("files") or {})
    if samples is not None:
        paths["samples"] = beside(out, ".samples.jsonl")
        files["samples"] = paths["samples"].name
    plotted = [b for b in benchmark.breakdowns(results) if plots and b.plot is not None and b.rows]
    for b in plotted:
        paths[b.slug] = beside(out, f".{b.slug}.png")
    if plotted:
        files["plots"] = [paths[b.slug].name for b in plotted]
    results = {**results, "files": files}
    # keep versions/provenance last
    for k in ("versions", "provenance"):
        if k in results:
            results[k] = results.pop(k)
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic_writer(p)) for k, p in paths.items()}
        tmp["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp["md"].write_text(render_markdown(benchmark, results), encoding="utf-8")
        if samples is not None:
            tmp["samples"].write_text(dumps_rows(samples), encoding="utf-8")
        for b in plotted:
            _plot(b, results.get("model") or "model", tmp[b.slug])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths


def load_results(path: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """A results JSON (or a folder holding ``results.json``) and the path it was read from."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise InputError(p, "results file not found")
    try:
        res = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(p, f"invalid JSON: {e}") from None
    if not isinstance(res, dict) or "benchmark" not in res:
        raise InputError(p, "not a medmllm results file (no 'benchmark' key)")
    return res, p


def score_file(benchmark: Benchmark, predictions: str | os.PathLike, out: str | os.PathLike, *,
               references: str | os.PathLike | None = None, model: str | None = None,
               extra: dict[str, Any] | None = None, plots: bool = True) -> dict[str, Any]:
    """Score a predictions file and write the results files (what ``medmllm score-benchmark`` does).

    Args:
        benchmark: the scorer.
        predictions: JSONL rows of the benchmark (see its class docstring).
        out: the results JSON to write (``.md``, ``.samples.jsonl`` and plots beside it).
        references: optional manifest or reference rows joined to the predictions by id or key.
        model: the model's name; default: the rows' ``model`` field, else the predictions file's stem.
        extra: more top-level keys for the results.

    Returns:
        The results dictionary as written.
    """
    from medmllm.evaluation.benchmarks.jsonl import read_jsonl, read_records_or_rows

    raw = read_jsonl(predictions, "predictions")
    refs = read_records_or_rows(references, "references") if references is not None else None
    samples, skipped = benchmark.prepare(raw, str(predictions), refs, None if references is None else str(references))
    metrics = benchmark.aggregate(samples)
    if model is None:
        names = {r.get("model") for _, r in raw} - {None}
        model = names.pop() if len(names) == 1 else Path(predictions).stem
    outp = Path(out)
    files = {"predictions": os.path.relpath(Path(predictions).resolve(), outp.resolve().parent)}
    if references is not None:
        files["references"] = os.path.relpath(Path(references).resolve(), outp.resolve().parent)
    data = str(references) if references is not None else str(predictions)
    data_files = [predictions] + ([references] if references is not None else [])
    results = build_results(benchmark, {**metrics, "n": len(samples), "skipped": skipped}, model=model, data=data,
                            data_files=data_files, extra={**(extra or {}), "files": files})
    write_results(outp, benchmark, results, samples, plots=plots)
    return load_results(outp)[0]
