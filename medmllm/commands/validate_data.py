"""medmllm validate-data: check a manifest record by record."""

NAME = "validate-data"
HELP = "check a manifest: every record (line + field), image paths inside the root, patients across splits"
DESCRIPTION = """Check a JSONL manifest.

Every record is checked against the schema (errors give the line number and the field), image
paths must stay inside the image root (the manifest's folder, or `image_root` in the sidecar
`<manifest>.meta.json`) and exist, ids must be unique, and no patient may appear in more than
one split. Records with only the user turn (prompts for `generate` / `evaluate`, no reference)
are valid and counted; with --training they are problems, since training needs a target (an
assistant turn or an answer). Exit code 0 when valid, 2 when a problem was found.
"""
ORDER = 31


def add_arguments(parser):
    parser.add_argument("manifest", help="the JSONL manifest")
    parser.add_argument("--no-files", action="store_true", help="do not check that image files exist")
    parser.add_argument("--max-problems", type=int, default=50, metavar="N",
                        help="print at most N problems (default 50; all are counted)")
    parser.add_argument("--training", action="store_true",
                        help="every record must have a target to learn from (an assistant turn or an answer)")


def run(args):
    import sys

    from medmllm.data.schema import check_manifest
    from medmllm.errors import InputError

    res = check_manifest(args.manifest, check_files=not args.no_files, needs_target=args.training)
    counts = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"  # noqa: E731
    if not args.quiet:
        print(f"{res.records} record(s); splits: {counts(res.splits)}; tasks: {counts(res.tasks)}; "
              f"images: {counts(res.modalities)}"
              + (f"; prompt-only (no target, not for training): {res.prompt_only}" if res.prompt_only else ""))
    if res.ok:
        print(f"{args.manifest}: valid")
        return 0
    for line in res.problems[:args.max_problems]:
        print(f"{args.manifest}: {line}", file=sys.stderr)
    if len(res.problems) > args.max_problems:
        print(f"... and {len(res.problems) - args.max_problems} more", file=sys.stderr)
    raise InputError(args.manifest, f"{len(res.problems)} problem(s) in {res.records} record(s)")
