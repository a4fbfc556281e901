"""The manifest: JSONL, one sample per line (CONTRACTS.md).

``read_manifest`` yields ``(line_number, record_dict)`` and raises ``InputError`` naming the file,
line and field; ``validate_record`` returns the list of problems of one record; ``write_manifest``
writes atomically (a temporary file renamed into place), so a crash never leaves half a manifest.
Image paths are relative to the image root: the manifest's folder, or ``image_root`` in the
sidecar ``<manifest>.meta.json``; a path that leaves its root is rejected. An image entry may carry
load fields (``series``, ``spacing``, ``rescale``: :func:`override_problems`), which
:func:`image_source` hands to the image pipeline.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from medmllm.errors import InputError
from medmllm.files import atomic_write_text, atomic_writer

SCHEMA_VERSION = 1
TASKS = ("report", "vqa", "mcq", "diagnosis", "summary", "caption", "open")
SPLITS = ("train", "val", "test")
MODALITIES = ("xray", "ct", "video")
ROLES = ("system", "user", "assistant")
PLACEHOLDERS = {"xray": "<xray>", "ct": "<ct>", "video": "<video>"}
REQUIRED = ("id", "split", "task", "messages")
# Image entry fields that change how the file is read (medmllm.io.load_image keywords; see below).
LOAD_FIELDS = ("series", "spacing", "rescale")
TOO_DEEP = "JSON nested too deeply to be a manifest record"
KNOWN_FIELDS = ("schema_version", "id", "patient_id", "split", "task", "images", "patient", "records",
                "report", "labels", "messages", "choices", "answer", "meta")


def new_record(**fields: Any) -> dict[str, Any]:
    """A record with every known field present (defaults: empty/None), in the contract's order."""
    rec: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "id": None, "patient_id": None, "split": "train",
                           "task": "report", "images": [], "patient": None, "records": None, "report": None,
                           "labels": None, "messages": [], "choices": None, "answer": None, "meta": {}}
    unknown = set(fields) - set(KNOWN_FIELDS)
    if unknown:
        raise ValueError(f"unknown manifest fields: {sorted(unknown)}")
    rec.update(fields)
    return rec


def sidecar_path(manifest: str | os.PathLike) -> Path:
    p = Path(manifest)
    return p.with_name(p.name + ".meta.json")


def image_root(manifest: str | os.PathLike) -> Path:
    """The folder image paths are relative to: sidecar ``image_root`` or the manifest's folder."""
    p = Path(manifest)
    side = sidecar_path(p)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(side, f"invalid JSON: {e}") from None
        root = meta.get("image_root")
        if root:
            r = Path(root)
            return r if r.is_absolute() else (p.parent / r)
    return p.parent


def resolve_image_path(root: str | os.PathLike, rel: str, where: str = "") -> Path:
    """``root / rel``, rejecting absolute paths and paths that leave ``root``."""
    if not isinstance(rel, str) or not rel:
        raise InputError(where or None, "image path must be a non-empty string")
    if os.path.isabs(rel) or rel.startswith(("\\", "~")):
        raise InputError(where or None, f"image path '{rel}' must be relative to the image root")
    root_r = Path(root).resolve()
    full = (root_r / rel).resolve()
    if full != root_r and root_r not in full.parents:
        raise InputError(where or None, f"image path '{rel}' leaves the image root")
    return Path(root) / rel


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def override_problems(entry: dict[str, Any]) -> list[str]:
    """Problems of an image entry's load overrides, as ``'field: problem'``.

    ``spacing``: voxel size in array axis order, ``[d, h, w]`` mm for ``ct`` (``[row, col]`` for
    ``xray``), replacing the header's. ``rescale``: ``{"slope", "intercept"}`` replacing a NIfTI /
    NRRD volume's stored scaling (value = stored x slope + intercept). Both exist for releases
    whose headers are wrong (CT-RATE); :func:`medmllm.io.load_image` applies them.
    """
    errs = []
    sp = entry.get("spacing")
    if sp is not None:
        n = 3 if entry.get("modality") == "ct" else 2
        if not isinstance(sp, list) or len(sp) != n or not all(_number(v) and v > 0 for v in sp):
            errs.append(f"spacing: expected {n} positive numbers (mm) for a {entry.get('modality')} image, got {sp!r}")
    rs = entry.get("rescale")
    if rs is not None:
        if not isinstance(rs, dict) or set(rs) != {"slope", "intercept"} or not all(_number(v) for v in rs.values()) \
                or rs["slope"] == 0:
            errs.append(f"rescale: expected {{'slope': non-zero number, 'intercept': number}}, got {rs!r}")
        elif entry.get("modality") != "ct":
            errs.append("rescale: only for ct volumes (NIfTI / NRRD)")
    return errs


def image_source(entry: dict[str, Any], path: str | os.PathLike) -> str | dict[str, Any]:
    """What the image pipeline loads for an image entry: the path, or ``{"path", "series", "spacing",
    "rescale"}`` when the entry has any of those (the keywords of :func:`medmllm.io.load_image`)."""
    extra = {k: entry[k] for k in LOAD_FIELDS if entry.get(k) is not None}
    return {"path": os.fspath(path), **extra} if extra else os.fspath(path)


def validate_record(rec: Any, needs_target: bool = True) -> list[str]:
    """Problems of one record as ``'field: problem'`` strings (empty when valid).

    ``needs_target``: a report/diagnosis/summary record must have an assistant turn (or an ``answer``)
    to learn from (training data); inference takes prompt-only records (``False``).
    """
    if not isinstance(rec, dict):
        return [f"record: expected a JSON object, got {type(rec).__name__}"]
    errs: list[str] = []
    for f in REQUIRED:
        if rec.get(f) in (None, ""):
            errs.append(f"{f}: missing")
    unknown = sorted(set(rec) - set(KNOWN_FIELDS))
    if unknown:
        errs.append(f"{unknown[0]}: unknown field (valid: {', '.join(KNOWN_FIELDS)})")
    if rec.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        errs.append(f"schema_version: expected {SCHEMA_VERSION}, got {rec.get('schema_version')!r}")
    if rec.get("id") is not None and not isinstance(rec["id"], str):
        errs.append("id: expected a string")
    if rec.get("split") not in (None, "") and rec["split"] not in SPLITS:
        errs.append(f"split: '{rec['split']}' is not one of {', '.join(SPLITS)}")
    if rec.get("task") not in (None, "") and rec["task"] not in TASKS:
        errs.append(f"task: '{rec['task']}' is not one of {', '.join(TASKS)}")
    images = rec.get("images") or []
    if not isinstance(images, list):
        errs.append("images: expected a list")
        images = []
    counts = {m: 0 for m in MODALITIES}
    for i, im in enumerate(images):
        if not isinstance(im, dict):
            errs.append(f"images[{i}]: expected an object")
            continue
        if im.get("modality") not in MODALITIES:
            errs.append(f"images[{i}].modality: '{im.get('modality')}' is not one of {', '.join(MODALITIES)}")
        else:
            counts[im["modality"]] += 1
        if not isinstance(im.get("path"), str) or not im.get("path"):
            errs.append(f"images[{i}].path: missing")
        errs.extend(f"images[{i}].{e}" for e in override_problems(im))
    msgs = rec.get("messages")
    if isinstance(msgs, list):
        seen = {m: 0 for m in MODALITIES}
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                errs.append(f"messages[{i}]: expected {{'role': one of {'/'.join(ROLES)}, 'content': string}}")
                continue
            for mod, ph in PLACEHOLDERS.items():
                seen[mod] += m["content"].count(ph)
        if needs_target and msgs and not has_target(rec):
            errs.append("messages: no assistant turn to learn from (and no 'answer')")
        for mod in MODALITIES:  # inference words an empty conversation itself, one placeholder per image
            if seen[mod] != counts[mod] and (msgs or needs_target):
                errs.append(f"messages: {seen[mod]} {PLACEHOLDERS[mod]} placeholder(s) but {counts[mod]} {mod} image(s)")
    elif msgs is not None:
        errs.append("messages: expected a list")
    for f in ("patient", "records", "report", "labels", "meta"):
        if rec.get(f) is not None and not isinstance(rec[f], dict):
            errs.append(f"{f}: expected an object or null")
    labels = rec.get("labels") or {}
    if isinstance(labels, dict):
        for k, v in labels.items():
            if v not in (0, 1, -1, None):
                errs.append(f"labels.{k}: expected 1, 0, -1 or null, got {v!r}")
    if rec.get("choices") is not None and not isinstance(rec["choices"], list):
        errs.append("choices: expected a list or null")
    return errs


def has_target(rec: dict[str, Any]) -> bool:
    """True when a record has something to learn from: an assistant turn, an ``answer``, or a question task."""
    msgs = rec.get("messages") if isinstance(rec.get("messages"), list) else []
    return (any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs)
            or rec.get("task") in ("mcq", "vqa", "open") or rec.get("answer") is not None)


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """``(line_number, parsed JSON)`` for each non-empty line; bad JSON raises naming the line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "manifest not found")
    with open(p, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield n, json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputError(p, f"line {n}: not UTF-8 text") from None
            except json.JSONDecodeError as e:
                raise InputError(p, f"line {n}: invalid JSON ({e.msg} at column {e.colno})") from None
            except RecursionError:
                raise InputError(p, f"line {n}: {TOO_DEEP}") from None


def read_manifest(path: str | os.PathLike, validate: bool = True, needs_target: bool = True) -> list[dict[str, Any]]:
    """All records of a manifest; with ``validate`` the first invalid record raises (line + field).

    ``needs_target``: see :func:`validate_record` (False for inference manifests).
    """
    out = []
    for n, rec in iter_lines(path):
        if validate:
            errs = validate_record(rec, needs_target)
            if errs:
                raise InputError(path, f"line {n}: {errs[0]}")
        out.append(rec)
    return out


def write_manifest(path: str | os.PathLike, records: Iterable[dict[str, Any]],
                   image_root: str | os.PathLike | None = None) -> int:
    """Write records as JSONL atomically; with ``image_root`` also write the sidecar. Returns the count."""
    p = Path(path)
    n = 0
    with atomic_writer(p) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    if image_root is not None:
        atomic_write_text(sidecar_path(p), json.dumps({"image_root": os.fspath(image_root)}))
    return n


@dataclass
class ManifestCheck:
    """What :func:`check_manifest` found.

    Attributes:
        records: number of records read (valid or not).
        problems: ``'line N: field: problem'`` strings; empty when the manifest is valid.
        splits, tasks, modalities: counts over the records.
        prompt_only: records without a target (fine for inference; training needs one).
    """

    records: int = 0
    prompt_only: int = 0
    problems: list[str] = field(default_factory=list)
    splits: Counter = field(default_factory=Counter)
    tasks: Counter = field(default_factory=Counter)
    modalities: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_manifest(path: str | os.PathLike, *, check_files: bool = True, needs_target: bool = True) -> ManifestCheck:
    """Check every record of a manifest, its image paths, duplicate ids and patients across splits.

    Args:
        path: the JSONL manifest.
        check_files: also report image paths whose file or folder does not exist.
        needs_target: see :func:`validate_record`.

    Returns:
        A :class:`ManifestCheck` listing every problem with its line number and field.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "manifest not found")
    root = image_root(p)
    out = ManifestCheck()
    first_line: dict[str, int] = {}
    patient_splits: dict[str, dict[str, int]] = {}
    with open(p, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            out.records += 1
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.problems.append(f"line {n}: record: not UTF-8 text")
                continue
            except json.JSONDecodeError as e:
                out.problems.append(f"line {n}: record: invalid JSON ({e.msg} at column {e.colno})")
                continue
            except RecursionError:
                out.problems.append(f"line {n}: record: {TOO_DEEP}")
                continue
            out.problems.extend(f"line {n}: {e}" for e in validate_record(rec, needs_target))
            if not isinstance(rec, dict):
                continue
            rid = rec.get("id")
            if isinstance(rid, str):
                if rid in first_line:
                    out.problems.append(f"line {n}: id: '{rid}' already used on line {first_line[rid]}")
                else:
                    first_line[rid] = n
            out.prompt_only += not has_target(rec)
            out.splits[str(rec.get("split"))] += 1
            out.tasks[str(rec.get("task"))] += 1
            images = rec.get("images") if isinstance(rec.get("images"), list) else []
            for i, im in enumerate(images):
                if not isinstance(im, dict) or not isinstance(im.get("path"), str) or not im["path"]:
                    continue
                out.modalities[str(im.get("modality"))] += 1
                try:
                    full = resolve_image_path(root, im["path"])
                except InputError as e:
                    out.problems.append(f"line {n}: images[{i}].path: {e.problem}")
                    continue
                if check_files and not full.exists():
                    out.problems.append(f"line {n}: images[{i}].path: '{im['path']}' not found under {root}")
            pid = rec.get("patient_id")
            if isinstance(pid, str) and pid and rec.get("split") in SPLITS:
                patient_splits.setdefault(pid, {}).setdefault(rec["split"], n)
    if out.records == 0:
        out.problems.append("no records: the manifest is empty")
    for pid, where in patient_splits.items():
        if len(where) > 1:
            lines = ", ".join(f"{s} (line {ln})" for s, ln in sorted(where.items(), key=lambda kv: kv[1]))
            out.problems.append(f"line {max(where.values())}: patient_id: patient '{pid}' is in more than "
                                f"one split: {lines}")
    return out
