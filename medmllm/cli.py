"""The ``medmllm`` command line: one entry point, one module per subcommand.

Each module in :mod:`medmllm.commands` defines ``NAME`` (the subcommand, e.g. ``validate-data``),
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int | None``. Modules import only
the standard library at top level; heavy imports happen inside ``run`` so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import warnings
from typing import Iterator, Sequence

from medmllm import __version__
from medmllm.errors import InputError, MedmllmError, MissingDependencyError

log = logging.getLogger("medmllm")


def _command_modules():
    import medmllm.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"medmllm.commands.{info.name}"))
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 100))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every subcommand registered)."""
    parser = argparse.ArgumentParser(
        prog="medmllm",
        description="Medical multimodal LLMs for radiology reports: read DICOM/NIfTI, "
        "train in stages, evaluate honestly, demo offline.",
    )
    parser.add_argument("--version", action="version", version=f"medmllm {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    common.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p, _overrides=bool(getattr(mod, "OVERRIDES", False)), overrides=[])
    return parser



def _setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not debug:
        for noisy in ("httpx", "urllib3", "matplotlib", "PIL", "filelock", "fsspec"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def _quiet_libraries(quiet: bool) -> Iterator[None]:
    """``--quiet``: no weight-loading bars, no library deprecation notices; restored when the command ends."""
    if not quiet:
        yield
        return
    env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
           "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    saved_env = {k: os.environ.get(k) for k in env}
    loggers = [logging.getLogger(n) for n in ("transformers", "huggingface_hub", "lightning", "lightning.pytorch")]
    saved_levels = [lg.level for lg in loggers]
    os.environ.update(env)
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    hf_logging = sys.modules.get("transformers.utils.logging")  # bars are decided at import: switch them off
    bars = hf_logging.is_progress_bar_enabled() if hf_logging else None
    if hf_logging:
        hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            for category in (FutureWarning, DeprecationWarning):
                warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("ignore", category=UserWarning,
                                    module=r"(torch|transformers|lightning|monai|peft|huggingface_hub|gradio)(\.|$)")
            yield
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for lg, lvl in zip(loggers, saved_levels):
            lg.setLevel(lvl)
        if hf_logging and bars:
            hf_logging.enable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI. Returns the exit code: 0 success, 2 bad input or usage, 1 internal error."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # commands that take configs accept dotted overrides (--train.max_steps=10)
            from medmllm.config import split_overrides

            dotted, rest = split_overrides(extra) if getattr(args, "_overrides", False) else ([], extra)
            if rest:
                getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(rest)}")
            args.overrides = dotted
    except SystemExit as e:  # argparse: usage errors exit 2 with one usage message
        return int(e.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    debug = bool(getattr(args, "debug", False))
    quiet = bool(getattr(args, "quiet", False))
    os.environ["MEDMLLM_QUIET"] = "1" if quiet else os.environ.get("MEDMLLM_QUIET", "0")
    _setup_logging(debug, quiet)
    try:
        with _quiet_libraries(quiet and not debug):
            code = args._run(args)
        return int(code or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (InputError, MissingDependencyError) as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        if debug:
            raise
        where = e.filename if e.filename is not None else ""
        print(f"error: {where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except MedmllmError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the one place that turns crashes into one line
        if debug:
            raise
        print(f"error: internal: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
