"""medmllm label: findings labels (CheXpert observations and findings keys) of report texts."""

NAME = "label"
HELP = "read reports and write their findings labels (14 CheXpert observations + findings keys)"
DESCRIPTION = """Label radiology reports with the rule-based clinical labeler (English and Chinese).

Input rows: {"id": ..., "report": "..."} (or generate's {"id", "prediction"} rows, or a manifest).
Output rows: {"id", "lang", "chexpert": {14 observations}, "findings": {findings keys}, "possible":
{"chexpert": [...], "findings": [...]}} with each value 1 (positive), 0 (negative), -1 (uncertain: a
probable reading such as "likely", "borderline", "X versus Y") or null (not mentioned); "possible"
lists what a report only raises as a possibility ("may represent", "cannot be excluded"), which
sets no label (docs/labeler.md). A Markdown table of how often each findings key is
positive/uncertain/possible/negative is printed.

--lang auto (default) uses a row's declared language (report.language or lang) and otherwise
Chinese when the text contains Chinese characters.

examples:
  medmllm label reports.jsonl --out labels.jsonl
  medmllm label pred.jsonl --out pred_labels.jsonl --lang zh
"""
ORDER = 57


def add_arguments(parser):
    parser.add_argument("input", metavar="IN.jsonl", help="reports, one JSON row per line")
    parser.add_argument("--out", required=True, metavar="OUT.jsonl", help="labels to write")
    parser.add_argument("--lang", choices=("auto", "en", "zh"), default="auto",
                        help="language of the reports (default: auto)")


def run(args):
    from collections import Counter
    from pathlib import Path

    from medmllm.errors import InputError
    from medmllm.evaluation.labeler import label_report
    from medmllm.data.text import detect_language
    from medmllm.evaluation.report_io import jsonl, read_report_rows
    from medmllm.files import atomic_write_text
    from medmllm.findings import FINDING_KEYS

    rows = read_report_rows(args.input)
    out = Path(args.out)
    if out.is_dir():
        raise InputError(out, "is a folder; --out takes a file name such as labels.jsonl")
    results, counts = [], {k: Counter() for k in FINDING_KEYS}
    items = list(rows.reports.items())
    progress = None
    if not args.quiet and len(items) > 2000:
        from rich.progress import track

        progress = track(items, description="labelling", transient=True)
    for rid, text in progress or items:
        lang = args.lang if args.lang != "auto" else (rows.langs.get(rid) or detect_language(text))
        labels = label_report(text, lang)
        results.append({"id": rid, "lang": lang, **labels})
        possible = set(labels["possible"]["findings"])
        for k, v in labels["findings"].items():
            counts[k]["possible" if v is None and k in possible else v] += 1
    atomic_write_text(out, jsonl(results))
    print("| findings key | positive | uncertain | possible | negative | not mentioned |\n|---|---|---|---|---|---|")
    for k in FINDING_KEYS:
        c = counts[k]
        print(f"| {k} | {c[1]} | {c[-1]} | {c['possible']} | {c[0]} | {c[None]} |")
    if not args.quiet:
        print(f"\nwrote {len(results)} rows to {out}")
    return 0
