"""The clinical labeler on real reports: precision, recall, F1 against human MeSH indexing.

    python benchmarks/labeler_bench.py [--data PATH] [--part tuning|heldout|all] [--failures OBS]

Reads the Indiana University chest X-ray development set (``../shared/data/iu_xray_reports_dev.jsonl``
beside the repository, or ``$MEDMLLM_SHARED/data/...``, or ``--data``), maps each report's MeSH terms
to CheXpert observations (:data:`iu_reference.MESH_MAP`, the `iu-xray` converter's table;
``--mapping`` prints it, ``docs/labeler.md`` and the README write it out), labels the FINDINGS +
IMPRESSION text with ``medmllm label``'s function (:func:`label_report`, English; positive = 1 or
-1, uncertain counted positive) and prints per-observation precision, recall and F1 and the
macro-F1 over the 11 observations, next to a naive keyword baseline run in the same process (a
keyword in the sentence and no negation word before it); one line gives the labeler's macro-F1 with
uncertain counted negative, and one how often MeSH indexes the two strengths of hedge (a probable
reading, labelled -1; a possibility raised, listed under ``possible``). Reports indexed "No
Indexing" (no reference) and reports with no text are left out.

The set is split by a hash of the report id into a ``tuning`` part (the only one whose failures
were read while writing rules) and a ``heldout`` part; both are printed. ``--failures OBS`` lists
the tuning-part reports the labeler gets wrong for one observation (never the held-out part).
Timing: labeler reports per second on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import iu_reference as ref


def _table(name: str, reports: list[ref.Report]) -> float:
    t = time.perf_counter()
    lab = ref.score(reports, ref.labeler_predict)
    dt = time.perf_counter() - t
    lab_neg = ref.score(reports, lambda text: ref.labeler_predict(text, "negative"))
    base = ref.score(reports, ref.keyword_baseline)
    print(f"\n### {name}: {len(reports)} reports ({len(reports) / dt:.0f} reports/s labelled)\n")
    print("| observation | positives | labeler P | R | F1 | baseline P | R | F1 | F1 gain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for o in ref.OBSERVATIONS:
        a, b = lab[o], base[o]
        print(f"| {o} | {a.tp + a.fn} | {a.precision:.3f} | {a.recall:.3f} | {a.f1:.3f} | {b.precision:.3f} | "
              f"{b.recall:.3f} | {b.f1:.3f} | {a.f1 - b.f1:+.3f} |")
    ml, mb = ref.macro_f1(lab), ref.macro_f1(base)
    print(f"| **macro-F1** | | | | **{ml:.3f}** | | | **{mb:.3f}** | {ml - mb:+.3f} |")
    below = [o for o in ref.OBSERVATIONS if lab[o].f1 < base[o].f1]
    print(f"\nobservations below the baseline: {', '.join(below) or 'none'}")
    worst = min(ref.OBSERVATIONS, key=lambda o: lab_neg[o].f1)
    print(f"uncertain counted negative (medmllm score --uncertain negative): labeler macro-F1 "
          f"{ref.macro_f1(lab_neg):.3f} (lowest: {worst} {lab_neg[worst].f1:.3f})")
    hedges = ref.hedge_counts(reports)
    print("hedged mentions indexed by MeSH (report-observation pairs): probable readings (-1) "
          "{}/{}, possibilities raised (no label) {}/{}".format(*hedges["probable"], *hedges["possible"]))
    return ml


def _failures(reports: list[ref.Report], obs: str) -> None:
    from medmllm.evaluation.labeler import extract_mentions

    for r in reports:
        pred = ref.labeler_predict(r.text)[obs]
        if pred != r.ref[obs]:
            kind = "FP" if pred else "FN"
            mentions = [(m.concept.name, "possible" if m.speculative else m.status) for m in extract_mentions(r.text)]
            print(f"--- {kind} {r.id}\n{r.text}\n{mentions}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="the development set (JSONL)")
    p.add_argument("--part", choices=("tuning", "heldout", "all"), default=None,
                   help="one part only (default: tuning, held-out and all)")
    p.add_argument("--failures", metavar="OBS", choices=ref.OBSERVATIONS,
                   help="list the tuning-part reports the labeler gets wrong for OBS")
    p.add_argument("--mapping", action="store_true", help="print the MeSH -> CheXpert table and exit")
    args = p.parse_args(argv)
    if args.mapping:
        print("| MeSH descriptor | condition on the qualifiers | CheXpert observations |\n|---|---|---|")
        for desc, cond, obs in ref.MESH_MAP:
            shown = "any" if cond is None else ("not at a non-lung site" if cond == "lung" else f"carries '{cond}'")
            print(f"| {desc} | {shown} | {', '.join(obs)} |", flush=True)
        return 0
    path = args.data or ref.dev_path()
    if not path.is_file():
        print(f"error: {path}: development set not found (set MEDMLLM_SHARED or pass --data)", file=sys.stderr)
        return 2
    try:
        reports, skipped = ref.load_reports(path)
    except (ValueError, KeyError, TypeError) as e:  # not JSON lines, or rows without id/findings/mesh
        print(f"error: {path}: not a report set of id/findings/impression/mesh rows ({type(e).__name__}: {e})",
              file=sys.stderr)
        return 2
    if not reports:
        print(f"error: {path}: no indexed report with text", file=sys.stderr)
        return 2
    if args.failures:
        _failures([r for r in reports if r.part == "tuning"], args.failures)
        return 0
    from medmllm.evaluation.labeler import LABELER_VERSION

    print(f"labeler version {LABELER_VERSION}; {len(reports)} reports; left out: "
          + ", ".join(f"{n} {why}" for why, n in skipped.items()))
    for part in ("tuning", "heldout", "all"):
        if args.part in (None, part):
            _table(part, reports if part == "all" else [r for r in reports if r.part == part])
    return 0


if __name__ == "__main__":
    sys.exit(main())
