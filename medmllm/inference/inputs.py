"""What inference reads, checked before any model is loaded: manifests, records, image paths, inputs.

- :func:`read_records`: the records of a manifest for ``generate --data`` / ``evaluate``.
  Prompt-only records (a user turn, no reference) are valid here; an empty manifest or selection,
  duplicate ids, invalid or deeply nested JSON are one-line errors.
- :func:`image_problems`: per record, the first problem of its images that shows without decoding
  them (a path outside the image root, a missing file, a file larger than the loader's limit).
- :func:`normalise_input`: a manifest record or a plain request ``{"xray", "ct", "prompt",
  "context", "language", "series"}`` as ``{"id", "messages", "images", "labels", "reference"}``.
  The user turn of a plain request, and of a record that has none (or only image placeholders),
  is worded by the export's recorded prompts (:class:`medmllm.data.prompts.PromptBook`).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from medmllm.data.conversation import PLACEHOLDERS
from medmllm.data.prompts import PromptBook, strip_placeholders
from medmllm.errors import InputError


def list_ids(ids: Iterable[str], limit: int = 10) -> str:
    """``'a, b, c'`` or ``'a, b, ... (and 7 more)'``."""
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f" (and {len(ids) - limit} more)" if len(ids) > limit else "")


def read_records(manifest: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a manifest to run inference on (prompt-only records are valid).

    Raises:
        InputError: a missing, empty or invalid manifest (line and field), duplicate ids.
    """
    from medmllm.data.schema import read_manifest

    records = read_manifest(manifest, needs_target=False)
    if not records:
        raise InputError(manifest, "the manifest has no records")
    dups = [i for i, k in Counter(str(r["id"]) for r in records).items() if k > 1]
    if dups:
        raise InputError(manifest, f"{len(dups)} record id(s) appear more than once: {list_ids(dups)} "
                                   "(each prediction row is keyed by its record's id)")
    return records


def select(records: list[dict[str, Any]], manifest: str | os.PathLike, split: str | None = None,
           limit: int | None = None) -> list[dict[str, Any]]:
    """The records of ``split`` (None: all), the first ``limit`` of them.

    Raises:
        InputError: a limit below 1, no record of ``split``.
    """
    if limit is not None and limit < 1:
        raise InputError("--limit", f"must be at least 1, got {limit}")
    if split is not None:
        records = [r for r in records if r.get("split") == split]
        if not records:
            raise InputError(manifest, f"no records of split '{split}'")
    return records[:limit] if limit is not None else records


def image_problems(records: Sequence[dict[str, Any]], root: str | os.PathLike,
                   max_bytes: int | None = None) -> dict[str, str]:
    """``{record id: problem}`` for records whose images cannot be read, found without decoding them.

    Args:
        records: manifest records.
        root: the manifest's image root.
        max_bytes: the loader's size limit (default :data:`medmllm.io.types.DEFAULT_MAX_BYTES`).
    """
    from medmllm.data.schema import resolve_image_path
    from medmllm.io.types import DEFAULT_MAX_BYTES, human_bytes

    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    out: dict[str, str] = {}
    for rec in records:
        for i, im in enumerate(rec.get("images") or []):
            where = f"images[{i}]"
            try:
                full = resolve_image_path(root, im.get("path"), where)
            except InputError as e:
                out[str(rec["id"])] = f"{where}: {e.problem}"
                break
            if not full.exists():
                out[str(rec["id"])] = f"{where}: '{im['path']}' not found under {root}"
                break
            if full.is_file() and full.stat().st_size > limit:
                out[str(rec["id"])] = (f"{where}: '{im['path']}' is {human_bytes(full.stat().st_size)}, over the "
                                       f"image size limit of {human_bytes(limit)}")
                break
    return out


def check_files(paths: Iterable[str | os.PathLike], flag: str) -> None:
    """Refuse a missing image path of a plain request before anything loads."""
    for p in paths:
        if not Path(p).exists():
            raise InputError(p, f"{flag}: file or folder not found")


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _with_prompt(msgs: list[dict[str, Any]], images: dict[str, list[Any]], book: PromptBook,
                 lang: str | None) -> list[dict[str, Any]]:
    """A record's messages, with a worded user turn when it has none (or one of image placeholders only)."""
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    if users and strip_placeholders(msgs[users[-1]].get("content") or ""):
        return msgs
    turn = book.messages({m: len(v) for m, v in images.items()}, language=lang)
    if users:
        return msgs[:users[-1]] + turn + msgs[users[-1] + 1:]
    return msgs + turn


def prompt_text(sample: dict[str, Any]) -> str:
    """The last user turn of a prepared sample, as the model reads it (placeholders and findings hint included)."""
    users = [m.get("content") for m in sample.get("messages") or [] if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def normalise_input(item: dict[str, Any], root: str | os.PathLike | None = None, index: int = 0,
                    prompts: PromptBook | None = None) -> dict[str, Any]:
    """``{"id", "messages", "images": {modality: [source, ...]}, "labels", "reference"}`` of an input.

    Args:
        item: a manifest record or ``{"xray", "ct", "video", "prompt", "context", "language", "series"}``.
        root: image root for a record's relative paths (the manifest's folder).
        index: used for the id of plain inputs.
        prompts: the export's recorded prompts (None: the documented defaults).
    """
    from medmllm.data.text import declared_language

    book = prompts or PromptBook()
    if "messages" in item:  # manifest record
        from medmllm.data.schema import image_source, resolve_image_path

        images: dict[str, list[Any]] = {}
        for i, im in enumerate(item.get("images") or []):
            src = im["path"]
            if root is not None:
                src = str(resolve_image_path(root, src, f"{item.get('id')}: images[{i}]"))
            images.setdefault(im["modality"], []).append(image_source(im, src))
        msgs = list(item["messages"] or [])
        ref = msgs[-1]["content"] if msgs and msgs[-1].get("role") == "assistant" else None
        if ref is not None:
            msgs = msgs[:-1]
        msgs = _with_prompt(msgs, images, book, declared_language(item))
        return {"id": str(item.get("id", index)), "messages": msgs, "images": images, "labels": item.get("labels"),
                "reference": ref}
    images = {m: _as_list(item.get(m)) for m in PLACEHOLDERS if item.get(m) is not None}
    if item.get("series"):
        images["ct"] = [{"path": s, "series": item["series"]} if isinstance(s, (str, os.PathLike)) else s
                        for s in images.get("ct", [])]
    msgs = book.messages({m: len(v) for m, v in images.items()}, item.get("prompt"), item.get("context"),
                         language=item.get("language"))
    return {"id": str(item.get("id", index)), "messages": msgs, "images": images, "labels": None, "reference": None}
