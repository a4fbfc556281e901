"""Reading report files (JSONL rows ``{"id", "report"}``) for ``medmllm score`` and ``medmllm label``.

Where a row's text comes from, in order:

- ``report`` as a string;
- ``prediction`` as a string (the rows ``medmllm generate --data`` writes);
- a manifest record: its last assistant turn (the text a model is trained to write), else its
  ``report`` object ``{"findings", "impression"}`` read as ``"Findings: … Impression: …"``
  (Chinese ``"所见：… 印象：…"``).

Manifest rows whose ``task`` is not ``report``, whose ``split`` is not the one asked for, or whose
declared language (``meta.lang``, ``report.language`` or ``lang``) is not the one asked for are skipped and
their ids remembered. Every problem is an :class:`~medmllm.errors.InputError` naming the file,
the line and the id; duplicate ids are listed together.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from medmllm.data.text import declared_language, report_text
from medmllm.errors import InputError
from medmllm.inference.inputs import list_ids  # noqa: F401 (score lists ids with it too)

log = logging.getLogger(__name__)

# pycocoevalcap's ROUGE-L is a pure-Python longest-common-subsequence (quadratic in length)
MAX_REPORT_CHARS = 50_000


@dataclass
class ReportRows:
    """The rows of one report file, in file order."""

    path: Path
    reports: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, int | None]] = field(default_factory=dict)
    langs: dict[str, str | None] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def _row_text(row: dict, where: str, path: Path) -> str:
    if isinstance(row.get("report"), str):
        return row["report"]
    if isinstance(row.get("prediction"), str):
        return row["prediction"]
    try:
        text = report_text(row)
    except TypeError as e:
        raise InputError(path, f"{where}: {e}") from None
    if text is not None:
        return text
    if "report" in row or "prediction" in row:
        bad = row.get("report", row.get("prediction"))
        if not isinstance(bad, dict):
            raise InputError(path, f"{where}: 'report' must be a string or an object with findings/impression, "
                                   f"got {type(bad).__name__}")
        return ""
    raise InputError(path, f"{where}: no report text (expected 'report' or 'prediction')")


def read_report_rows(path: str | os.PathLike, *, allow_labels: bool = False, split: str | None = None,
                     lang: str | None = None) -> ReportRows:
    """Read a JSONL report file.

    Args:
        path: the file.
        allow_labels: also read and check ground-truth ``labels`` (findings keys).
        split: keep only rows whose ``split`` is this (rows without a split are kept).
        lang: keep only rows whose declared language is this (rows without one are kept).
    """
    from medmllm.evaluation.clinical import check_reference_labels

    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder; expected a JSONL file of {\"id\", \"report\"} rows")
    out = ReportRows(path)
    dups: dict[str, int] = {}
    try:
        f = path.open(encoding="utf-8")
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from e
    with f:
        try:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(path, f"line {n}: not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(path, f"line {n}: expected a JSON object, got {type(row).__name__}")
                rid = row.get("id")
                if isinstance(rid, bool) or not isinstance(rid, (str, int)) or str(rid) == "":
                    raise InputError(path, f"line {n}: missing or invalid 'id' (a non-empty string or integer)")
                rid = str(rid)
                row_lang = declared_language(row)
                if (row.get("task") not in (None, "report") or (split and row.get("split") not in (None, split))
                        or (lang and row_lang not in (None, lang))):
                    out.skipped.add(rid)
                    continue
                where = f"line {n} (id {rid})"
                text = _row_text(row, where, path)
                if len(text) > MAX_REPORT_CHARS:
                    raise InputError(path, f"{where}: the report has {len(text):,} characters; the limit is "
                                           f"{MAX_REPORT_CHARS:,} (a radiology report is a few hundred)")
                if rid in out.reports:
                    dups[rid] = dups.get(rid, 1) + 1
                    continue
                out.reports[rid] = text
                out.langs[rid] = row_lang
                if allow_labels and row.get("labels") is not None:
                    try:
                        out.labels[rid] = check_reference_labels(row["labels"])
                    except ValueError as e:
                        raise InputError(path, f"{where}: {e}") from None
        except UnicodeDecodeError as e:
            raise InputError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if dups:
        raise InputError(path, f"{len(dups)} duplicate ids: {list_ids(dups)}")
    if not out.reports:
        raise InputError(path, "no report rows" + (f" ({len(out.skipped)} rows skipped by task, split or "
                                                   "language)" if out.skipped else ""))
    if out.skipped:
        log.info("%s: skipped %d rows (task, split or language)", path.name, len(out.skipped))
    return out


def jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as JSON Lines (UTF-8, non-ASCII kept)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
