"""AnyWord-3M (AnyText's training set) -> OCR records.

Each part of the release (``laion``, ``wukong_1of5`` ..., ``Art``, ``COCO_Text``, ``icdar2017rctw``,
``LSVT``, ``mlt2019``, ``MTWI2018``, ``ReCTS``) has a JSON file (``data.json``, ``data_v1.1.json``)
and an image folder (``imgs/``)::

    {"data_root": "/path/of/the/authors/imgs",
     "data_list": [{"img_name": "000000001.jpg", "caption": "a shop front ...",
                    "annotations": [{"polygon": [[x, y], ...], "text": "三里屯", "language": "Chinese",
                                     "valid": true, "pos": 4}, ...]}, ...]}

``data_root`` is a path on the authors' machine, so images are looked up under ``--images`` (default:
``imgs/`` beside the JSON file when it exists, else the JSON's folder). An annotation with
``"valid": false`` (AnyText's filter: too small, vertical, watermark ...) is counted and not used;
``language`` goes into ``meta.languages``; the image's BLIP caption into ``meta.caption``. SRC is one
JSON file or a folder of them (every ``*.json`` holding a ``data_list``).
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import Conversion, images_ok, read_json
from medmllm.data.formats.text_regions import TextRegion, ocr_records, parse_ocr_tasks, parse_points
from medmllm.errors import InputError
from medmllm.registry import FORMATS


def _json_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    files = sorted(src.rglob("*.json"))
    if not files:
        raise InputError(src, "no AnyWord-3M JSON file (data.json with a data_list)")
    return files


@FORMATS.register("anyword")
def convert_anyword(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                    check_images: bool = True, ocr_tasks: str | None = None) -> Conversion:
    """Convert AnyWord-3M JSON file(s) into OCR records.

    Args:
        src: a ``data.json`` or a folder of them (each part is converted with its own ``imgs/``).
        images: the image root of every file (default: ``imgs/`` beside each JSON file, else its folder).
        split: split written into every record (default ``train``).
        check_images: skip images that are not found.
        ocr_tasks: kinds of records (default all three).
    """
    src = Path(src)
    tasks = parse_ocr_tasks(ocr_tasks)
    files = [f for f in _json_files(src)]
    base = src if src.is_dir() else src.parent
    root_all = Path(images) if images is not None else base
    conv = Conversion(image_root=root_all)
    parts = 0
    for f in files:
        data = read_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("data_list"), list):
            if src.is_file():
                raise InputError(f, "expected an object with a 'data_list' list (AnyWord-3M layout)")
            continue  # another JSON file in the folder
        parts += 1
        own = f.parent / "imgs" if (f.parent / "imgs").is_dir() else f.parent
        # paths are relative to one root for the whole manifest: the part's image folder below it
        prefix = "" if images is not None else own.relative_to(base).as_posix()
        for n, item in enumerate(data["data_list"], start=1):
            name = item.get("img_name") if isinstance(item, dict) else None
            sample = f"{f.parent.name}-{Path(name).stem}" if isinstance(name, str) and name else f"{f.name}#{n}"
            if not isinstance(name, str) or not name or not isinstance(item.get("annotations", []), list):
                conv.skip("image: entry without img_name or annotations list", sample)
                continue
            rel = f"{prefix}/{name}" if prefix and prefix != "." else name
            if not images_ok(conv, root_all, [rel], sample, check_images):
                continue
            regions = []
            for a in item.get("annotations") or []:
                if not isinstance(a, dict):
                    conv.skip("text region: annotation is not an object", sample)
                elif a.get("valid") is False:
                    conv.skip("text region: marked invalid (valid: false)", sample)
                else:
                    pts = parse_points(a.get("polygon"))
                    if pts is None:
                        conv.skip("text region: polygon missing or malformed", sample)
                        continue
                    text = a.get("text") if isinstance(a.get("text"), str) else ""
                    regions.append(TextRegion(pts, text, True, a.get("language")))
            meta = {"caption": item["caption"]} if isinstance(item.get("caption"), str) else {}
            ocr_records(conv, dataset="anyword", sample=sample, image=rel, root=root_all, split=split or "train",
                        regions=regions, tasks=tasks, meta=meta)
    if not parts:
        raise InputError(src, "no JSON file with a 'data_list' (AnyWord-3M layout)")
    conv.notes.append("'text region: ...' skips count regions; the others count images")
    return conv
