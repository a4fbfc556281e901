"""Check the commands written in README.md and docs/: every `medmllm ...` line must parse.

    python scripts/docs_check.py            # prints each problem, exit 1 when any

Every line of a fenced ``bash`` / ``sh`` / ``console`` block that runs ``medmllm`` (also
``python -m medmllm``) is parsed by the real command-line parser, with the same handling of dotted
config overrides as ``medmllm`` itself: an unknown command or flag, a missing required flag or a
bad choice is reported with the file and line. Continuation lines (``\\``) are joined, comments
and shell prompts dropped. The tutorials' blocks are also *run* by ``tests/test_docs.py``.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
SHELLS = ("bash", "sh", "console", "shell")


def documented_commands(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, argv after 'medmllm')`` for every medmllm command in the shell blocks of ``path``."""
    out: list[tuple[int, list[str]]] = []
    lang, pending, start = None, "", 0
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(raw.strip())
        if m:
            lang = None if lang is not None else (m.group(1) or "text")
            continue
        if lang not in SHELLS:
            continue
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not pending:
            start = no
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        text, pending = pending, ""
        try:
            words = shlex.split(text, comments=True)
        except ValueError:
            continue
        for cmd in _split_commands(words):
            argv = _medmllm_argv(cmd)
            if argv is not None:
                out.append((start, argv))
    return out


_REDIRECT = ("<", ">", ">>", "2>", "2>>", "&>", "<<", "<<<")


def _split_commands(words: list[str]) -> list[list[str]]:
    """Shell words split into commands at ``&&``, ``||``, ``;``, ``|``, ``&``; redirections dropped."""
    cmds, cur, skip = [], [], False
    for w in words:
        if skip:
            skip = False
        elif w in ("&&", "||", ";", "|", "&"):
            cmds.append(cur)
            cur = []
        elif w in _REDIRECT:
            skip = True  # the redirection's target
        elif w.startswith(("2>&", ">&", "<<")) or (w[:1] in "<>" and len(w) > 1):
            continue
        else:
            cur.append(w)
    return cmds + [cur]


def _medmllm_argv(words: list[str]) -> list[str] | None:
    while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value prefixes
        words = words[1:]
    if words[:1] == ["medmllm"]:
        return words[1:]
    for i, w in enumerate(words[:-2]):
        if w.endswith("python") or w.endswith("python3") or w == "torchrun" or w.startswith("--nproc"):
            if words[i + 1:i + 3] == ["-m", "medmllm"]:
                return words[i + 3:]
    return None


def check_argv(argv: list[str]) -> str | None:
    """None when ``medmllm *argv`` parses, else the parser's message."""
    from medmllm.cli import build_parser
    from medmllm.config import split_overrides

    parser = build_parser()
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args, extra = parser.parse_known_args(argv)
            if extra:
                dotted, rest = split_overrides(extra) if getattr(args, "_overrides", False) else ([], extra)
                if rest:
                    return f"unrecognized arguments: {' '.join(rest)}"
    except SystemExit as e:
        if e.code in (0, None):  # --help / --version
            return None
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {e.code}"
    return None


def doc_files() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def main() -> int:
    problems = 0
    n = 0
    for f in doc_files():
        for no, argv in documented_commands(f):
            n += 1
            msg = check_argv(argv)
            if msg:
                problems += 1
                print(f"{f.relative_to(ROOT)}:{no}: medmllm {' '.join(argv)}: {msg}")
    print(f"{n} documented commands, {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
