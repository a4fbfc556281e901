"""medmllm generate: a report from image files, or batch inference over a manifest (resumable)."""

NAME = "generate"
HELP = "generate a report from image files, or for every record of a manifest (resumes where it stopped)"
DESCRIPTION = """Generate with an export folder written by `medmllm train`.

One report: give the images (--xray FILE, --ct FILE_OR_FOLDER, --video CLIP, each repeatable), optional clinical
context (--context) and prompt (--prompt; default "Write the radiology report."); the text is
printed, or one JSON object with --json.

Batch: --data MANIFEST --out PRED.jsonl writes one line {"id", "prediction", "reference"} per
record (its trailing assistant turn, if any, is the reference and is not shown to the model).
Lines already in PRED.jsonl are kept and their records skipped, so an interrupted run resumes
where it stopped; a half-written last line is discarded.

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
    parser.add_argument("--context", metavar="TEXT", help="clinical context (history, outpatient/inpatient notes)")
    parser.add_argument("--prompt", metavar="TEXT", help="instruction (default: Write the radiology report.)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", metavar="MANIFEST", help="batch mode: generate for every record of this manifest")
    parser.add_argument("--out", metavar="PRED.jsonl", help="batch mode: predictions file (appended, resumable)")
    parser.add_argument("--split", help="batch mode: only records of this split")
    parser.add_argument("--limit", type=int, help="batch mode: at most N records")
    parser.add_argument("--batch-size", type=int, default=8, help="records per generation batch (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="default 256")
    parser.add_argument("--temperature", type=float, help="sample with this temperature (default: greedy)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling threshold (with --temperature)")
    parser.add_argument("--num-beams", type=int, help="beam search width")
    parser.add_argument("--repetition-penalty", type=float, help="e.g. 1.1")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def generation_kwargs(args):
    """transformers generation settings from the shared flags (``evaluate`` uses it too; a flag the
    command does not have, or leaves unset, is left to the model's defaults)."""
    gen = {}
    if getattr(args, "max_new_tokens", None) is not None:
        gen["max_new_tokens"] = args.max_new_tokens
    if args.temperature is not None:
        gen.update(do_sample=True, temperature=args.temperature)
        if args.top_p is not None:
            gen["top_p"] = args.top_p
    if args.num_beams:
        gen["num_beams"] = args.num_beams
    if getattr(args, "repetition_penalty", None):
        gen["repetition_penalty"] = args.repetition_penalty
    return gen


def run(args):
    import json

    from medmllm.errors import InputError
    from medmllm.inference import Predictor

    if args.data is None and args.out is not None:
        raise InputError(None, "--out needs --data MANIFEST")
    if args.data is not None:
        if args.out is None:
            raise InputError(None, "--data needs --out PRED.jsonl")
        if args.xray or args.ct or args.video or args.context or args.prompt:
            raise InputError(None, "--data takes images and prompts from the manifest; drop "
                                   "--xray/--ct/--video/--context/--prompt")
        from medmllm.inference import generate_manifest

        predictor = Predictor.from_pretrained(args.checkpoint, device=args.device)
        done, new = generate_manifest(predictor, args.data, args.out, split=args.split, limit=args.limit,
                                      batch_size=args.batch_size, progress=not args.quiet, **generation_kwargs(args))
        print(f"{args.out}: {done + new} predictions ({done} already there, {new} new)")
        return 0
    if not args.xray and not args.ct and not args.video and not args.prompt:
        raise InputError(None, "give --xray/--ct/--video images and/or --prompt (or --data MANIFEST --out PRED.jsonl)")
    predictor = Predictor.from_pretrained(args.checkpoint, device=args.device)
    item = {"xray": args.xray, "ct": args.ct, "video": args.video, "prompt": args.prompt, "context": args.context}
    text = predictor.generate([item], **generation_kwargs(args))[0]
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "xray": args.xray or [], "ct": args.ct or [],
                          "video": args.video or [],
                          "prompt": args.prompt, "context_given": bool(args.context), "report": text},
                         ensure_ascii=False))
    else:
        print(text)
    return 0
