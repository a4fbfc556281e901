"""medmllm synth: synthetic P2Med-MD-style cases (X-ray + CT + records + reports) with a manifest."""

NAME = "synth"
HELP = "write synthetic pediatric chest cases (X-ray DICOM/PNG, CT DICOM/NIfTI, records, reports) and a manifest"
DESCRIPTION = """Write synthetic pediatric pneumonia cases shaped like P2Med-MD: a frontal chest radiograph
(DICOM CR/DX, some MONOCHROME1, some PNG), a chest CT (DICOM series, some NIfTI), outpatient and
inpatient records, radiology reports in English and/or Chinese, structured labels, and task
conversations (reports, closed questions, diagnosis, summary) in OUT/manifest.jsonl.

--layout hospital writes the cases as a hospital export instead (case_NNNNNN/xray/, ct/, report.txt,
record.json: the folder layout `medmllm prepare p2med-dir` reads), to try that path without real data.

With --cine the cases are angiography-like runs instead (multi-frame DICOM XA for the video slot):
a contrast bolus travels along a vessel, antegrade (normal) or retrograde (the finding), which only
the order of the frames shows; test cases also come as a shuffled-frames copy (a control).

examples:
  medmllm synth --out synth-data --cases 200 --seed 0
  medmllm synth --out my-export --cases 20 --lang en --layout hospital
  medmllm synth --out synth-data --cases 1000 --lang en --xray-size 128 --ct-shape 32,64,64
  medmllm synth --preview cases.png --cases 8          # just look at some cases
  medmllm synth --cine --out cine-data --cases 400      # angiography runs with a finding seen only in motion
"""
ORDER = 30


def _shape(text):
    import argparse

    try:
        parts = tuple(int(p) for p in str(text).replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 32,64,64, got {text!r}") from None
    return parts


def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", help="output folder (manifest.jsonl, cases/, synth.json)")
    parser.add_argument("--cases", type=int, default=100, help="number of cases (patients); default 100")
    parser.add_argument("--seed", type=int, default=0, help="data-set seed (same seed -> same bytes); default 0")
    parser.add_argument("--lang", choices=["en", "zh", "both"], default="both", help="report/record language(s)")
    parser.add_argument("--xray-size", type=_shape, default=(128,), metavar="H[,W]", help="radiograph size; default 128")
    parser.add_argument("--ct-shape", type=_shape, default=(32, 64, 64), metavar="D,H,W",
                        help="CT volume shape; default 32,64,64")
    parser.add_argument("--prevalence", choices=["realistic", "balanced"], default="realistic",
                        help="finding frequencies: a pediatric clinic's, or every finding about equally often")
    parser.add_argument("--tasks", default="report,vqa,diagnosis,summary",
                        help="comma-separated task groups to write (report, vqa, diagnosis, summary)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier synth output in --out")
    parser.add_argument("--layout", choices=["manifest", "hospital"], default="manifest",
                        help="manifest: cases/ + manifest.jsonl (default); hospital: one folder per case as "
                             "`prepare p2med-dir` reads (one language: --lang en or zh)")
    parser.add_argument("--preview", metavar="PNG", help="also draw the first cases as a PNG grid")
    parser.add_argument("--preview-cases", type=int, default=8, help="cases in the preview (default 8)")
    parser.add_argument("--cine", action="store_true",
                        help="write angiography-like cine runs (video slot; finding visible only in motion) instead")
    parser.add_argument("--cine-frames", type=int, default=8, metavar="T", help="--cine: frames per run (default 8)")
    parser.add_argument("--cine-size", type=int, default=32, metavar="N", help="--cine: frame size N x N (default 32)")


def run(args):
    import os

    from medmllm.errors import InputError

    if not args.out and not args.preview:
        raise InputError(None, "give --out DIR (and/or --preview PNG)")
    if args.cine:
        return _cine(args)
    size = tuple(args.xray_size) * (2 if len(args.xray_size) == 1 else 1)
    if len(size) != 2:
        raise InputError(None, f"--xray-size: expected H or H,W, got {list(args.xray_size)}")
    if len(args.ct_shape) != 3:
        raise InputError(None, f"--ct-shape: expected D,H,W, got {list(args.ct_shape)}")
    from medmllm.data.synthetic import SynthConfig, generate
    from medmllm.errors import ConfigError

    try:
        cfg = SynthConfig(xray_size=size, ct_shape=tuple(args.ct_shape),
                          langs=("en", "zh") if args.lang == "both" else (args.lang,), prevalence=args.prevalence,
                          tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()))
    except ConfigError as e:
        raise InputError(None, str(e)) from None
    if args.out and args.layout == "hospital":
        from medmllm.data.synthetic.hospital import write_hospital_export

        if args.lang == "both":
            raise InputError(None, "--layout hospital writes one language: give --lang en or --lang zh")
        summary = write_hospital_export(args.out, args.cases, args.seed, cfg, lang=args.lang, overwrite=args.overwrite)
        if not args.quiet:
            print(f"wrote {summary['cases']} cases as a hospital export: {args.out} "
                  f"(convert with: medmllm prepare p2med-dir {args.out} --out cases.jsonl)")
    elif args.out:
        workers = args.workers if args.workers is not None else min(2, os.cpu_count() or 1)
        summary = generate(args.out, args.cases, args.seed, cfg, workers=max(1, workers), overwrite=args.overwrite,
                           progress=not args.quiet)
        if not args.quiet:
            counts = ", ".join(f"{k} {v}" for k, v in summary["finding_counts"].items() if v)
            print(f"wrote {summary['cases']} cases, {summary['records']} records: "
                  f"{os.path.join(args.out, 'manifest.jsonl')}")
            print(f"splits: {summary['splits']}; findings: {counts}")
    if args.preview:
        from medmllm.data.synthetic.preview import write_preview

        path = write_preview(args.preview, args.seed, min(args.preview_cases, args.cases), cfg)
        if not args.quiet:
            print(f"preview: {path}")
    return 0


def _cine(args) -> int:
    from medmllm.data.synthetic.cine import generate_cine
    from medmllm.errors import InputError

    if args.preview or not args.out:
        raise InputError(None, "--cine writes cases to --out DIR (no --preview; `medmllm inspect RUN --preview` "
                               "shows one)")
    if args.layout != "manifest":
        raise InputError(None, "--cine writes a manifest; --layout hospital does not apply")
    summary = generate_cine(args.out, args.cases, args.seed, frames=args.cine_frames, size=args.cine_size,
                            overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {summary['cases']} cine cases, {summary['records']} records: {args.out}/manifest.jsonl")
        print(f"splits: {summary['splits']}; findings: {summary['finding_counts']}")
    return 0
