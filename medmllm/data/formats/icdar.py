"""ICDAR 2019 LSVT and ICDAR 2017 RCTW-17 (Chinese street and phone text) -> OCR records.

``icdar-lsvt``: SRC is the folder holding ``train_full_labels.json`` (and, if downloaded,
``train_weak_labels.json``) or one of those files. Full labels map an image stem to its regions::

    {"gt_0": [{"transcription": "一站式购物中心", "points": [[45, 272], [215, 273], [212, 296], [42, 294]],
               "illegibility": false}, ...], ...}

Weak labels (the 400k-image subset) give, for most images, one transcription (the "text of
interest") and no usable location; they become ``question`` records flagged ``meta.weak_label``.
Images (``gt_0.jpg``; the release unpacks to ``train_full_images_0/``, ``train_full_images_1/``,
``train_weak_images_*/``) are found by stem anywhere under the image root (``--images``, default the
labels' folder).

``icdar-rctw``: SRC is the folder of ground-truth files (``train_gts/`` or the folder holding both
``image_N.jpg`` and ``image_N.txt``). Each UTF-8 (BOM allowed) line is
``x1,y1,x2,y2,x3,y3,x4,y4,difficult,"text"``; the text may hold commas; ``difficult = 1`` or the
text ``###`` marks an illegible region. Images are found by stem under ``--images`` (default: SRC,
then its parent).

Records: :mod:`medmllm.data.formats.text_regions` (read / region / question).
"""

from __future__ import annotations

import re
from pathlib import Path

from medmllm.data.formats.common import Conversion, read_json
from medmllm.data.formats.text_regions import (
    TextRegion,
    index_images,
    ocr_records,
    parse_ocr_tasks,
    parse_points,
)
from medmllm.errors import InputError
from medmllm.registry import FORMATS

LSVT_FILES = ("train_full_labels.json", "train_weak_labels.json")
_RCTW_LINE = re.compile(r"^\s*((?:-?\d+(?:\.\d+)?\s*,\s*){8})(-?\d+)\s*,(.*)$")


def _lsvt_regions(entries: object) -> tuple[list[TextRegion], bool] | None:
    """Regions of one LSVT image and whether they are a weak label, or None when malformed."""
    if not isinstance(entries, list):
        return None
    regions, located = [], False
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("transcription"), str):
            return None
        pts = parse_points(e.get("points"))
        located |= pts is not None
        regions.append(TextRegion(pts, e["transcription"], not bool(e.get("illegibility", False))))
    return regions, not located


@FORMATS.register("icdar-lsvt")
def convert_icdar_lsvt(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                       check_images: bool = True, ocr_tasks: str | None = None) -> Conversion:
    """Convert ICDAR 2019 LSVT labels (full and weak) into OCR records.

    Args:
        src: the folder holding the label JSON files, or one of them.
        images: the image root (default: the labels' folder); images are found by stem below it.
        split: split written into every record (default ``train``: the test labels are not public).
        check_images: skip images that are not found (without it a missing image keeps the path
            ``<stem>.jpg``; its region records are still skipped: they need the image's size).
        ocr_tasks: kinds of records, e.g. ``read,region`` (default all three).
    """
    src = Path(src)
    tasks = parse_ocr_tasks(ocr_tasks)
    files = [src] if src.is_file() else [src / n for n in LSVT_FILES if (src / n).is_file()]
    if not files:
        raise InputError(src, f"no LSVT labels ({' or '.join(LSVT_FILES)})")
    root = Path(images) if images is not None else files[0].parent
    found = index_images(root)
    conv = Conversion(image_root=root)
    for f in files:
        data = read_json(f)
        if not isinstance(data, dict):
            raise InputError(f, f"expected an object of image stem -> regions, got {type(data).__name__}")
        for stem, entries in data.items():
            parsed = _lsvt_regions(entries)
            if parsed is None:
                conv.skip("image: regions are not a list of {transcription, points, illegibility}", stem)
                continue
            rel = found.get(stem)
            if rel is None and check_images:
                conv.skip("image: image file not found", stem)
                continue
            regions, weak = parsed
            ocr_records(conv, dataset="icdar-lsvt", sample=stem, image=rel or f"{stem}.jpg", root=root,
                        split=split or "train", regions=regions, tasks=tasks, weak=weak,
                        meta={"label_file": f.name})
    weak_n = sum(1 for r in conv.records if r["meta"].get("weak_label"))
    if weak_n:
        conv.notes.append(f"{weak_n} weak-label record(s) (text of interest only, no location): meta.weak_label")
    conv.notes.append("'text region: ...' skips count regions; the others count images")
    return conv


def _rctw_line(line: str) -> TextRegion | None:
    m = _RCTW_LINE.match(line)
    if not m:
        return None
    coords = [float(v) for v in m.group(1).replace(" ", "").rstrip(",").split(",")]
    text = m.group(3).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    pts = parse_points(coords)
    return TextRegion(pts, text, m.group(2) != "1")


@FORMATS.register("icdar-rctw")
def convert_icdar_rctw(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                       check_images: bool = True, ocr_tasks: str | None = None) -> Conversion:
    """Convert RCTW-17 ground-truth text files into OCR records.

    Args:
        src: the folder of ``image_N.txt`` files.
        images: the image root (default: SRC when it holds images, else its parent); found by stem.
        split: split written into every record (default ``train``).
        check_images: skip images that are not found.
        ocr_tasks: kinds of records (default all three).
    """
    src = Path(src)
    tasks = parse_ocr_tasks(ocr_tasks)
    if not src.is_dir():
        raise InputError(src, "expected the folder of RCTW-17 ground-truth files (image_N.txt)")
    gts = sorted(src.glob("*.txt"))
    if not gts:
        raise InputError(src, "no ground-truth .txt files")
    root = Path(images) if images is not None else src
    found = index_images(root)
    if images is None and not found:
        root = src.parent
        found = index_images(root)
    conv = Conversion(image_root=root)
    for gt in gts:
        stem = gt.stem
        try:
            lines = [ln for ln in gt.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
        except UnicodeDecodeError:
            conv.skip("image: ground-truth file is not UTF-8 text", gt.name)
            continue
        regions = []
        for ln in lines:
            r = _rctw_line(ln)
            if r is None:
                conv.skip("text region: line is not x1,y1,...,y4,difficult,\"text\"", gt.name)
            else:
                regions.append(r)
        rel = found.get(stem)
        if rel is None and check_images:
            conv.skip("image: image file not found", stem)
            continue
        ocr_records(conv, dataset="icdar-rctw", sample=stem, image=rel or f"{stem}.jpg", root=root,
                    split=split or "train", regions=regions, tasks=tasks)
    conv.notes.append("'text region: ...' skips count regions; the others count images")
    return conv
