"""ChartQA and DVQA releases -> manifest records (``vqa``, one per question).

``chartqa``: SRC is the ``ChartQA Dataset`` folder (``train/``, ``val/``, ``test/``), one split folder,
or one QA file. Each split folder holds ``<split>_human.json`` (ChartQA-H) and
``<split>_augmented.json`` (ChartQA-M), lists of ``{"imgname": "41699051005347.png", "query": "...",
"label": "..."}``, and the charts in ``png/``. Entries have no ids: a question is named
``<split>-<human|augmented>-<n>`` (its position in the file).

``dvqa``: SRC is the folder holding ``qa/`` (or the QA files) and ``images/``: ``train_qa.json``,
``val_easy_qa.json``, ``val_hard_qa.json``, lists of ``{"question_id", "image": "bar_val_easy_00000001.png",
"question", "answer", "template_id": "structure" | "data" | "reasoning", "answer_bbox"}``. ``train`` ->
split train; ``val_easy`` / ``val_hard`` (the paper's test-familiar / test-novel) -> test, with
``meta.subset`` easy / hard.

``--split S`` keeps one split (the others are counted as skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medmllm.data.formats.common import (XRAY, Conversion, check_split_option, images_ok, note_split_counts,
                                         read_json, user_turn, wanted_split)
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.chartqa import SHORT_ANSWER
from medmllm.registry import FORMATS

CHARTQA_SPLITS = {"train": "train", "val": "val", "test": "test"}
CHARTQA_SUBSETS = ("human", "augmented")
DVQA_FILES = {"train_qa.json": ("train", "train"), "val_easy_qa.json": ("test", "easy"),
              "val_hard_qa.json": ("test", "hard")}


def _chartqa_files(src: Path) -> list[tuple[Path, str, str]]:
    """``(qa file, split, subset)`` of a ChartQA release folder, split folder or file."""
    if src.is_file():
        split, _, subset = src.stem.partition("_")
        if split not in CHARTQA_SPLITS or subset not in CHARTQA_SUBSETS:
            raise InputError(src, "expected a ChartQA file named <train|val|test>_<human|augmented>.json")
        return [(src, split, subset)]
    folders = [src / s for s in CHARTQA_SPLITS if (src / s).is_dir()] or [src]
    out = [(f / f"{f.name}_{sub}.json", f.name, sub) for f in folders for sub in CHARTQA_SUBSETS
           if (f / f"{f.name}_{sub}.json").is_file()]
    if not out:
        raise InputError(src, "no ChartQA QA file (<split>/<split>_human.json, <split>_augmented.json)")
    return out


def _question(record_id: str, split: str, image: str, question: str, answer: str,
              meta: dict[str, Any]) -> dict[str, Any]:
    return new_record(id=record_id, split=split, task="vqa", images=[{"modality": "xray", "path": image}],
                      messages=user_turn(f"{XRAY}\n{question}\n{SHORT_ANSWER}"), answer=answer,
                      meta={**meta, "question": question})


@FORMATS.register("chartqa")
def convert_chartqa(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                    check_images: bool = True) -> Conversion:
    """Convert a ChartQA release (see the module docstring).

    Args:
        src: the release folder, a split folder or one QA file.
        images: the image root (default: the release folder; charts are ``<split>/png/<imgname>``).
        split: keep only this split.
        check_images: skip questions whose chart is missing.
    """
    src = Path(src)
    check_split_option(split)
    files = _chartqa_files(src)
    # the image root: the folder above the split folders, so one manifest can hold every split
    top = src.parent.parent if src.is_file() else (src if any((src / s).is_dir() for s in CHARTQA_SPLITS)
                                                     else src.parent)
    root = Path(images) if images is not None else top
    conv = Conversion(image_root=root)
    for f, fsplit, subset in files:
        items = read_json(f)
        if not isinstance(items, list):
            raise InputError(f, f"expected a list of questions, got {type(items).__name__}")
        for n, q in enumerate(items):
            qid = f"{fsplit}-{subset}-{n}"
            if not wanted_split(conv, split, CHARTQA_SPLITS[fsplit], qid):
                continue
            if not isinstance(q, dict) or not all(isinstance(q.get(k), str) and q[k].strip()
                                                  for k in ("imgname", "query", "label")):
                conv.skip("question needs imgname, query and label", qid)
                continue
            image = q["imgname"] if images is not None else f"{fsplit}/png/{q['imgname']}"
            if not images_ok(conv, root, [image], qid, check_images):
                continue
            conv.records.append(_question(f"chartqa-{qid}", CHARTQA_SPLITS[fsplit], image, q["query"].strip(),
                                          q["label"].strip(), {"benchmark": "chartqa", "question_id": qid,
                                                               "subset": subset, "imgname": q["imgname"]}))
    note_split_counts(conv)
    return conv


@FORMATS.register("dvqa")
def convert_dvqa(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                 check_images: bool = True) -> Conversion:
    """Convert a DVQA release (see the module docstring).

    Args:
        src: the folder holding ``qa/`` and ``images/`` (or a QA file).
        images: the image root (default: ``images/`` of the release).
        split: keep only this split (``train`` or ``test``).
        check_images: skip questions whose chart is missing.
    """
    src = Path(src)
    check_split_option(split)
    if src.is_file():
        files, base = [src], src.parent.parent if src.parent.name == "qa" else src.parent
    else:
        qa = src / "qa" if (src / "qa").is_dir() else src
        files, base = [qa / n for n in DVQA_FILES if (qa / n).is_file()], src
    if not files or any(f.name not in DVQA_FILES for f in files):
        raise InputError(src, f"no DVQA QA file ({', '.join(DVQA_FILES)})")
    root = Path(images) if images is not None else (base / "images" if (base / "images").is_dir() else base)
    conv = Conversion(image_root=root)
    for f in files:
        fsplit, subset = DVQA_FILES[f.name]
        items = read_json(f)
        if not isinstance(items, list):
            raise InputError(f, f"expected a list of questions, got {type(items).__name__}")
        for n, q in enumerate(items):
            qid = str(q.get("question_id", f"{f.stem}#{n}")) if isinstance(q, dict) else f"{f.stem}#{n}"
            if not wanted_split(conv, split, fsplit, qid):
                continue
            if not isinstance(q, dict) or not all(isinstance(q.get(k), str) and q[k].strip()
                                                  for k in ("image", "question")) or q.get("answer") in (None, ""):
                conv.skip("question needs image, question and answer", qid)
                continue
            if not images_ok(conv, root, [q["image"]], qid, check_images):
                continue
            conv.records.append(_question(
                f"dvqa-{qid}", fsplit, q["image"], q["question"].strip(), str(q["answer"]).strip(),
                {"benchmark": "dvqa", "question_id": qid, "subset": subset, "template_id": q.get("template_id")}))
    note_split_counts(conv)
    return conv
