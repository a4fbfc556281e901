"""medmllm generate: a report from image files, or batch inference over a manifest (resumable)."""

NAME = "generate"
HELP = "generate a report from image files, or for every record of a manifest (resumes where it stopped)"
DESCRIPTION = """Generate with an export folder written by `medmllm train`.

One report: give the images (--xray FILE, --ct FILE_OR_FOLDER, --video CLIP, each repeatable), optional clinical
context (--context) and instruction (--prompt); the text is printed, or one JSON object with
--json. Without --prompt the request is worded as the export's training data worded it (the
prompts the export recorded; docs/inference.md lists the defaults of an export without them).

Batch: --data MANIFEST --out PRED.jsonl writes one line {"id", "prediction", "reference"} per
record (its trailing assistant turn, if any, is the reference and is not shown to the model;
records with only the user turn are fine). Lines already in PRED.jsonl are kept and their records
skipped, so an interrupted run resumes where it stopped; only a torn last line is discarded. An
existing PRED.jsonl that is not a predictions file of the same run (same export, same settings)
is refused and left as it is; a second run writing the same file at the same time is refused.

Everything is checked before the model loads. A record whose images cannot be read is reported and
skipped; the run then ends with one `error:` line (exit status 2) after writing the others.

examples:
  medmllm generate --checkpoint runs/quickstart/export --xray cxr.dcm --ct ct_series/ --context "fever 3 days"
  medmllm generate --checkpoint runs/quickstart/export --data test.jsonl --split test --out pred.jsonl
"""
ORDER = 52


def add_arguments(parser):
    parser.add_argument("--checkpoint", metavar="DIR", required=True, help="export folder")
    parser.add_argument("--xray", action="append", metavar="FILE", help="2D image (DICOM, PNG, JPEG ...)")
    parser.add_argument("--ct", action="append", metavar="PATH", help="CT: DICOM folder or zip, NIfTI, NRRD")
    parser.add_argument("--video", action="append", metavar="CLIP",
                        help="clip for a model with a video slot: cine DICOM (US/XA/RF/ES) or a video file")
    parser.add_argument("--series", metavar="UID",
                        help="--ct: the SeriesInstanceUID (or SeriesNumber) to read when a folder or zip holds several")
    parser.add_argument("--context", metavar="TEXT", help="clinical context (history, outpatient/inpatient notes)")
    parser.add_argument("--prompt", metavar="TEXT", help="instruction (default: the export's training wording)")
    parser.add_argument("--lang", choices=("en", "zh"),
                        help="language of the default wording (default: English when the export was trained on it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", metavar="MANIFEST", help="batch mode: generate for every record of this manifest")
    parser.add_argument("--out", metavar="PRED.jsonl", help="batch mode: predictions file (appended, resumable)")
    parser.add_argument("--split", help="batch mode: only records of this split")
    parser.add_argument("--limit", type=int, help="batch mode: at most N records")
    parser.add_argument("--batch-size", type=int, default=8, help="records per generation batch (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="default 256")
    parser.add_argument("--temperature", type=float, help="sample with this temperature (default: greedy; 0: greedy)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling threshold (with --temperature)")
    parser.add_argument("--num-beams", type=int, help="beam search width")
    parser.add_argument("--repetition-penalty", type=float, help="e.g. 1.1")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def generation_kwargs(args):
    """Checked generation settings from the shared flags (``evaluate`` uses it too; a flag the command
    does not have, or leaves unset, is left to the model's defaults)."""
    from medmllm.inference.settings import check_generation

    gen = {"max_new_tokens": getattr(args, "max_new_tokens", None)}
    if args.temperature is not None:
        gen.update(temperature=args.temperature, top_p=args.top_p)
    elif args.top_p is not None:
        check_generation({"top_p": args.top_p})
    gen.update(num_beams=args.num_beams, repetition_penalty=getattr(args, "repetition_penalty", None))
    return check_generation(gen)


def _batch(args, gen):
    from medmllm.errors import InputError
    from medmllm.inference import Predictor, generate_manifest
    from medmllm.inference.export import check_export
    from medmllm.inference.inputs import read_records, select
    from medmllm.inference.predictions import PredictionsFile, export_identity

    if args.xray or args.ct or args.video or args.context or args.prompt or args.series or args.lang:
        raise InputError(None, "--data takes images and prompts from the manifest; "
                               "drop --xray/--ct/--video/--series/--context/--prompt/--lang")
    PredictionsFile(args.out, manifest=args.data).check()
    select(read_records(args.data), args.data, args.split, args.limit)  # the cheap refusals first
    check_export(args.checkpoint, device=args.device)
    identity = {"export": export_identity(args.checkpoint)["hash"], "generation": gen}
    res = generate_manifest(lambda: Predictor.from_pretrained(args.checkpoint, device=args.device), args.data,
                            args.out, split=args.split, limit=args.limit, batch_size=args.batch_size,
                            progress=not args.quiet, identity=identity, **gen)
    if res.problems:
        first, n = next(iter(res.problems)), res.already + res.new
        kept = f"{n} predictions are in {args.out}" if n else "nothing was written"
        raise InputError(args.data, f"{len(res.problems)} of {res.records} records could not be generated (record "
                                    f"{first} and the others listed above); {kept}")
    print(f"{args.out}: {res.already + res.new} predictions ({res.already} already there, {res.new} new)")
    return 0


def run(args):
    import json

    from medmllm.errors import InputError

    if args.data is None and args.out is not None:
        raise InputError(None, "--out needs --data MANIFEST")
    gen = generation_kwargs(args)
    if args.batch_size < 1:
        raise InputError("--batch-size", f"must be at least 1, got {args.batch_size}")
    if args.data is not None:
        if args.out is None:
            raise InputError(None, "--data needs --out PRED.jsonl")
        return _batch(args, gen)
    if not args.xray and not args.ct and not args.video and not args.prompt:
        raise InputError(None, "give --xray/--ct/--video images and/or --prompt (or --data MANIFEST --out PRED.jsonl)")
    if args.series and not args.ct:
        raise InputError("--series", "chooses the series of a --ct folder or zip; give --ct")
    from medmllm.inference import Predictor
    from medmllm.inference.inputs import check_files

    check_files(args.xray or [], "--xray")
    check_files(args.ct or [], "--ct")
    check_files(args.video or [], "--video")
    predictor = Predictor.from_pretrained(args.checkpoint, device=args.device)
    item = {"xray": args.xray, "ct": args.ct, "video": args.video, "series": args.series, "prompt": args.prompt,
            "context": args.context,
            "language": args.lang}
    text = predictor.generate([item], **gen)[0]
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "xray": args.xray or [], "ct": args.ct or [],
                          "video": args.video or [],
                          "prompt": args.prompt, "context_given": bool(args.context), "report": text},
                         ensure_ascii=False))
    else:
        print(text)
    return 0
