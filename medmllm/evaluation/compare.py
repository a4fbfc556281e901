"""Paired bootstrap confidence intervals for the difference between two benchmark results.

Method (what ``medmllm compare A B`` prints):

1. Both results must be of the same benchmark; it is rebuilt with the options A was scored with
   (``options`` in the results: ``--protocol`` ...), and B is recomputed with them too. Their
   per-sample files (``files.samples`` in the results JSON) are grouped into resampling units
   (:meth:`Benchmark.unit`: a question, or an MME image with its two questions) and paired by unit;
   only units present in both are used (the counts of the others are reported). A paired unit whose
   reference answer differs is an error: the two results are not on the same data.
2. Point estimate: every metric of B minus the same metric of A, both recomputed on the paired units
   with the benchmark's own aggregation (so the numbers equal the results when all units pair).
3. ``n_boot`` times: draw units with replacement (the same draw for A and B: that is what makes the
   bootstrap paired), recompute both metrics and their difference. A unit drawn twice counts twice.
   Benchmarks with an expensive official aggregation resample with a faster one
   (:meth:`Benchmark.resampler`; e.g. report METEOR is not resampled): a metric it leaves out has no
   interval (``ci_low``/``ci_high`` null).
4. The interval is the percentile interval of the bootstrap differences at ``confidence`` (default
   95%). ``excludes_zero`` says whether it lies entirely above or below 0.

Every numeric metric is compared (nested ones as dotted keys, e.g. ``subtasks.count.score``), except
counts (``n``, ``skipped``, ``tp``/``fp``/``fn``/``tn``/``support``, keys starting ``n_`` or ending ``_n``). Draws are made with
``numpy.random.default_rng(seed)``: the same seed gives the same intervals.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from medmllm.errors import InputError

log = logging.getLogger(__name__)


_COUNTS = ("n", "skipped", "tp", "fp", "fn", "tn", "support")
_NOT_METRICS = ("versions", "provenance", "files", "run", "controls", "reference_labels", "notes")


def _is_count(key: str) -> bool:
    return key in _COUNTS or key.startswith("n_") or key.endswith("_n")


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float | None]:
    """Numeric leaves of a metrics dict as ``{"a.b.c": value}`` (counts and non-numbers left out)."""
    out: dict[str, float | None] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if _is_count(str(k)) or k in _NOT_METRICS:
            continue
        if isinstance(v, dict):
            out.update(flatten_metrics(v, key + "."))
        elif isinstance(v, bool) or isinstance(v, str) or isinstance(v, list):
            continue
        elif isinstance(v, (int, float)) or v is None:
            out[key] = None if v is None else float(v)
    return out


def load_samples(results: dict[str, Any], results_path: Path) -> list[dict[str, Any]]:
    """The per-sample rows a results file points to (``files.samples``)."""
    from medmllm.evaluation.benchmarks.jsonl import read_jsonl

    name = (results.get("files") or {}).get("samples")
    if not name:
        raise InputError(results_path, "names no per-sample file (files.samples); rescore it with "
                                       "medmllm score-benchmark")
    return [row for _, row in read_jsonl(results_path.parent / name, "per-sample scores")]


def _units(benchmark: Any, samples: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    units: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        units[benchmark.unit(s)].append(s)
    return units


def paired_bootstrap(benchmark: Any, samples_a: Sequence[dict[str, Any]], samples_b: Sequence[dict[str, Any]], *,
                     n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Differences B - A of every metric with paired bootstrap intervals (see the module docstring).

    Args:
        benchmark: the scorer (its ``unit`` and ``aggregate`` are used).
        samples_a, samples_b: annotated per-sample rows of the two results.
        n_boot: number of bootstrap draws.
        seed: seed of the draws.
        confidence: coverage of the percentile interval.

    Returns:
        ``{"n_paired", "only_a", "only_b", "n_boot", "seed", "confidence", "metrics": {key: {"a", "b",
        "diff", "ci_low", "ci_high", "excludes_zero"}}}``.
    """
    import numpy as np

    if n_boot < 1:
        raise InputError(None, f"--n-boot must be at least 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise InputError(None, f"confidence must be between 0 and 1, got {confidence}")
    ua, ub = _units(benchmark, samples_a), _units(benchmark, samples_b)
    common = [u for u in ua if u in ub]
    if not common:
        raise InputError(None, "the two results share no samples")
    for u in common:
        ra = sorted((repr(benchmark.key(s)), repr(s.get("answer"))) for s in ua[u])
        rb = sorted((repr(benchmark.key(s)), repr(s.get("answer"))) for s in ub[u])
        if ra != rb:
            raise InputError(None, f"sample {u!r} has different questions or answers in the two results")
    a_rows = [ua[u] for u in common]
    b_rows = [ub[u] for u in common]
    point_a = flatten_metrics(benchmark.aggregate([s for g in a_rows for s in g]))
    point_b = flatten_metrics(benchmark.aggregate([s for g in b_rows for s in g]))
    keys = [k for k in point_a if k in point_b]
    fast_a = benchmark.resampler([s for g in a_rows for s in g])
    fast_b = benchmark.resampler([s for g in b_rows for s in g])
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n_boot):
        idx = rng.integers(0, len(common), len(common))
        sa: list[dict[str, Any]] = []
        sb: list[dict[str, Any]] = []
        for j, i in enumerate(idx.tolist()):
            tag = f"{common[i]}#{j}"
            sa.extend({**s, "_unit": tag} for s in a_rows[i])
            sb.extend({**s, "_unit": tag} for s in b_rows[i])
        ma, mb = flatten_metrics(fast_a(sa)), flatten_metrics(fast_b(sb))
        for k in keys:
            if ma.get(k) is not None and mb.get(k) is not None:
                diffs[k].append(mb[k] - ma[k])  # type: ignore[operator]
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    metrics: dict[str, dict[str, Any]] = {}
    for k in keys:
        a, b = point_a[k], point_b[k]
        d = diffs[k]
        lo, hi = (float(np.percentile(d, lo_q)), float(np.percentile(d, hi_q))) if d else (None, None)
        metrics[k] = {"a": a, "b": b, "diff": None if a is None or b is None else b - a, "ci_low": lo,
                      "ci_high": hi, "excludes_zero": lo is not None and (lo > 0 or hi < 0), "n_boot_valid": len(d)}
    return {"n_paired": len(common), "only_a": len(ua) - len(common), "only_b": len(ub) - len(common),
            "n_boot": n_boot, "seed": seed, "confidence": confidence, "metrics": metrics}


def compare_results(path_a: str | os.PathLike, path_b: str | os.PathLike, *, n_boot: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> dict[str, Any]:
    """Compare two results files (or folders holding ``results.json``) of the same benchmark."""
    from medmllm.evaluation.benchmarks.lookup import build_benchmark
    from medmllm.evaluation.benchmarks.results import load_results

    res_a, pa = load_results(path_a)
    res_b, pb = load_results(path_b)
    if res_a["benchmark"] != res_b["benchmark"]:
        raise InputError(pb, f"benchmark {res_b['benchmark']!r} differs from {res_a['benchmark']!r} in {pa}")
    options = res_a.get("options") or {}
    if (res_b.get("options") or {}) != options:
        log.warning("B was scored with options %s, A with %s: both are recomputed with A's",
                    res_b.get("options") or {}, options)
    benchmark, _ = build_benchmark(res_a["benchmark"], options)
    try:
        out = paired_bootstrap(benchmark, load_samples(res_a, pa), load_samples(res_b, pb), n_boot=n_boot,
                               seed=seed, confidence=confidence)
    except InputError as e:
        if e.path is None:
            raise InputError(pb, e.problem) from None
        raise
    if out["only_a"] or out["only_b"]:
        log.warning("compared on %d shared samples (%d only in A, %d only in B)", out["n_paired"], out["only_a"],
                    out["only_b"])
    return {"benchmark": res_a["benchmark"], "a": {"model": res_a.get("model"), "path": str(pa)},
            "b": {"model": res_b.get("model"), "path": str(pb)}, **out}


def render_comparison(cmp: dict[str, Any]) -> str:
    """A Markdown table of a comparison (one row per metric)."""
    pct = round(100 * cmp["confidence"])
    lines = [f"{cmp['benchmark']}: B = {cmp['b']['model']} minus A = {cmp['a']['model']}; paired bootstrap, "
             f"{cmp['n_boot']} draws, seed {cmp['seed']}, {cmp['n_paired']} paired units", "",
             f"| metric | A | B | B - A | {pct}% CI | excludes 0 |", "|---|---|---|---|---|---|"]

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.2f}"

    for k, m in cmp["metrics"].items():
        ci = "–" if m["ci_low"] is None else f"[{m['ci_low']:.2f}, {m['ci_high']:.2f}]"
        lines.append(f"| {k} | {f(m['a'])} | {f(m['b'])} | {f(m['diff'])} | {ci} | "
                     f"{'yes' if m['excludes_zero'] else 'no'} |")
    return "\n".join(lines) + "\n"
