"""medmllm score: NLG metrics (pycocoevalcap) and clinical efficacy of generated reports."""

NAME = "score"
HELP = "score generated reports: BLEU-1..4, METEOR, ROUGE-L, CIDEr and clinical precision/recall/F1"
DESCRIPTION = """Score generated reports against references, matched by id.

Rows (one JSON object per line): {"id": ..., "report": "..."}; predictions may be the
{"id", "prediction"} rows of `medmllm generate --data`, and references may be a manifest (its
report records: last assistant turn as the text; --split and --lang select records). A reference
row may also carry
ground-truth "labels" (findings keys -> 1/0/-1/null): clinical.findings then compares the labels
read from the prediction with those; references without "labels" are compared with the labels
read from their report text. CheXpert groups always use the labels read from both texts.

Writes OUT.json (bleu_1..bleu_4, meteor, rouge_l, cider, clinical, protocol, lang, n, rule,
versions, provenance), OUT.samples.jsonl (per-sample scores and labels) and prints a Markdown
table. NLG numbers are pycocoevalcap's for the prepared text:
  --protocol coco   pycocoevalcap's PTB tokenizer first (COCO caption evaluation)
  --protocol r2gen  the R2Gen-family report cleaning (lower case, numbering and punctuation removed,
                    sentences joined with " . ")
Chinese (--lang zh): character tokens; METEOR is null (no Chinese resources in METEOR 1.5).

examples:
  medmllm score --predictions pred.jsonl --references test.jsonl --out scores.json
  medmllm score --predictions pred.jsonl --references test.jsonl --out s.json --protocol r2gen \\
      --uncertain negative --plot f1.png
"""
ORDER = 56


def add_arguments(parser):
    parser.add_argument("--predictions", required=True, metavar="P.jsonl", help="generated reports {id, report}")
    parser.add_argument("--references", required=True, metavar="R.jsonl",
                        help="reference reports {id, report[, labels]} (a manifest works too)")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="results JSON (per-sample JSONL beside it)")
    parser.add_argument("--protocol", choices=("coco", "r2gen"), default="coco",
                        help="text preparation before the NLG metrics (default: coco)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the reports (default: en)")
    parser.add_argument("--uncertain", choices=("positive", "negative"), default="positive",
                        help="count uncertain findings as positive or negative (default: positive)")
    parser.add_argument("--plot", metavar="PNG", help="also draw a bar chart of per-label F1")
    parser.add_argument("--split", metavar="NAME", help="manifest references: score only records of this split")


def _fmt(v, digits=4):
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(summary) -> str:
    """The stdout table: NLG metrics, the CE groups, per-key findings F1."""
    lines = ["| metric | value |", "|---|---|"]
    names = {"bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4", "meteor": "METEOR",
             "rouge_l": "ROUGE-L", "cider": "CIDEr"}
    lines += [f"| {names[k]} | {_fmt(summary[k])} |" for k in names]
    c = summary["clinical"]
    lines += ["", f"clinical efficacy (uncertain counted {c['uncertain']}; n = {summary['n']}, "
                  f"protocol {summary['protocol']}, lang {summary['lang']})", "",
              "| group | micro P | micro R | micro F1 | macro P | macro R | macro F1 | labels in macro |",
              "|---|---|---|---|---|---|---|---|"]
    for g in ("chexpert_14", "chexpert_5", "findings"):
        mi, ma = c[g]["micro"], c[g]["macro"]
        lines.append(f"| {g} | {_fmt(mi['precision'])} | {_fmt(mi['recall'])} | {_fmt(mi['f1'])} | "
                     f"{_fmt(ma['precision'])} | {_fmt(ma['recall'])} | {_fmt(ma['f1'])} | {len(c[g]['macro_labels'])} |")
    lines += ["", "| findings key | support | precision | recall | F1 |", "|---|---|---|---|---|"]
    for k, r in c["findings"]["per_label"].items():
        if r["support"] or r["fp"]:
            lines.append(f"| {k} | {r['support']} | {_fmt(r['precision'], 3)} | {_fmt(r['recall'], 3)} | "
                         f"{_fmt(r['f1'], 3)} |")
    return "\n".join(lines) + "\n"


def run(args):
    import json
    from pathlib import Path

    from medmllm.errors import InputError
    from medmllm.evaluation.report_io import jsonl, list_ids, read_report_rows
    from medmllm.files import atomic_write_text
    from medmllm.evaluation.report_metrics import evaluate_reports
    from medmllm.provenance import provenance

    preds = read_report_rows(args.predictions)
    refs = read_report_rows(args.references, allow_labels=True, split=args.split, lang=args.lang)
    missing = [i for i in refs.reports if i not in preds.reports]
    extra = [i for i in preds.reports if i not in refs.reports and i not in refs.skipped]
    if missing:
        raise InputError(args.predictions, f"no prediction for {len(missing)} reference ids: {list_ids(missing)}")
    if extra:
        raise InputError(args.predictions, f"{len(extra)} ids are not in the references: {list_ids(extra)}")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(out, "is a folder; --out takes a file name such as scores.json")
    predictions = {i: preds.reports[i] for i in refs.reports}  # reference order
    scores = evaluate_reports(predictions, refs.reports, args.protocol, args.lang, args.uncertain,
                              refs.labels or None)
    summary = dict(scores.summary)
    summary["data"] = {"predictions": str(args.predictions), "references": str(args.references),
                       "split": args.split}
    summary["skipped"] = {"reference_rows": len(refs.skipped),
                          "predictions": sum(i in refs.skipped for i in preds.reports)}
    summary["provenance"] = provenance(data_files=[args.predictions, args.references])
    samples_path = out.with_name(out.stem + ".samples.jsonl")
    atomic_write_text(samples_path, jsonl(scores.samples))
    atomic_write_text(out, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if args.plot:
        from medmllm.evaluation.clinical import plot_per_label_f1

        plot_per_label_f1(summary["clinical"], args.plot)
    print(markdown(summary), end="")
    if not args.quiet:
        print(f"\nwrote {out} and {samples_path}" + (f" and {args.plot}" if args.plot else ""))
    return 0
