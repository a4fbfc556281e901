"""What every converter shares: the result with counted skips, JSON reading, prompts, image checks.

A converter is a function registered in :data:`medmllm.registry.FORMATS` that takes the source path
and keyword-only options and returns a :class:`Conversion`: the records plus a count of every
sample it skipped, grouped by reason, so nothing is ever dropped silently. The converters of the
general benchmarks live beside their scorers (``medmllm/evaluation/benchmarks/<name>/convert.py``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from medmllm.data.schema import PLACEHOLDERS, SPLITS, resolve_image_path
from medmllm.errors import InputError

log = logging.getLogger(__name__)

XRAY = PLACEHOLDERS["xray"]
CT = PLACEHOLDERS["ct"]
MAX_EXAMPLES = 3


@dataclass
class Conversion:
    """Result of one conversion.

    Attributes:
        records: manifest records (see :func:`medmllm.data.schema.new_record`).
        image_root: the folder the records' image paths are relative to.
        skipped: reason -> number of samples skipped for it.
        examples: reason -> the first few sample ids skipped for it.
        notes: other facts worth telling the user (choices made, renamed ids ...).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    image_root: Path | None = None
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, sample: Any = None) -> None:
        """Count one skipped sample under ``reason`` (``sample`` names it in the examples)."""
        self.skipped[reason] += 1
        if sample is not None:
            ex = self.examples.setdefault(reason, [])
            if len(ex) < MAX_EXAMPLES:
                ex.append(str(sample))

    @property
    def converted(self) -> int:
        return len(self.records)

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary_lines(self) -> list[str]:
        """``converted N, skipped M`` then one line per skip reason (most frequent first) and the notes."""
        lines = [f"converted {self.converted}, skipped {self.num_skipped}"]
        for reason, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            ex = self.examples.get(reason)
            lines.append(f"  skipped {n}: {reason}" + (f" (e.g. {', '.join(ex)})" if ex else ""))
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; errors name the file and where it breaks."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    try:
        return json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(p, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise InputError(p, f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None


def read_json_or_jsonl(path: str | os.PathLike) -> list[Any]:
    """A JSON array, or JSONL (one object per line): the list of items either way."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(p, "not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(p, f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        return data
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise InputError(p, f"line {n}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not items:
        raise InputError(p, "no samples (expected a JSON array or JSONL)")
    return items


def json_samples(src: Path, conv: Conversion) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(number, sample)`` of each JSON object of a JSON array or JSONL file; anything else is skipped and counted."""
    items = read_json_or_jsonl(src)
    if not isinstance(items, list):
        raise InputError(src, f"expected a JSON array of samples, got {type(items).__name__}")
    for n, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield n, item
        else:
            conv.skip("sample is not a JSON object", f"#{n}")


def image_problem(root: Path, rel: str, check: bool) -> str | None:
    """Why image path ``rel`` is unusable (outside ``root``; missing, with ``check``), or None."""
    try:
        full = resolve_image_path(root, rel)
    except InputError as e:
        return "image path leaves the image root" if "leaves" in e.problem else "image path is not relative"
    if check and not full.exists():
        return "image file not found"
    return None


def images_ok(conv: Conversion, root: Path, paths: list[str], sample_id: str, check: bool) -> bool:
    """True when every path is usable; otherwise count one skip under the first problem."""
    for rel in paths:
        why = image_problem(root, rel, check)
        if why:
            conv.skip(why, sample_id)
            return False
    return True


def user_turn(content: str) -> list[dict[str, str]]:
    """Messages of a benchmark record: one user turn, no assistant turn."""
    return [{"role": "user", "content": content}]


def unique_ids(conv: Conversion) -> None:
    """Make record ids unique by suffixing ``#2``, ``#3`` ...; say how many were renamed."""
    seen: Counter = Counter()
    renamed = 0
    for rec in conv.records:
        seen[rec["id"]] += 1
        if seen[rec["id"]] > 1:
            rec["id"] = f"{rec['id']}#{seen[rec['id']]}"
            renamed += 1
    if renamed:
        conv.notes.append(f"{renamed} duplicate id(s) renamed with a '#n' suffix")


# ---- shared by the converters of datasets with patients and published splits ---------------------

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
               "validation": "val", "dev": "val", "test": "test", "testing": "test"}


def split_name(value: Any) -> str | None:
    """A dataset's split name (``validate``, ``valid``, ``validation`` ...) as a manifest split, or None."""
    return SPLIT_NAMES.get(str(value).strip().lower()) if value not in (None, "") else None


def hash_split(key: str, *, val: float = 0.1, test: float = 0.1) -> str:
    """A fixed split from a hash of ``key`` (the patient), in tenths: no patient is in two splits.

    The first ``test`` tenths of the SHA-256 decile go to ``test``, the next ``val`` tenths to ``val``.
    """
    t, v = round(test * 10), round(val * 10)
    if abs(t - test * 10) > 1e-9 or abs(v - val * 10) > 1e-9 or t + v > 10:
        raise ValueError(f"split fractions must be tenths that sum to at most 1, got val={val}, test={test}")
    decile = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10
    return "test" if decile < t else "val" if decile < t + v else "train"


def wanted_split(conv: Conversion, split: str | None, record_split: str, sample_id: str) -> bool:
    """``--split`` keeps one split of a dataset with splits: True when ``record_split`` is kept
    (the others are counted, never dropped silently)."""
    if split in (None, "any", record_split):
        return True
    conv.skip(f"in split {record_split} (--split {split})", sample_id)
    return False


def check_split_option(split: str | None) -> None:
    """``--split`` of a dataset with splits must name one (or ``any``)."""
    if split not in (None, "any") and split not in SPLITS:
        raise InputError(None, f"--split: '{split}' is not one of {', '.join(SPLITS)} or any")


def note_split_counts(conv: Conversion) -> None:
    """Add ``split counts: train N, val N, test N`` to the notes (printed by ``prepare``)."""
    counts = Counter(r["split"] for r in conv.records)
    conv.notes.append("split counts: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in SPLITS))


def read_csv_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (``.csv`` or gzip-compressed ``.csv.gz``, as MIMIC ships them).

    Errors name the file (not found, not UTF-8, not CSV); values are strings, ``""`` when blank.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    try:
        with open(p, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        opener = gzip.open if gz else open
        with opener(p, "rt", encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError:
        raise InputError(p, "not UTF-8 text") from None
    except (OSError, EOFError, csv.Error) as e:
        raise InputError(p, f"not a readable CSV file ({e})") from None
    if not header:
        raise InputError(p, "empty CSV file (no header line)")
    return header, rows


def require_columns(path: str | os.PathLike, header: list[str], columns: tuple[str, ...]) -> None:
    """One error naming the file and the missing columns."""
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)} (has: {', '.join(header[:12])}"
                               f"{' ...' if len(header) > 12 else ''})")


def find_file(folder: Path, patterns: tuple[str, ...], what: str, required: bool = True) -> Path | None:
    """The one file in ``folder`` matching the first pattern that matches (e.g. ``*-split.csv.gz``)."""
    for pat in patterns:
        hits = sorted(folder.glob(pat))
        if len(hits) > 1:
            raise InputError(folder, f"several {what} files ({', '.join(h.name for h in hits[:3])}); keep one")
        if hits:
            return hits[0]
    if required:
        raise InputError(folder, f"no {what} file ({' or '.join(patterns)})")
    return None


def report_request(images: dict[str, int], prompt: str | None = None, context: str | None = None,
                   language: str = "en") -> str:
    """The user turn of a converted report sample, built by the one prompt builder
    (:mod:`medmllm.data.prompts`): one placeholder per image, the clinical context in the builder's
    frame, then ``prompt`` (default: the generic request, "Write the radiology report.")."""
    from medmllm.data.prompts import DEFAULT_PROMPTS, build_messages

    instruction = prompt or DEFAULT_PROMPTS.get(language, DEFAULT_PROMPTS["en"])["none"]
    return build_messages(images, instruction, context, language=language)[0]["content"]
