"""Video instruction data: ShareGPT4Video, VideoInstruct-100K / VCG+ 112K, ShareGemini, ShareGPT-4o (video part).

Every sample becomes a record with one ``<video>`` placeholder and its clip under the video root
(``--videos``, default: the file's folder). The layouts, decided per sample from its keys:

- conversations (VCG+ 112K, ShareGemini, ShareGPT-4o's ``video_conversations``, ShareGPT4Video's
  instruction part): ``{"id", "video": "name.mp4", "conversations": [{"from": "human", "value":
  "<video>\\n..."}, {"from": "gpt", "value": "..."}]}`` -- the LLaVA layout with ``video`` for
  ``image``; ``<video>`` (or ``<image>``) becomes ``<video>``, a missing one is prepended;
- question and answer (VideoInstruct-100K, Video-ChatGPT): ``{"q", "a", "video_id"}``;
- keyframe captions (ShareGPT4Video ``sharegpt4video_40k.jsonl``): ``{"video_id", "video_path",
  "captions": [{"idx": "0", "content": ...}, ..., {"idx": "-1", "content": <whole video>}],
  "zip_folder"}`` -- the whole-video caption (``idx`` -1) answers "Describe this video in detail.";
- a caption string (``caption`` / ``description``) with ``video`` or ``video_id``.

A video named without an extension (``v_k_n3D2WtzXk``) is looked for as ``.mp4``, ``.mkv``, ``.webm``,
``.avi``, ``.mov`` (and inside the ``zip_folder``'s unpacked folder). Skips are counted per reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medmllm.data.formats.common import Conversion, image_problem, json_samples, unique_ids
from medmllm.data.formats.llava import llava_messages, place_placeholders
from medmllm.data.schema import PLACEHOLDERS, new_record
from medmllm.errors import InputError
from medmllm.registry import FORMATS

VIDEO = PLACEHOLDERS["video"]
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
CAPTION_PROMPT = "Describe this video in detail."


def _video_file(root: Path, item: dict[str, Any], check: bool) -> tuple[str | None, str | None]:
    """``(path relative to root, None)`` of the sample's clip, or ``(None, skip reason)``."""
    name = item.get("video") or item.get("video_path") or item.get("video_id")
    if not isinstance(name, str) or not name.strip():
        return None, "no video named (video / video_path / video_id)"
    name = name.strip()
    folder = Path(str(item["zip_folder"])).stem if isinstance(item.get("zip_folder"), str) else None
    candidates = [name] if Path(name).suffix.lower() in VIDEO_EXTS else [name + e for e in VIDEO_EXTS]
    if folder:
        candidates += [f"{folder}/{c}" for c in candidates]
    for rel in candidates:
        why = image_problem(root, rel, True)
        if why is None:
            return rel, None
        if why != "image file not found":
            return None, why.replace("image", "video")
    return (candidates[0], None) if not check else (None, "video file not found")


def _sample(item: dict[str, Any]) -> tuple[list[dict[str, str]] | None, str]:
    """The messages of one sample (placeholder placed), or ``(None, skip reason)``."""
    if isinstance(item.get("conversations"), list) and item["conversations"]:
        messages, why = llava_messages(item["conversations"])
        if messages is None:
            return None, why or "bad conversation"
        for tag in ("<image>", VIDEO):
            if any(tag in m["content"] for m in messages):
                why = place_placeholders(messages, 1, tag=tag, placeholder=VIDEO)
                return (None, why) if why else (messages, "")
        place_placeholders(messages, 1, tag=VIDEO, placeholder=VIDEO)
        return messages, ""
    if isinstance(item.get("q"), str) and isinstance(item.get("a"), str):
        return [{"role": "user", "content": f"{VIDEO}\n{item['q'].strip()}"},
                {"role": "assistant", "content": item["a"].strip()}], ""
    caption = None
    if isinstance(item.get("captions"), list):
        caption = next((c.get("content") for c in item["captions"]
                        if isinstance(c, dict) and str(c.get("idx")) == "-1"), None)
    for key in ("caption", "description"):
        caption = caption or item.get(key)
    if isinstance(caption, str) and caption.strip():
        return [{"role": "user", "content": f"{VIDEO}\n{CAPTION_PROMPT}"},
                {"role": "assistant", "content": caption.strip()}], ""
    return None, "no conversations, q/a pair or caption"


def convert_video_instructions(src: str | Path, *, source: str, videos: str | Path | None = None,
                               split: str | None = None, check_images: bool = True) -> Conversion:
    """Convert a video instruction file of any layout of the module docstring.

    Args:
        src: the JSON or JSONL file.
        source: the dataset's format name (written into ``meta.source`` and the ids of samples without one).
        videos: video root (default: the file's folder).
        split: split written into every record (default ``train``).
        check_images: skip samples whose video file does not exist.
    """
    src = Path(src)
    root = Path(videos) if videos is not None else src.parent
    if videos is not None and not root.is_dir():
        raise InputError(root, "videos folder not found")
    conv = Conversion(image_root=root)
    for n, item in json_samples(src, conv):
        sid = item.get("id", item.get("video_id"))
        sid = f"{source}-{n}" if sid is None or isinstance(sid, (dict, list, bool)) or str(sid) == "" else str(sid)
        messages, why = _sample(item)
        if messages is None:
            conv.skip(why, sid)
            continue
        rel, why = _video_file(root, item, check_images)
        if rel is None:
            conv.skip(why, sid)
            continue
        task = "caption" if messages[0]["content"].endswith(CAPTION_PROMPT) and len(messages) == 2 else "vqa"
        conv.records.append(new_record(id=sid, split=split or "train", task=task,
                                       images=[{"modality": "video", "path": rel}], messages=messages,
                                       meta={"source": source}))
    unique_ids(conv)
    return conv


# format name -> what its file is (each name is a converter of the layouts above)
DATASETS = {
    "sharegpt4video": "ShareGPT4Video: sharegpt4video_40k.jsonl (whole-video captions) or its instruction JSON",
    "videoinstruct": "VideoInstruct-100K (Video-ChatGPT): {q, a, video_id} items over ActivityNet videos",
    "vcg-plus": "VCG+ 112K (VideoGPT+): conversations with 'video' (VideoInstruct q/a items also read)",
    "sharegemini": "ShareGemini: Gemini-captioned WebVid videos, conversations with 'video' (or a caption)",
    "sharegpt4o-video": "ShareGPT-4o, video part: video_conversations JSONL, conversations with 'video'",
}


def _register(name: str, doc: str) -> None:
    def convert(src: str | Path, *, videos: str | Path | None = None, split: str | None = None,
                check_images: bool = True) -> Conversion:
        return convert_video_instructions(src, source=name, videos=videos, split=split, check_images=check_images)

    convert.__name__ = convert.__qualname__ = "convert_" + name.replace("-", "_")
    convert.__doc__ = doc
    FORMATS.register(name)(convert)


for _name, _doc in DATASETS.items():
    _register(_name, _doc)
