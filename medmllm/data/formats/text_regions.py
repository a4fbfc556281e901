"""OCR annotations -> manifest records: what the text-reading converters share.

An OCR release annotates each image with text regions (a polygon, its transcription, whether it is
legible). :func:`ocr_records` turns one image's regions into records of three kinds, each a ``vqa``
record whose ``meta.ocr_task`` names the kind and whose answer is text (so the ``ocr`` benchmark
scores all three by characters):

- ``read``: "Read all the text in the image." -> the legible transcriptions in reading order (top to
  bottom, then left to right), one per line;
- ``region``: "What does the text in the box [x1, y1, x2, y2] say?" -> that region's text; the box
  is the polygon's bounding box in 0-1000 coordinates of the image's width and height (the
  resolution-free convention of Qwen-VL and InternVL);
- ``question``: "What does the most prominent text in the image say?" -> the largest legible region
  (by polygon area), or, for weakly labelled images, the one transcription the release gives (LSVT's
  "text of interest").

Illegible regions (``###`` or an illegibility flag), empty transcriptions and invalid polygons are
counted by reason in the conversion (one count per region), never turned into targets; an image whose
regions are all unusable gives no record and is counted once more under "no legible text".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from medmllm.data.formats.common import XRAY, Conversion
from medmllm.data.schema import new_record
from medmllm.errors import InputError

ILLEGIBLE = "###"
OCR_TASKS = ("read", "region", "question")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
PROMPTS = {"read": "Read all the text in the image.",
           "region": "What does the text in the box {box} say? The box is [x1, y1, x2, y2] in 0-1000 image "
                     "coordinates.",
           "question": "What does the most prominent text in the image say?"}


@dataclass
class TextRegion:
    """One annotated text region: ``points`` ``[(x, y), ...]`` in pixels (None: no location)."""

    points: list[tuple[float, float]] | None
    text: str
    legible: bool = True
    language: str | None = None


def parse_ocr_tasks(spec: str | None) -> tuple[str, ...]:
    """``"read,region"`` -> ``("read", "region")``; None -> all three kinds.

    Raises:
        InputError: an unknown kind (``--ocr-tasks``).
    """
    if spec is None:
        return OCR_TASKS
    kinds = tuple(k.strip() for k in spec.split(",") if k.strip())
    bad = [k for k in kinds if k not in OCR_TASKS]
    if bad or not kinds:
        raise InputError(None, f"--ocr-tasks: '{spec}' must name some of {', '.join(OCR_TASKS)}")
    return kinds


def index_images(root: Path) -> dict[str, str]:
    """``{file stem: path relative to root}`` of every image under ``root`` (first one in sorted order wins).

    OCR releases name images by their annotation's stem (``gt_12`` -> ``train_full_images_0/gt_12.jpg``)
    and ship them in one or several folders; indexing once finds them wherever they were unpacked.
    """
    out: dict[str, str] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if ext.lower() in IMAGE_EXTS and stem not in out:
                out[stem] = Path(os.path.relpath(os.path.join(dirpath, name), root)).as_posix()
    return out


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` read from the image header, or None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError):
        return None


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """Shoelace area of a polygon (pixels^2)."""
    n = len(points)
    return abs(sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
                   for i in range(n))) / 2.0


def parse_points(value: Any) -> list[tuple[float, float]] | None:
    """``[[x, y], ...]`` or a flat ``[x1, y1, x2, y2, ...]`` as at least 3 points, or None."""
    if not isinstance(value, list):
        return None
    if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if len(value) % 2:
            return None
        value = [value[i:i + 2] for i in range(0, len(value), 2)]
    pts = []
    for p in value:
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)):
            return None
        pts.append((float(p[0]), float(p[1])))
    return pts if len(pts) >= 3 else None


def box_1000(points: Sequence[tuple[float, float]], size: tuple[int, int]) -> list[int]:
    """Bounding box ``[x1, y1, x2, y2]`` of a polygon in 0-1000 coordinates of an image ``(w, h)``."""
    w, h = size
    xs, ys = [p[0] for p in points], [p[1] for p in points]

    def scale(v: float, n: int) -> int:
        return max(0, min(1000, round(1000 * v / n)))

    return [scale(min(xs), w), scale(min(ys), h), scale(max(xs), w), scale(max(ys), h)]


def _reading_order(regions: list[TextRegion]) -> list[TextRegion]:
    def key(r: TextRegion) -> tuple[float, float]:
        if not r.points:
            return (float("inf"), float("inf"))
        return (min(p[1] for p in r.points), min(p[0] for p in r.points))

    return sorted(regions, key=key)


def usable_regions(conv: Conversion, regions: list[TextRegion], sample: str) -> list[TextRegion]:
    """The regions that can be targets; the others are counted by reason."""
    out = []
    for r in regions:
        text = r.text.strip() if isinstance(r.text, str) else ""
        if not r.legible or text == ILLEGIBLE:
            conv.skip("text region: illegible (###)", sample)
        elif not text:
            conv.skip("text region: empty transcription", sample)
        else:
            out.append(TextRegion(r.points, text, True, r.language))
    return out


def ocr_records(conv: Conversion, *, dataset: str, sample: str, image: str, root: Path, split: str,
                regions: list[TextRegion], tasks: Sequence[str], weak: bool = False,
                meta: dict[str, Any] | None = None) -> int:
    """Append the records of one image (see the module docstring); returns how many were added.

    Args:
        conv: the conversion records and skips go to.
        dataset: the format name (``icdar-lsvt`` ...), written into ``meta.dataset`` and the ids.
        sample: the image's id in the release (ids are ``<dataset>-<sample>-<kind>[-<n>]``).
        image: the image path relative to ``root``.
        root: the image root (the image header gives the size that region boxes need).
        split: the record split.
        regions: the image's annotated regions (illegible ones included: they are counted here).
        tasks: the kinds to write (:data:`OCR_TASKS`).
        weak: the regions are a weak label (one transcription, no location): only ``question``.
        meta: extra fields for ``meta``.
    """
    good = usable_regions(conv, regions, sample)
    if not good:
        conv.skip("image: no legible text", sample)
        return 0
    base = {"benchmark": "ocr", "dataset": dataset, "image_id": sample, **(meta or {})}
    langs = sorted({r.language for r in good if r.language})
    if langs:
        base["languages"] = langs
    added: list[tuple[str, str, str, dict[str, Any]]] = []  # (id suffix, prompt, answer, meta)
    if weak:
        if "question" in tasks:
            added.append(("question", PROMPTS["question"], good[0].text, {"ocr_task": "question", "weak_label": True}))
    else:
        located = [r for r in good if r.points]
        if "read" in tasks:
            added.append(("read", PROMPTS["read"], "\n".join(r.text for r in _reading_order(good)),
                          {"ocr_task": "read", "n_regions": len(good)}))
        size = image_size(root / image) if ("region" in tasks and located) else None
        if "region" in tasks and located and size is None:
            conv.skip("region records: image size unreadable (image missing or not an image)", sample)
        elif "region" in tasks:
            for n, r in enumerate(_reading_order(located)):
                box = box_1000(r.points, size)
                added.append((f"region-{n}", PROMPTS["region"].format(box=box), r.text,
                              {"ocr_task": "region", "box_1000": box, "polygon": [list(p) for p in r.points]}))
        if "question" in tasks and located:
            top = max(located, key=lambda r: polygon_area(r.points))
            added.append(("question", PROMPTS["question"], top.text, {"ocr_task": "question"}))
    for suffix, prompt, answer, extra in added:
        conv.records.append(new_record(
            id=f"{dataset}-{sample}-{suffix}", split=split, task="vqa", images=[{"modality": "xray", "path": image}],
            messages=[{"role": "user", "content": f"{XRAY}\n{prompt}"}, {"role": "assistant", "content": answer}],
            answer=answer, meta={**base, **extra}))
    return len(added)
