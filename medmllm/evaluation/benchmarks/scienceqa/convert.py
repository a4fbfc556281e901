"""ScienceQA folder -> manifest: ``problems.json``, ``pid_splits.json``, ``images/<split>/<pid>/image.png``.

SRC is the dataset folder (or ``problems.json`` itself; ``pid_splits.json`` is looked for beside
it). Records are multiple-choice (task ``mcq``, prompt by
:func:`~medmllm.evaluation.benchmarks.mcq.mcq_prompt`); the official split of each problem comes from
``pid_splits.json`` (``train``/``val``/``test``; ``minival`` and ``minitest`` are subsets and
ignored), else from the problem's own ``split``.
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import Conversion, images_ok, read_json, user_turn
from medmllm.data.schema import SPLITS, new_record
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mcq import LETTERS, mcq_prompt
from medmllm.registry import FORMATS


def _split_of(pid_splits: dict, src: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("train", "val", "test"):
        ids = pid_splits.get(name, [])
        if not isinstance(ids, list):
            raise InputError(src, f"pid_splits.json: '{name}' is not a list of problem ids")
        for pid in ids:
            out[str(pid)] = name
    return out


@FORMATS.register("scienceqa")
def convert_scienceqa(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                      check_images: bool = True) -> Conversion:
    """Convert ScienceQA.

    Args:
        src: the dataset folder, or its ``problems.json``.
        images: the folder holding ``<split>/<pid>/image.png`` (default: ``SRC/images``).
        split: keep only this split (``train``/``val``/``test``); others are counted as skipped.
        check_images: skip problems whose image file does not exist.

    Returns:
        The records and the count of skipped problems per reason.
    """
    src = Path(src)
    folder = src if src.is_dir() else src.parent
    problems_path = src if src.is_file() else folder / "problems.json"
    problems = read_json(problems_path)
    if not isinstance(problems, dict):
        raise InputError(problems_path, "expected an object keyed by problem id")
    splits_path = folder / "pid_splits.json"
    split_of = _split_of(read_json(splits_path), splits_path) if splits_path.is_file() else {}
    root = Path(images) if images is not None else folder / "images"
    conv = Conversion(image_root=root)
    if split is not None and split not in SPLITS:
        raise InputError(None, f"--split: '{split}' is not one of {', '.join(SPLITS)}")
    for pid, p in problems.items():
        pid = str(pid)
        if not isinstance(p, dict):
            conv.skip("problem is not a JSON object", pid)
            continue
        sp = split_of.get(pid) or p.get("split")
        if sp not in SPLITS:
            conv.skip("no split in pid_splits.json or the problem", pid)
            continue
        if split is not None and sp != split:
            conv.skip(f"not in the '{split}' split", pid)
            continue
        choices, question, answer = p.get("choices"), p.get("question"), p.get("answer")
        if not isinstance(question, str) or not question.strip():
            conv.skip("no question", pid)
            continue
        if not isinstance(choices, list) or len(choices) < 2 or len(choices) > len(LETTERS):
            conv.skip("choices are not a list of 2 or more options", pid)
            continue
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
            conv.skip("answer is not the index of a choice", pid)
            continue
        has_image = bool(p.get("image"))
        paths = [f"{sp}/{pid}/{p['image']}"] if has_image else []
        if has_image and not images_ok(conv, root, paths, pid, check_images):
            continue
        hint = p.get("hint") or None
        conv.records.append(new_record(
            id=f"scienceqa-{pid}", split=sp, task="mcq",
            images=[{"modality": "xray", "path": x} for x in paths],
            messages=user_turn(mcq_prompt(question, [str(c) for c in choices], hint=hint, has_image=has_image)),
            choices=[str(c) for c in choices], answer=LETTERS[answer],
            meta={"benchmark": "scienceqa", "pid": pid, "subject": p.get("subject"), "has_image": has_image,
                  "grade": p.get("grade"), "topic": p.get("topic"), "question": question, "hint": hint}))
    return conv
