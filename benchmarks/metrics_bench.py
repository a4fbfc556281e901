"""Report metrics end to end: time per metric for N report pairs, and labeler throughput.

    python benchmarks/metrics_bench.py [--n 5000] [--seed 0]

Scores N synthetic report pairs (English, from a small report grammar over the findings
vocabulary; predictions are perturbed references) with ``evaluate_reports`` under the ``coco``
protocol, then ``r2gen``, then N Chinese pairs. The baseline, run in the same process on the same
pairs, is pycocoevalcap used the usual way (``COCOEvalCap`` style): the PTB tokenizer once for the
references and once for the predictions, and a fresh ``Meteor()`` (its own JVM start). Ratios are
medmllm / baseline. The labeler is timed alone (reports per second, English and Chinese).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medmllm.findings import ABNORMAL_KEYS, describe  # noqa: E402

_NORMAL = {"en": ["The heart size is normal.", "The lungs are clear.", "No pleural effusion or pneumothorax.",
                  "The mediastinal contours are unremarkable.", "No focal consolidation."],
           "zh": ["心影不大。", "双肺纹理清晰。", "未见胸腔积液及气胸。", "纵隔居中。", "双肺未见明显实变。"]}
_POS = {"en": ["There is {x}.", "{X} is seen.", "Findings consistent with {x}.", "{X}."],
        "zh": ["可见{x}。", "{x}。", "考虑{x}。", "见{x}影。"]}
_NEG = {"en": ["No {x}.", "No evidence of {x}.", "{X} is not seen."], "zh": ["未见{x}。", "无{x}。"]}


def _report(rng: random.Random, keys: list[str], lang: str) -> list[str]:
    out = []
    for k in keys:
        x = describe(k, lang)
        out.append(rng.choice(_POS[lang]).format(x=x, X=x[:1].upper() + x[1:]))
    for k in rng.sample(ABNORMAL_KEYS, 2):
        if k not in keys:
            x = describe(k, lang)
            out.append(rng.choice(_NEG[lang]).format(x=x, X=x[:1].upper() + x[1:]))
    out += rng.sample(_NORMAL[lang], 3)
    rng.shuffle(out)
    return out


def make_pairs(n: int, lang: str, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """``(predictions, references)``: references from the grammar, predictions perturbed copies."""
    rng = random.Random(seed)
    preds, refs = {}, {}
    for i in range(n):
        keys = [] if rng.random() < 0.3 else rng.sample(ABNORMAL_KEYS, rng.randint(1, 2))
        ref = _report(rng, keys, lang)
        pred = [s for s in ref if rng.random() > 0.25] or ref[:1]
        if rng.random() < 0.3:  # a wrong finding
            pred = _report(rng, rng.sample(ABNORMAL_KEYS, 1), lang)[:2] + pred
        sep = " " if lang == "en" else ""
        refs[f"r{i}"], preds[f"r{i}"] = sep.join(ref), sep.join(pred)
    return preds, refs


def _direct_coco(preds: dict[str, str], refs: dict[str, str]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    t: dict[str, float] = {}
    t0 = time.perf_counter()
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": v}] for i, v in refs.items()})
    res = tok.tokenize({i: [{"caption": v}] for i, v in preds.items()})
    t["prepare"] = time.perf_counter() - t0
    for name, make in (("bleu", lambda: Bleu(4)), ("meteor", Meteor), ("rouge_l", Rouge), ("cider", Cider)):
        t0 = time.perf_counter()
        scorer = make()
        if name == "bleu":
            scorer.compute_score(gts, res, verbose=0)
        else:
            scorer.compute_score(gts, res)
        t[name] = time.perf_counter() - t0
        del scorer
    return t


def _row(name: str, t: dict[str, float], base: dict[str, float] | None = None) -> str:
    cols = ["prepare", "bleu", "meteor", "rouge_l", "cider", "labeler", "clinical"]
    total = sum(t.get(c, 0.0) for c in cols)
    cells = " | ".join(f"{t[c]:.2f}" if c in t else "-" for c in cols)
    ratio = f"{total / sum(base.values()):.2f}" if base else "-"
    return f"| {name} | {cells} | {total:.2f} | {ratio} |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="report pairs (default 5000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from medmllm.evaluation.labeler import label_report
    from medmllm.evaluation.report_metrics import evaluate_reports, get_meteor

    preds, refs = make_pairs(args.n, "en", args.seed)
    zh_preds, zh_refs = make_pairs(args.n, "zh", args.seed)
    words = sum(len(v.split()) for v in refs.values()) / len(refs)
    print(f"{args.n} English pairs (reference {words:.0f} words on average), {args.n} Chinese pairs; "
          f"cpu count {os.cpu_count()}\n")

    t0 = time.perf_counter()
    get_meteor().compute_score({"w": ["warm up"]}, {"w": ["warm up"]})  # the jar loads on first use
    jvm = time.perf_counter() - t0
    coco = evaluate_reports(preds, refs, "coco", "en")
    r2gen = evaluate_reports(preds, refs, "r2gen", "en")
    zh = evaluate_reports(zh_preds, zh_refs, "coco", "zh")
    base = _direct_coco(preds, refs)

    print("seconds per step (medmllm's METEOR JVM was already started; baseline includes its own JVM start)\n")
    print("| run | prepare | bleu | meteor | rouge_l | cider | labeler | clinical | total | ratio to baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(_row("baseline: pycocoevalcap direct, coco", base))
    print(_row("medmllm coco (en)", coco.timings, base))
    print(_row("medmllm r2gen (en)", r2gen.timings, base))
    print(_row("medmllm coco (zh, no METEOR)", zh.timings))
    print(f"\nMETEOR JVM start: {jvm:.1f} s, paid once per process (a fresh JVM for every 500 reports "
          f"would add {jvm * max(0.0, args.n / 500 - 1):.0f} s for {args.n} pairs)")
    print(f"coco scores: BLEU-4 {coco.summary['bleu_4']:.4f}, METEOR {coco.summary['meteor']:.4f}, "
          f"ROUGE-L {coco.summary['rouge_l']:.4f}, CIDEr {coco.summary['cider']:.4f}, "
          f"findings macro-F1 {coco.summary['clinical']['findings']['macro']['f1']:.3f}")

    for lang, texts in (("en", list(refs.values())), ("zh", list(zh_refs.values()))):
        t0 = time.perf_counter()
        for text in texts:
            label_report(text, lang)
        dt = time.perf_counter() - t0
        print(f"labeler ({lang}): {len(texts) / dt:.0f} reports/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
