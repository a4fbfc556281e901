"""DocVQA and InfographicVQA QA files -> manifest records (``vqa``, one per question).

Both releases ship one JSON per split (``train_v1.0.json``, ``val_v1.0.json``;
``infographicsVQA_train_v1.0.json``, ``infographicsVQA_val_v1.0_withQT.json`` ...)::

    {"dataset_name": "infographicVQA", "dataset_split": "val",
     "data": [{"questionId": 65718, "question": "...", "image_local_name": "37313.jpeg",
               "answers": ["..."], "answer_type": [...], "evidence": [...], "operation/reasoning": [...]}]}

DocVQA names the image ``"image": "documents/xyz.png"`` (relative to the split folder) and has
``question_types``; InfographicVQA names it ``image_local_name`` (in ``infographicsvqa_images/``).
Questions without answers (the test splits, scored on the RRC server) are counted as skipped. The
image root defaults to the JSON's folder, or its ``infographicsvqa_images/`` / ``images/`` folder
for InfographicVQA when there is one.
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import (XRAY, Conversion, images_ok, note_split_counts, read_json, split_name,
                                         user_turn, wanted_split, check_split_option)
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS

PROMPT = "Answer the question using a single word or phrase."
INFO_IMAGE_DIRS = ("infographicsvqa_images", "images")


def _convert(src: Path, benchmark: str, image_key: str, images: str | Path | None, split: str | None,
             check_images: bool) -> Conversion:
    check_split_option(split)
    if not src.is_file():
        raise InputError(src, f"expected the {benchmark} QA JSON file")
    data = read_json(src)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(src, "expected an object with a 'data' list of questions")
    if images is not None:
        root = Path(images)
    else:
        dirs = [src.parent / d for d in INFO_IMAGE_DIRS] if benchmark == "infovqa" else []
        root = next((d for d in dirs if d.is_dir()), src.parent)
    file_split = split_name(data.get("dataset_split"))
    conv = Conversion(image_root=root)
    for n, q in enumerate(data["data"]):
        qid = str(q.get("questionId", f"#{n}")) if isinstance(q, dict) else f"#{n}"
        if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(q.get(image_key), str):
            conv.skip(f"question needs question and {image_key}", qid)
            continue
        rec_split = split_name(q.get("data_split")) or file_split or "test"
        if not wanted_split(conv, split, rec_split, qid):
            continue
        answers = [a.strip() for a in q.get("answers") or [] if isinstance(a, str) and a.strip()]
        if not answers:
            conv.skip("no answers (test split: scored on the RRC server)", qid)
            continue
        if not images_ok(conv, root, [q[image_key]], qid, check_images):
            continue
        meta = {"benchmark": benchmark, "question_id": qid, "question": q["question"].strip(), "answers": answers}
        for key in ("question_types", "answer_type", "evidence", "operation/reasoning"):
            if q.get(key) is not None:
                meta[key.replace("/", "_")] = q[key]
        conv.records.append(new_record(
            id=f"{benchmark}-{qid}", split=rec_split, task="vqa", images=[{"modality": "xray", "path": q[image_key]}],
            messages=user_turn(f"{XRAY}\n{q['question'].strip()}\n{PROMPT}"), answer=answers[0], meta=meta))
    note_split_counts(conv)
    return conv


@FORMATS.register("docvqa")
def convert_docvqa(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                   check_images: bool = True) -> Conversion:
    """Convert a DocVQA QA file (``val_v1.0.json`` ...); images relative to ``images`` (default: its folder)."""
    return _convert(Path(src), "docvqa", "image", images, split, check_images)


@FORMATS.register("infovqa")
def convert_infovqa(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                    check_images: bool = True) -> Conversion:
    """Convert an InfographicVQA QA file (``infographicsVQA_val_v1.0_withQT.json`` ...)."""
    return _convert(Path(src), "infovqa", "image_local_name", images, split, check_images)
