"""Image-caption pairs (WuKong style, Chinese captions): CSV / TSV, parquet or JSONL of path + caption.

SRC is one file or a folder of them (``*.csv``, ``*.tsv``, ``*.parquet``, ``*.jsonl``, ``*.json``). The
columns are found by name (first match): image ``path``, ``image``, ``image_path``, ``file_name``,
``filename``, ``file``, ``dir``; caption ``caption``, ``text``, ``title``, ``description``; or named with
``--columns image=COL,caption=COL``. WuKong's released CSVs name the image by its URL (``dir``): medmllm
fetches nothing, so a URL is counted as skipped ("download the images first") unless a local path
column exists. A parquet image column may hold bytes (written once under ``--images``, as
``hf-datasets`` does).

Each pair becomes a ``caption`` record: the request in the caption's language (Chinese when most of
its letters are CJK: ``请用一句话描述这张图片。``, else ``Describe the image in one sentence.``), the
caption as the assistant's turn, ``meta.language`` ``zh`` or ``en``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from medmllm.data.formats.common import XRAY, Conversion, images_ok, read_csv_rows, read_json_or_jsonl, unique_ids
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS

IMAGE_COLUMNS = ("path", "image", "image_path", "file_name", "filename", "file", "dir")
CAPTION_COLUMNS = ("caption", "text", "title", "description")
EXTS = (".csv", ".tsv", ".parquet", ".jsonl", ".json")
PROMPTS = {"zh": "请用一句话描述这张图片。", "en": "Describe the image in one sentence."}


def caption_language(text: str) -> str:
    """``zh`` when most letters of ``text`` are CJK ideographs, else ``en``."""
    letters = [c for c in text if c.isalpha()]
    cjk = sum(1 for c in letters if "\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff")
    return "zh" if letters and cjk * 2 >= len(letters) else "en"


def _columns(spec: str | None) -> dict[str, str]:
    out = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, col = (s.strip() for s in part.partition("="))
        if not sep or key not in ("image", "caption", "id") or not col:
            raise InputError(None, f"--columns: '{part.strip()}' is not KEY=COLUMN with KEY image, caption or id")
        out[key] = col
    return out


def _rows(f: Path) -> Iterator[dict[str, Any]]:
    suffix = f.suffix.lower()
    if suffix in (".csv", ".tsv"):
        if suffix == ".tsv":
            try:
                with open(f, encoding="utf-8-sig", newline="") as fh:
                    yield from csv.DictReader(fh, delimiter="\t")
            except UnicodeDecodeError:
                raise InputError(f, "not UTF-8 text") from None
            return
        yield from read_csv_rows(f)[1]
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(f)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f, f"not a readable parquet file ({e})") from None
        yield from table.to_pylist()
    else:
        items = read_json_or_jsonl(f)
        if not isinstance(items, list):
            raise InputError(f, f"expected a JSON array or JSONL of objects, got {type(items).__name__}")
        yield from items


def _pick(row: dict[str, Any], given: str | None, names: tuple[str, ...]) -> str | None:
    if given is not None:
        return given if given in row else None
    return next((n for n in names if n in row), None)


@FORMATS.register("image-text-pairs")
def convert_image_text_pairs(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                             check_images: bool = True, columns: str | None = None) -> Conversion:
    """Convert image-caption pair files into ``caption`` records.

    Args:
        src: a CSV / TSV / parquet / JSONL / JSON file, or a folder of them.
        images: the image root of path columns (default: SRC's folder), where image bytes are written.
        split: split written into every record (default ``train``).
        check_images: skip pairs whose image file does not exist.
        columns: ``image=COL,caption=COL[,id=COL]`` when the names differ from the usual ones.
    """
    src = Path(src)
    cols = _columns(columns)
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.suffix.lower() in EXTS)
    if not files:
        raise InputError(src, f"no pair files ({', '.join(EXTS)})")
    if src.is_file() and src.suffix.lower() not in EXTS:
        raise InputError(src, f"expected a {', '.join(EXTS)} file")
    root = Path(images) if images is not None else (src if src.is_dir() else src.parent)
    conv = Conversion(image_root=root)
    for f in files:
        for n, row in enumerate(_rows(f), start=1):
            sid = f"{f.stem}-{n}"
            if not isinstance(row, dict):
                conv.skip("row is not an object", sid)
                continue
            icol, ccol = _pick(row, cols.get("image"), IMAGE_COLUMNS), _pick(row, cols.get("caption"), CAPTION_COLUMNS)
            if icol is None or ccol is None:
                raise InputError(f, f"no {'image' if icol is None else 'caption'} column (columns: "
                                    f"{', '.join(map(str, row))}); name it with --columns image=COL,caption=COL")
            if cols.get("id") and row.get(cols["id"]) not in (None, ""):
                sid = str(row[cols["id"]])
            caption = row.get(ccol)
            caption = caption.strip() if isinstance(caption, str) else ""
            if not caption:
                conv.skip("empty caption", sid)
                continue
            value = row.get(icol)
            if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
                conv.skip("image is a URL (download the images first; medmllm fetches nothing)", sid)
                continue
            if isinstance(value, (bytes, bytearray, dict)):
                from medmllm.data.formats.hf_datasets import _image_paths

                paths, why = _image_paths(value, Path(images) if images is not None else None)
                if paths is None:
                    conv.skip(why, sid)
                    continue
                rel = paths[0]
            elif isinstance(value, str) and value.strip():
                rel = value.strip()
            else:
                conv.skip("no image in the image column", sid)
                continue
            if not images_ok(conv, root, [rel], sid, check_images):
                continue
            lang = caption_language(caption)
            conv.records.append(new_record(
                id=f"pair-{sid}", split=split or "train", task="caption",
                images=[{"modality": "xray", "path": rel}],
                messages=[{"role": "user", "content": f"{XRAY}\n{PROMPTS[lang]}"},
                          {"role": "assistant", "content": caption}],
                meta={"source": "image-text-pairs", "file": f.name, "language": lang}))
    unique_ids(conv)
    langs = {lang: sum(1 for r in conv.records if r["meta"]["language"] == lang) for lang in PROMPTS}
    conv.notes.append(f"caption languages: zh {langs['zh']}, en {langs['en']}")
    return conv
