"""mPLUG-Owl3's single-image evaluation collection (``dataset/<benchmark>/<file>``) -> ``vqa`` records.

The collection (published beside the mPLUG-Owl3 code as ``mPLUG-Owl3-Evaluation``) holds one folder
per benchmark: ``gqa/testdev_balanced.jsonl``, ``okvqa/okvqa_val.json``, ``pope/ImageQA_POPE_*.jsonl``,
``textvqa/textvqa_val*.json``, ``vizwiz/vizwiz_test.jsonl``, ``vqav2/vqav2_test.json``, ``mmvet/mm-vet.json``
(and ``chartqa/test_*.jsonl`` where present). Its loader (``evaluation/tasks/task_define/vqa.py``) reads
questions of two shapes, both accepted here::

    {"image": "...", "question": "...", "question_id": 1, "answer": "..."}
    {"images": "...", "query": "...", "data_id": "...", "answer": "..."}

``mm-vet.json`` is MM-Vet's own object ``{"v1_0": {"imagename", "question", "answer", "capability"}}``.
Multi-image and video folders (``LLaVA-NeXT-Interleave-Bench``, ``LongVideoBench``) and MMBench's TSV
(base64 images) are not single-image JSON: they are listed in the notes and not converted.

Every question becomes a ``vqa`` record with mPLUG-Owl3's prompt (``<question> Answer the question
using a single word or phrase.``; VizWiz adds its "Unanswerable" instruction), ``meta.benchmark`` the
folder name (``chartqa`` files are scored by medmllm's ``chartqa``; the others keep mPLUG-Owl3's metric
name in ``meta.metric`` and have no medmllm scorer yet), ``answer`` the first answer (a list goes to
``meta.answers``); questions without an answer (VQAv2 and VizWiz test, scored on their servers) are
kept without one and counted in the notes. Image paths are kept as written, relative to ``--images``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medmllm.data.formats.common import (XRAY, Conversion, images_ok, read_json, read_json_or_jsonl, unique_ids,
                                         user_turn)
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS

SHORT = "Answer the question using a single word or phrase."
VIZWIZ = "When the provided information is insufficient, respond with 'Unanswerable'."
METRICS = {"vqav2": "vqa_score", "okvqa": "vqa_score", "textvqa": "vqa_score", "vizwiz": "vqa_score",
           "gqa": "accuracy", "pope": "pope", "chartqa": "relaxed_accuracy", "mmvet": "gpt4_judge"}
NOT_SINGLE_IMAGE = ("LLaVA-NeXT-Interleave-Bench", "LongVideoBench", "mmbench")


def _questions(f: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(question id, {"image", "question", "answer", "extra"})`` of one file."""
    if f.name == "mm-vet.json":
        data = read_json(f)
        if not isinstance(data, dict):
            raise InputError(f, "expected MM-Vet's object of id -> {imagename, question, answer}")
        return [(k, {"image": v.get("imagename"), "question": v.get("question"), "answer": v.get("answer"),
                     "extra": {"capability": v.get("capability")}}) for k, v in data.items() if isinstance(v, dict)]
    items = read_json_or_jsonl(f)
    if not isinstance(items, list):
        raise InputError(f, f"expected a list of questions, got {type(items).__name__}")
    out = []
    for n, q in enumerate(items):
        if not isinstance(q, dict):
            out.append((f"#{n}", {}))
        elif "images" in q:
            out.append((str(q.get("data_id", f"#{n}")), {"image": q.get("images"), "question": q.get("query"),
                                                        "answer": q.get("answer"), "extra": {}}))
        else:
            out.append((str(q.get("question_id", f"#{n}")), {"image": q.get("image"), "question": q.get("question"),
                                                            "answer": q.get("answer"), "extra": {}}))
    return out


@FORMATS.register("mplug-owl3-eval")
def convert_mplug_owl3_eval(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                            check_images: bool = True) -> Conversion:
    """Convert mPLUG-Owl3's evaluation files (the ``dataset/`` folder, one benchmark folder, or one file).

    Args:
        src: the collection's ``dataset/`` folder, a benchmark folder or a question file.
        images: the image root the files' image paths are relative to (default: SRC's folder).
        split: split written into every record (default ``test``).
        check_images: skip questions whose image file does not exist.
    """
    src = Path(src)
    root = Path(images) if images is not None else (src if src.is_dir() else src.parent)
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.suffix in (".json", ".jsonl"))
    conv = Conversion(image_root=root)
    skipped_dirs = sorted({p.name for p in (src.iterdir() if src.is_dir() else []) if p.name in NOT_SINGLE_IMAGE})
    files = [f for f in files if not any(part in NOT_SINGLE_IMAGE for part in f.parts)]
    if skipped_dirs:
        conv.notes.append(f"not single-image question JSON, not converted: {', '.join(skipped_dirs)}")
    if not files:
        raise InputError(src, "no question file (.json / .jsonl) of the mPLUG-Owl3 evaluation collection")
    no_answer = 0
    for f in files:
        bench = f.parent.name if src.is_dir() or f.parent.name in METRICS else f.stem
        bench = "mmvet" if f.name == "mm-vet.json" else bench
        for qid, q in _questions(f):
            sid = f"{f.stem}-{qid}"
            image, question = q.get("image"), q.get("question")
            if not isinstance(image, str) or not image or not isinstance(question, str) or not question.strip():
                conv.skip("question needs one image path and a question (multi-image items are not single-image)",
                          sid)
                continue
            if not images_ok(conv, root, [image], sid, check_images):
                continue
            answers = q["answer"] if isinstance(q.get("answer"), list) else [q.get("answer")]
            answers = [str(a).strip() for a in answers if a not in (None, "") and str(a).strip()]
            no_answer += not answers
            prompt = f"{question.strip()} {VIZWIZ + ' ' if bench == 'vizwiz' else ''}{SHORT}"
            meta = {"benchmark": bench, "metric": METRICS.get(bench), "question_id": qid, "source_file": f.name,
                    **{k: v for k, v in q["extra"].items() if v is not None}}
            if bench == "chartqa":
                meta["subset"] = "augmented" if "augmented" in f.stem else "human"
            if len(answers) > 1:
                meta["answers"] = answers
            conv.records.append(new_record(
                id=f"mplug-owl3-{bench}-{sid}", split=split or "test", task="vqa",
                images=[{"modality": "xray", "path": image}], messages=user_turn(f"{XRAY}\n{prompt}"),
                answer=answers[0] if answers else None, meta=meta))
    unique_ids(conv)
    if no_answer:
        conv.notes.append(f"{no_answer} question(s) without an answer in the files (server-scored test splits, "
                          "or answers kept in separate annotation files): kept, for predictions only")
    benches = sorted({r["meta"]["benchmark"] for r in conv.records})
    conv.notes.append(f"benchmarks: {', '.join(benches)} (medmllm scores chartqa; the others keep meta.metric)")
    return conv
