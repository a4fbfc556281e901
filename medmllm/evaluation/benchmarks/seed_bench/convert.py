"""SEED-Bench questions -> manifest (v1 layout; v2 and SEED-Bench-H use the same question fields).

``SEED-Bench.json`` holds ``question_type`` (dimension name -> id) and ``questions``; ``data_id``
names the image file under the image root (a list of names for multi-image items). Video items
(``data_type`` containing "video") are skipped and counted unless ``include_video`` is set, in
which case they are kept with the video file as their path (medmllm's loader does not decode
video: extract a frame per item yourself and point ``data_id`` at it).
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import Conversion, images_ok, read_json, user_turn
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mcq import LETTERS, mcq_prompt
from medmllm.registry import FORMATS

CHOICE_KEYS = ("choice_a", "choice_b", "choice_c", "choice_d")


@FORMATS.register("seed-bench")
def convert_seed_bench(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                       check_images: bool = True, include_video: bool = False) -> Conversion:
    """Convert SEED-Bench questions.

    Args:
        src: ``SEED-Bench.json``.
        images: image root of the ``data_id`` names (default: the JSON's folder).
        split: split written into every record (default ``test``).
        check_images: skip questions whose image file does not exist.
        include_video: keep video questions instead of skipping them.

    Returns:
        The records and the count of skipped questions per reason.
    """
    src = Path(src)
    if src.is_dir():
        src = src / "SEED-Bench.json"
    data = read_json(src)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise InputError(src, "expected an object with a 'questions' list")
    qtypes = data.get("question_type") or {}
    if not isinstance(qtypes, dict):
        raise InputError(src, "'question_type' is not an object of dimension name -> id")
    dim_of = {int(v): str(k) for k, v in qtypes.items() if str(v).lstrip("-").isdigit()}
    root = Path(images) if images is not None else src.parent
    conv = Conversion(image_root=root)
    for n, q in enumerate(data["questions"], start=1):
        if not isinstance(q, dict):
            conv.skip("question is not a JSON object", f"#{n}")
            continue
        qid = str(q.get("question_id", f"#{n}"))
        dtype = str(q.get("data_type", "image"))
        if "video" in dtype.lower() and not include_video:
            conv.skip("video question (pass --include-video to keep)", qid)
            continue
        question = q.get("question")
        if not isinstance(question, str) or not question.strip():
            conv.skip("no question", qid)
            continue
        choices = [q.get(k) for k in CHOICE_KEYS]
        while choices and choices[-1] is None:
            choices.pop()
        if len(choices) < 2 or any(not isinstance(c, (str, int, float)) for c in choices):
            conv.skip("fewer than 2 choices", qid)
            continue
        answer = str(q.get("answer", "")).strip().upper()
        if len(answer) != 1 or answer not in LETTERS[:len(choices)]:
            conv.skip(f"answer is not one of {', '.join(LETTERS[:len(choices)])}", qid)
            continue
        data_id = q.get("data_id")
        paths = [data_id] if isinstance(data_id, str) else data_id
        if not isinstance(paths, list) or not paths or not all(isinstance(x, str) and x for x in paths):
            conv.skip("data_id is not an image file name", qid)
            continue
        if not images_ok(conv, root, paths, qid, check_images):
            continue
        try:
            qtype = int(q.get("question_type_id"))
        except (TypeError, ValueError):
            conv.skip("question_type_id is not an integer", qid)
            continue
        prompt = mcq_prompt(question, [str(c) for c in choices], has_image=True)
        if len(paths) > 1:  # one placeholder per image, all at the start
            prompt = "<xray>\n" * (len(paths) - 1) + prompt
        conv.records.append(new_record(
            id=f"seed-bench-{qid}", split=split or "test", task="mcq",
            images=[{"modality": "xray", "path": x} for x in paths],
            messages=user_turn(prompt), choices=[str(c) for c in choices], answer=answer,
            meta={"benchmark": "seed-bench", "question_id": qid, "question_type_id": qtype,
                  "dimension": dim_of.get(qtype, f"type {qtype}"), "data_type": dtype, "question": question}))
    if include_video:
        kept = sum(1 for r in conv.records if "video" in r["meta"]["data_type"].lower())
        if kept:
            conv.notes.append(f"{kept} video question(s) kept; medmllm does not decode video files")
    return conv
