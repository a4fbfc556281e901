"""medmllm app: the Gradio report app on a trained export (default: the quickstart model)."""

NAME = "app"
HELP = "start the Gradio report app (upload DICOM / NIfTI, add clinical context, stream a report)"
DESCRIPTION = """Start the Gradio report app on 127.0.0.1 (unless --host says otherwise).

Without --checkpoint it serves the quickstart model that `make demo` trains into its cache folder.
Uploads are limited to --max-upload-mb per file; at most --concurrency reports are generated at
once and the rest wait in a queue. Logs never hold file names, notes or image metadata.

examples:
  medmllm app
  medmllm app --checkpoint runs/my-export --port 8080 --auth alice:secret
"""
ORDER = 90


def add_arguments(parser):
    parser.add_argument("--checkpoint", metavar="DIR", help="export folder (default: the quickstart model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument("--auth", metavar="USER:PASS", help="require this user name and password")
    parser.add_argument("--max-upload-mb", type=int, default=512, help="per-file upload limit (default: 512)")
    parser.add_argument("--concurrency", type=int, default=1, help="reports generated at once (default: 1)")
    parser.add_argument("--no-examples", action="store_true", help="do not build the synthetic example cases")


def parse_auth(value):
    """``'user:pass'`` -> ``('user', 'pass')``; raises InputError for anything else."""
    from medmllm.errors import InputError

    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError("--auth", "expected USER:PASS with a non-empty user name and password")
    return user, password


def quickstart_export_dir():
    """Where `make demo` leaves the trained quickstart export.

    ``$MEDMLLM_QUICKSTART`` when set; otherwise ``<cache>/quickstart/export`` with ``<cache>`` =
    ``$MEDMLLM_CACHE``, or ``$XDG_CACHE_HOME/medmllm`` (default ``~/.cache/medmllm``).
    """
    from medmllm.paths import quickstart_export_dir as where

    return where()


def resolve_checkpoint(checkpoint):
    """The export folder to serve: ``checkpoint``, or the quickstart export in its cache folder."""
    from pathlib import Path

    from medmllm.errors import InputError

    if checkpoint:
        path = Path(checkpoint)
        if not path.is_dir():
            raise InputError(path, "checkpoint folder not found (expected a medmllm export folder)")
        return path
    path = quickstart_export_dir()
    if not path.is_dir():
        raise InputError(path, "no quickstart model yet: run `make demo` to train it, or pass --checkpoint DIR")
    return path


def run(args):
    import logging
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from medmllm.errors import InputError

    auth = parse_auth(args.auth)
    if not 1 <= args.port <= 65535:
        raise InputError("--port", f"expected 1..65535, got {args.port}")
    if args.max_upload_mb < 1 or args.concurrency < 1:
        raise InputError("--max-upload-mb/--concurrency", "must be at least 1")
    checkpoint = resolve_checkpoint(args.checkpoint)
    from medmllm.app.backend import PredictorBackend
    from medmllm.app.examples import example_cases
    from medmllm.app.ui import ReportApp

    log = logging.getLogger("medmllm.app")
    backend = PredictorBackend(checkpoint)
    examples = [] if args.no_examples else example_cases()
    app = ReportApp(backend, examples=examples, max_upload_mb=args.max_upload_mb,
                               concurrency=args.concurrency)
    if args.host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        log.warning("serving on %s without --auth: anyone who can reach this address can use the app", args.host)
    print(f"medmllm app: http://{args.host}:{args.port}  (Ctrl+C to stop)", flush=True)
    try:
        app.launch(host=args.host, port=args.port, auth=auth, quiet=True)
    finally:
        app.close()
    return 0
