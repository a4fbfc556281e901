"""Hugging Face ``datasets`` on disk: a folder written by ``save_to_disk``, or parquet files.

Nothing is fetched from the hub: SRC is a ``Dataset`` / ``DatasetDict`` folder (``state.json`` /
``dataset_dict.json``), a ``.parquet`` file, or a folder of them (``train-00000-of-00002.parquet``,
``data/test-*.parquet``: the split is read from the file name). ``--columns`` names the columns,
``KEY=COLUMN`` pairs, keys:

- ``image`` (default ``image``): a path (relative to ``--images`` or SRC), image bytes, an ``Image``
  feature (``{"bytes", "path"}``), or a list of those. Bytes are written once, named by their
  SHA-256, under ``--images DIR`` (needed then); PNG, JPEG, TIFF and DICOM are recognised;
- ``report`` (default ``report``), or ``findings`` / ``impression``: the target text;
- ``prompt``: a question column (records are then ``vqa``, the target its answer);
- ``context``: clinical context for the prompt; ``id``, ``patient``, ``split``: as named.

Without a ``patient`` column each row is its own patient (the split cannot be checked by patient).
The ``datasets`` package is an optional extra: ``pip install 'medmllm[datasets]'``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from medmllm.data.formats.common import (Conversion, check_split_option, images_ok, note_split_counts, report_request,
                                         split_name, unique_ids, wanted_split)
from medmllm.data.formats.sections import is_empty, report_answer, tidy
from medmllm.data.schema import new_record
from medmllm.errors import InputError, MissingDependencyError
from medmllm.files import atomic_write_bytes
from medmllm.registry import FORMATS

KEYS = ("image", "report", "findings", "impression", "prompt", "context", "id", "patient", "split")
MAGIC = ((b"\x89PNG\r\n\x1a\n", 0, ".png"), (b"\xff\xd8\xff", 0, ".jpg"), (b"II*\x00", 0, ".tif"),
         (b"MM\x00*", 0, ".tif"), (b"DICM", 128, ".dcm"))


def parse_columns(spec: str | None) -> dict[str, str]:
    """``"image=img,report=text"`` -> ``{"image": "img", "report": "text"}`` over the defaults."""
    out = {"image": "image", "report": "report"}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, col = part.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or key not in KEYS or not col:
            raise InputError(None, f"--columns: '{part.strip()}' is not KEY=COLUMN with KEY one of {', '.join(KEYS)}")
        out[key] = col
    if ("findings" in out or "impression" in out) and "report" not in (spec or ""):
        out.pop("report")
    return out


def _datasets():
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError("datasets", "format hf-datasets", extra="datasets") from None
    return datasets


def _tables(src: Path) -> Iterator[tuple[str | None, Any]]:
    """``(split name or None, datasets.Dataset)`` pairs: the splits of a saved dataset, or one parquet
    file at a time (read into memory with pyarrow: nothing is written to the datasets cache)."""
    ds = _datasets()
    if src.is_dir() and ((src / "dataset_dict.json").is_file() or (src / "state.json").is_file()):
        loaded = ds.load_from_disk(str(src))
        if isinstance(loaded, ds.DatasetDict):
            yield from ((split_name(name) or name, loaded[name]) for name in loaded)
        else:
            yield None, loaded
        return
    files = [src] if src.is_file() else sorted(src.rglob("*.parquet"))
    if not files or any(f.suffix != ".parquet" for f in files):
        raise InputError(src, "expected a save_to_disk folder (state.json / dataset_dict.json) or parquet file(s)")
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        m = re.match(r"([A-Za-z]+)", f.name)
        try:
            table = pq.read_table(f)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f, f"not a readable parquet file ({e})") from None
        yield (split_name(m.group(1)) if m else None), ds.Dataset(ds.table.InMemoryTable(table))


def _no_decode(table: Any, column: str) -> Any:
    """The table with ``column`` as ``{"bytes", "path"}`` instead of decoded PIL images."""
    ds = _datasets()
    feat = table.features.get(column)
    if isinstance(feat, ds.Image):
        return table.cast_column(column, ds.Image(decode=False))
    inner = feat.feature if isinstance(feat, ds.Sequence) else feat[0] if isinstance(feat, list) and feat else None
    if isinstance(inner, ds.Image):
        return table.cast_column(column, ds.List(ds.Image(decode=False)))
    return table


def _image_paths(value: Any, root: Path | None) -> tuple[list[str] | None, str | None]:
    """Relative image paths of one cell (bytes written under ``root``), or ``(None, reason)``."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        data, path = (v.get("bytes"), v.get("path")) if isinstance(v, dict) else \
            (v, None) if isinstance(v, (bytes, bytearray)) else (None, v)
        if data:
            ext = next((e for magic, at, e in MAGIC if bytes(data[at:at + len(magic)]) == magic), None)
            if ext is None:
                return None, "image bytes are not PNG, JPEG, TIFF or DICOM"
            if root is None:
                raise InputError(None, "the dataset holds image bytes: give --images DIR to write them to")
            digest = hashlib.sha256(data).hexdigest()[:32]
            rel = f"{digest[:2]}/{digest}{ext}"
            if not (root / rel).is_file():
                atomic_write_bytes(root / rel, bytes(data), fsync=False)
            out.append(rel)
        elif isinstance(path, str) and path:
            out.append(path)
        else:
            return None, "no image in the image column"
    return out, None


@FORMATS.register("hf-datasets")
def convert_hf_datasets(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                        check_images: bool = True, columns: str | None = None) -> Conversion:
    """Convert a Hugging Face dataset saved on disk (``save_to_disk`` folder or parquet).

    Args:
        src: the folder or parquet file.
        images: the image root of path columns, and where image bytes are written.
        split: the split of a dataset without one; for one with splits, the split to keep.
        check_images: skip rows whose image file does not exist.
        columns: ``KEY=COLUMN,...`` (see the module docstring).

    Returns:
        The records and the count of skipped rows per reason.
    """
    src = Path(src)
    check_split_option(split)
    cols = parse_columns(columns)
    root = Path(images) if images is not None else (src if src.is_dir() else src.parent)
    conv = Conversion(image_root=root)
    rows_seen: Counter = Counter()
    for table_split, table in _tables(src):
        missing = [c for k, c in cols.items() if c not in table.column_names and not (k == "image" and k == c)]
        if missing:
            raise InputError(src, f"no column(s) {', '.join(missing)} (columns: {', '.join(table.column_names)}); "
                                  "name them with --columns KEY=COLUMN")
        has_image = cols["image"] in table.column_names
        if has_image:
            table = _no_decode(table, cols["image"])
        for row in table:
            prefix = table_split or split or "train"
            rows_seen[prefix] += 1
            sid = str(row[cols["id"]]) if "id" in cols else f"{prefix}-{rows_seen[prefix] - 1}"
            rec_split = split_name(row.get(cols.get("split", ""))) if "split" in cols else table_split
            if rec_split is None:
                rec_split = split if split not in (None, "any") else "train"
            elif not wanted_split(conv, split, rec_split, sid):
                continue
            if "report" in cols:
                answer, why = tidy(row[cols["report"]]), "empty text column"
                answer = None if is_empty(answer) else answer
            else:
                f, imp = tidy(row.get(cols.get("findings", ""))), tidy(row.get(cols.get("impression", "")))
                answer, why = report_answer(f, imp, "findings-impression" if "impression" in cols else "findings")
            if answer is None:
                conv.skip(why, sid)
                continue
            paths: list[str] = []
            if has_image and row[cols["image"]] is not None:
                got, why = _image_paths(row[cols["image"]], Path(images) if images is not None else None)
                if got is None:
                    conv.skip(why, sid)
                    continue
                paths = got
                if not images_ok(conv, root, paths, sid, check_images):
                    continue
            counts = {"xray": len(paths)}
            if "prompt" in cols:
                user, task = report_request(counts, prompt=tidy(row[cols["prompt"]])), "vqa"
            else:
                user, task = report_request(counts, context=tidy(row.get(cols.get("context", ""))) or None), "report"
            conv.records.append(new_record(
                id=sid, patient_id=str(row[cols["patient"]]) if "patient" in cols else sid, split=rec_split,
                task=task, images=[{"modality": "xray", "path": p} for p in paths],
                report={"findings": answer, "impression": "", "language": "en"} if task == "report" else None,
                messages=[{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
                meta={"source": "hf-datasets"}))
    unique_ids(conv)
    if "patient" not in cols:
        conv.notes.append("no patient column: each row is its own patient (name one with --columns patient=COL)")
    note_split_counts(conv)
    return conv
