"""MLLM-Bench questions -> manifest: ``data/questions.json``, open questions about one image each.

``image_path`` is relative to the folder holding ``questions.json``. Records are task ``open``
with no reference answer (the benchmark compares two models' answers with a judge).
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import XRAY, Conversion, images_ok, read_json, user_turn
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS


@FORMATS.register("mllm-bench")
def convert_mllm_bench(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                       check_images: bool = True) -> Conversion:
    """Convert MLLM-Bench questions.

    Args:
        src: the benchmark folder (holding ``data/questions.json``) or the JSON file itself.
        images: image root of ``image_path`` (default: the JSON's folder).
        split: split written into every record (default ``test``).
        check_images: skip questions whose image file does not exist.

    Returns:
        The records and the count of skipped questions per reason.
    """
    src = Path(src)
    if src.is_dir():
        src = src / "data" / "questions.json" if (src / "data" / "questions.json").is_file() else src / "questions.json"
    items = read_json(src)
    if not isinstance(items, list):
        raise InputError(src, f"expected a JSON list of questions, got {type(items).__name__}")
    root = Path(images) if images is not None else src.parent
    conv = Conversion(image_root=root)
    for n, q in enumerate(items, start=1):
        if not isinstance(q, dict):
            conv.skip("question is not a JSON object", f"#{n}")
            continue
        qid = q.get("id")
        if qid is None or isinstance(qid, (dict, list, bool)):
            conv.skip("missing id", f"#{n}")
            continue
        qid = str(qid)
        question = q.get("question")
        if not isinstance(question, str) or not question.strip():
            conv.skip("no question", qid)
            continue
        path = q.get("image_path")
        if not isinstance(path, str) or not path:
            conv.skip("no image_path", qid)
            continue
        if not images_ok(conv, root, [path], qid, check_images):
            continue
        meta = q.get("meta") if isinstance(q.get("meta"), dict) else {}
        conv.records.append(new_record(
            id=f"mllm-bench-{qid}", split=split or "test", task="open",
            images=[{"modality": "xray", "path": path}], messages=user_turn(f"{XRAY}\n{question.strip()}"),
            answer=None,
            meta={"benchmark": "mllm-bench", "question_id": qid, "level": meta.get("level"),
                  "capability": meta.get("capability"),
                  "question_type": meta.get("question type", meta.get("question_type")),
                  "question": question.strip()}))
    return conv
