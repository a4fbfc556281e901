"""Video-MME questions -> manifest (``medmllm prepare video-mme SRC [--videos DIR] [--subtitles DIR]``).

SRC is the release folder, its parquet question file (``videomme/test-00000-of-00001.parquet``: one row
per question with ``video_id``, ``duration``, ``domain``, ``sub_category``, ``videoID``, ``question_id``,
``task_type``, ``question``, ``options``, ``answer``) or a JSON / JSONL file with the same rows, or the
nested layout of the official output template (one object per video with ``duration_category``,
``video_category``, ``video_subcategory`` and a ``questions`` list). Videos are ``<videoID>.mp4`` (or
.mkv / .webm / .avi / .mov) under ``--videos`` (default: ``data/``, ``video/`` or ``videos/`` of the
release); subtitles ``<videoID>.srt`` under ``--subtitles`` (default: ``subtitle/`` of the release; the
long videos have them). Each question becomes one ``mcq`` record whose user turn is the official prompt
without subtitles; the subtitle file is named in ``meta.subtitle_path`` and the benchmark's
``--subtitles with`` puts its lines into the prompt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medmllm.data.formats.common import Conversion, images_ok, read_json_or_jsonl, unique_ids, user_turn
from medmllm.data.schema import new_record
from medmllm.errors import InputError
from medmllm.evaluation.benchmarks.mcq import LETTERS
from medmllm.evaluation.benchmarks.video_mme import DURATIONS, video_mme_prompt
from medmllm.registry import FORMATS

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
# field -> names it has in the parquet rows and in the nested JSON layout
_ALIASES = {"duration": ("duration", "duration_category"), "domain": ("domain", "video_category"),
            "sub_category": ("sub_category", "video_subcategory"), "options": ("options", "choices")}


def _question_file(src: Path) -> Path:
    if src.is_file():
        return src
    for pattern in ("videomme/*.parquet", "*.parquet", "videomme/*.json*", "*.json*"):
        found = sorted(src.glob(pattern))
        if found:
            return found[0]
    raise InputError(src, "no Video-MME question file (videomme/*.parquet or a .json / .jsonl) in this folder")


def _rows(path: Path) -> list[Any]:
    """Question rows of the parquet / JSON / JSONL file; the nested per-video layout is flattened."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            from medmllm.errors import MissingDependencyError

            raise MissingDependencyError("pyarrow", "reading Video-MME's parquet file", extra="video") from None

        try:
            items = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow.lib.ArrowInvalid and relatives
            raise InputError(path, f"unreadable parquet file ({type(e).__name__}: {str(e)[:120]})") from None
    else:
        items = read_json_or_jsonl(path)
    if not isinstance(items, list):
        raise InputError(path, "expected a list of questions (or of videos with 'questions'), got "
                               f"{type(items).__name__}")
    rows = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("questions"), list):
            video = {k: v for k, v in item.items() if k != "questions"}
            rows.extend({**video, **q} if isinstance(q, dict) else q for q in item["questions"])
        else:
            rows.append(item)
    return rows


def _field(row: dict[str, Any], name: str) -> Any:
    for key in _ALIASES.get(name, (name,)):
        if row.get(key) not in (None, ""):
            return row[key]
    return None


def _options(raw: Any) -> list[str] | None:
    """Options as the lines of the prompt (``A. text``); bare texts get their letters."""
    if hasattr(raw, "tolist"):
        raw = raw.tolist()
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(o, str) and o.strip() for o in raw):
        return None
    out = []
    for i, opt in enumerate(raw):
        opt = opt.strip()
        out.append(opt if opt[:2] in (f"{LETTERS[i]}.", f"{LETTERS[i]})") else f"{LETTERS[i]}. {opt}")
    return out


def _first_dir(base: Path, names: tuple[str, ...]) -> Path | None:
    return next((base / n for n in names if (base / n).is_dir()), None)


@FORMATS.register("video-mme")
def convert_video_mme(src: str | Path, *, videos: str | Path | None = None, subtitles: str | Path | None = None,
                      split: str | None = None, check_images: bool = True) -> Conversion:
    """Convert Video-MME (module docstring).

    Args:
        src: the release folder or its question file.
        videos: folder of ``<videoID>.mp4`` files.
        subtitles: folder of ``<videoID>.srt`` files (optional).
        split: split written into every record (default ``test``).
        check_images: skip questions whose video file does not exist.

    Returns:
        The records (image root: the folder holding the videos and subtitles) and the skips per reason.
    """
    src = Path(src)
    qfile = _question_file(src)
    base = src if src.is_dir() else (qfile.parent.parent if qfile.parent.name == "videomme" else qfile.parent)
    vdir = Path(videos) if videos is not None else (_first_dir(base, ("data", "video", "videos")) or base)
    sdir = Path(subtitles) if subtitles is not None else _first_dir(base, ("subtitle", "subtitles"))
    if sdir is not None and not sdir.is_dir():
        raise InputError(sdir, "subtitles folder not found")
    root = Path(os.path.commonpath([vdir.resolve(), sdir.resolve()])) if sdir is not None else vdir.resolve()
    conv = Conversion(image_root=root)
    with_subs = 0
    for n, row in enumerate(_rows(qfile), start=1):
        if not isinstance(row, dict):
            conv.skip("question is not a JSON object", f"#{n}")
            continue
        qid = str(row.get("question_id") or f"#{n}")
        vid = row.get("videoID") or row.get("video_id")
        options = _options(_field(row, "options"))
        answer = str(row.get("answer") or "").strip().upper()
        duration = str(_field(row, "duration") or "").lower()
        if not isinstance(row.get("question"), str) or not row["question"].strip():
            conv.skip("no question", qid)
        elif not vid:
            conv.skip("no videoID", qid)
        elif options is None:
            conv.skip("options are not a list of at least 2 texts", qid)
        elif len(answer) != 1 or answer not in LETTERS[:len(options)]:
            conv.skip(f"answer is not one of {', '.join(LETTERS[:len(options)])}", qid)
        elif duration not in DURATIONS:
            conv.skip(f"duration is not one of {', '.join(DURATIONS)}", qid)
        else:
            vid = str(vid)
            found = [vdir / f"{vid}{e}" for e in VIDEO_EXTS if (vdir / f"{vid}{e}").is_file()]
            video = found[0] if found else vdir / f"{vid}.mp4"
            rel = os.path.relpath(video.resolve(), root)
            if not images_ok(conv, root, [Path(rel).as_posix()], qid, check_images):
                continue
            srt = sdir / f"{vid}.srt" if sdir is not None else None
            sub = Path(os.path.relpath(srt.resolve(), root)).as_posix() if srt is not None and srt.is_file() else None
            with_subs += sub is not None
            conv.records.append(new_record(
                id=f"video-mme-{qid}", split=split or "test", task="mcq",
                images=[{"modality": "video", "path": Path(rel).as_posix()}],
                messages=user_turn(video_mme_prompt(row["question"], options)),
                choices=[o.split(" ", 1)[1] if " " in o else o for o in options], answer=answer,
                meta={"benchmark": "video-mme", "question_id": qid, "video_id": str(row.get("video_id") or vid),
                      "videoID": vid, "duration": duration, "domain": _field(row, "domain"),
                      "sub_category": _field(row, "sub_category"), "task_type": row.get("task_type"),
                      "question": row["question"], "options": options, "subtitle_path": sub}))
    unique_ids(conv)
    if conv.records:
        conv.notes.append(f"{with_subs} of {len(conv.records)} question(s) have subtitles")
    return conv
