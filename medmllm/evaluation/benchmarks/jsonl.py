"""Reading and writing the JSONL files of benchmark runs (predictions, per-sample scores).

Every reader error names the file and the line. :func:`dumps_rows` gives the text that the results
writer (:mod:`.results`) writes atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from medmllm.errors import InputError


def read_jsonl(path: str | os.PathLike, what: str = "predictions") -> list[tuple[int, dict[str, Any]]]:
    """``(line_number, object)`` for each non-empty line of a JSONL file.

    Args:
        path: the file.
        what: what the file holds, used in error messages.

    Raises:
        InputError: missing file, a line that is not UTF-8, not JSON or not a JSON object.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, f"{what} file not found")
    if not p.is_file():
        raise InputError(p, f"{what} must be a JSONL file, not a folder")
    out: list[tuple[int, dict[str, Any]]] = []
    with open(p, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputError(p, f"line {n}: not UTF-8 text") from None
            except json.JSONDecodeError as e:
                hint = " (truncated last line?)" if not raw.endswith(b"\n") else ""
                raise InputError(p, f"line {n}: invalid JSON ({e.msg} at column {e.colno}){hint}") from None
            if not isinstance(obj, dict):
                raise InputError(p, f"line {n}: expected a JSON object, got {type(obj).__name__}")
            out.append((n, obj))
    return out


def read_records_or_rows(path: str | os.PathLike, what: str = "references") -> list[tuple[int, dict[str, Any]]]:
    """Like :func:`read_jsonl`; also accepts a JSON array of objects (some tools write one)."""
    p = Path(path)
    if p.is_file():
        with open(p, "rb") as f:
            head = f.read(64).lstrip()
        if head.startswith(b"["):
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise InputError(p, f"invalid JSON array: {e}") from None
            if not all(isinstance(x, dict) for x in data):
                raise InputError(p, "expected a JSON array of objects")
            return [(i + 1, x) for i, x in enumerate(data)]
    return read_jsonl(p, what)


def dumps_rows(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as JSONL text (UTF-8, one object per line)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
