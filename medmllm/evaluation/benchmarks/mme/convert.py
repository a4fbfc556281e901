"""MME release folder -> manifest: one folder per subtask, ``question<TAB>answer`` lines per image.

Two layouts (both may appear in one release): image and question side by side
(``existence/000000006040.jpg`` + ``existence/000000006040.txt``), or subfolders
(``artwork/images/10002.jpg`` + ``artwork/questions_answers_YN/10002.txt``). Every question
becomes one ``vqa`` record with answer ``Yes``/``No`` and meta ``subtask``/``image``/``question``.
"""

from __future__ import annotations

from pathlib import Path

from medmllm.data.formats.common import XRAY, Conversion, image_problem, user_turn
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mme import SUBTASKS
from medmllm.registry import FORMATS

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def _pairs(folder: Path) -> list[tuple[Path, Path | None, str]]:
    """(question file, image file or None, image path relative to the subtask's root folder)."""
    qdir, idir = folder / "questions_answers_YN", folder / "images"
    if qdir.is_dir():
        txts, image_dir, prefix = sorted(qdir.glob("*.txt")), idir, "images/"
    else:
        txts, image_dir, prefix = sorted(folder.glob("*.txt")), folder, ""
    out = []
    for t in txts:
        img = next((image_dir / (t.stem + e) for e in IMAGE_EXTS if (image_dir / (t.stem + e)).is_file()), None)
        name = img.name if img is not None else t.stem + ".jpg"
        out.append((t, img, prefix + name))
    return out


@FORMATS.register("mme")
def convert_mme(src: str | Path, *, split: str | None = None, check_images: bool = True) -> Conversion:
    """Convert an MME release folder (either layout).

    Args:
        src: the folder holding the 14 subtask folders.
        split: split written into every record (default ``test``).
        check_images: skip questions whose image file does not exist.

    Returns:
        The records and the count of skipped questions per reason.
    """
    src = Path(src)
    if not src.is_dir():
        raise InputError(src, "expected the MME folder holding one folder per subtask")
    present = {p.name for p in src.iterdir() if p.is_dir()}
    found = [s for s in SUBTASKS if s in present]
    if not found:
        raise InputError(src, f"no MME subtask folder found (expected some of: {', '.join(SUBTASKS)})")
    conv = Conversion(image_root=src)
    ignored = sorted(present - set(SUBTASKS))
    if ignored:
        conv.notes.append(f"ignored folder(s) that are not MME subtasks: {', '.join(ignored)}")
    missing = [s for s in SUBTASKS if s not in present]
    if missing:
        conv.notes.append(f"subtask folder(s) missing: {', '.join(missing)}")
    odd = 0
    for sub in found:
        for txt, img, rel_in_sub in _pairs(src / sub):
            rel = f"{sub}/{rel_in_sub}"
            stem = txt.stem
            try:
                lines = [ln for ln in txt.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
            except UnicodeDecodeError:
                conv.skip("question file is not UTF-8 text", f"{sub}/{txt.name}")
                continue
            if img is None and check_images:
                conv.skip("image file not found", f"{sub}/{txt.name}")
                continue
            why = image_problem(src, rel, False)
            if why:
                conv.skip(why, f"{sub}/{txt.name}")
                continue
            odd += len(lines) != 2
            for i, line in enumerate(lines):
                sid = f"mme-{sub}-{stem}-{i}"
                question, tab, answer = line.rpartition("\t")
                if not tab or not question.strip():
                    conv.skip("line is not question<TAB>answer", sid)
                    continue
                answer = answer.strip().capitalize()
                if answer not in ("Yes", "No"):
                    conv.skip("answer is not Yes or No", sid)
                    continue
                question = question.strip()
                conv.records.append(new_record(
                    id=sid, split=split or "test", task="vqa",
                    images=[{"modality": "xray", "path": rel}],
                    messages=user_turn(f"{XRAY}\n{question}"), answer=answer,
                    meta={"benchmark": "mme", "subtask": sub, "image": Path(rel).name, "question": question}))
    if odd:
        conv.notes.append(f"{odd} question file(s) without exactly 2 questions (acc+ needs both per image)")
    return conv
