"""LLaVA conversation JSON (LLaVA-Instruct-150K, ShareGPT4V, ShareGPT-4o images, ALLaVA, LVIS-Instruct4V).

Accepted variations (FORMATS.md): a JSON array or JSONL; integer ids, or none (ShareGPT-4o's
``image_conversations/gpt-4o.jsonl``: the sample is named ``<file stem>-<position>``); no ``image`` (text-only);
``image`` as a list (one ``<image>`` per path); ``<image>`` anywhere in a turn, or missing (it is
then prepended to the first user turn, as LLaVA does); roles ``human``/``gpt`` or
``user``/``assistant``; a leading ``system`` turn; image paths relative to a separate image root.
``<image>`` becomes ``<xray>`` (the 2D slot takes natural images too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from medmllm.data.formats.common import XRAY, Conversion, images_ok, json_samples, unique_ids
from medmllm.data.schema import new_record
from medmllm.registry import FORMATS

ROLE_MAP = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
            "system": "system"}
IMAGE_TAG = "<image>"
_TAG_LINE = re.compile(r"[ \t]*<image>[ \t]*")


def _image_list(item: dict[str, Any]) -> list[str] | None:
    """The sample's image paths ([] for text-only), or None when ``image`` has the wrong type."""
    img = item.get("image")
    if img is None or img == "":
        return []
    if isinstance(img, str):
        return [img]
    if isinstance(img, list) and all(isinstance(x, str) and x for x in img):
        return list(img)
    return None


def llava_messages(conv_in: list[Any]) -> tuple[list[dict[str, str]] | None, str | None]:
    """LLaVA turns -> medmllm messages, or (None, skip reason)."""
    out: list[dict[str, str]] = []
    for i, turn in enumerate(conv_in):
        if not isinstance(turn, dict):
            return None, "conversation turn is not an object"
        role = ROLE_MAP.get(str(turn.get("from", turn.get("role", ""))).lower())
        if role is None:
            return None, f"unknown role '{turn.get('from', turn.get('role'))}'"
        if role == "system" and i != 0:
            return None, "system turn after the first turn"
        value = turn.get("value", turn.get("content"))
        if not isinstance(value, str):
            return None, "turn without a text value"
        out.append({"role": role, "content": value})
    if not any(m["role"] == "user" for m in out):
        return None, "no user turn"
    if not any(m["role"] == "assistant" for m in out):
        return None, "no assistant turn"
    return out, None


def place_placeholders(messages: list[dict[str, str]], n_images: int, tag: str = IMAGE_TAG,
                       placeholder: str = XRAY) -> str | None:
    """Turn ``tag`` (``<image>``) into ``placeholder`` (``<xray>``); prepend missing ones to the first user turn.

    Returns:
        A skip reason, or None.
    """
    tag_line = _TAG_LINE if tag == IMAGE_TAG else re.compile(rf"[ \t]*{re.escape(tag)}[ \t]*")
    n_tags = sum(m["content"].count(tag) for m in messages)
    if n_tags > n_images:
        return f"more {tag} placeholders than images" if n_images else f"{tag} placeholder in a text-only sample"
    for m in messages:
        if tag in m["content"]:
            lines = [tag_line.sub(placeholder, ln) if tag in ln else ln for ln in m["content"].split("\n")]
            m["content"] = "\n".join(lines)
    missing = n_images - n_tags
    if missing:
        first = next(m for m in messages if m["role"] == "user")
        first["content"] = f"{placeholder}\n" * missing + first["content"].lstrip("\n")
    return None


@FORMATS.register("llava")
def convert_llava(src: str | Path, *, images: str | Path | None = None, split: str | None = None,
                  check_images: bool = True, task: str | None = None) -> Conversion:
    """Convert a LLaVA-style conversation file.

    Args:
        src: the JSON or JSONL file.
        images: image root the ``image`` paths are relative to (default: the file's folder).
        split: split written into every record (default ``train``).
        check_images: skip samples whose image file does not exist.
        task: task written into every record (default: ``caption`` for one describe/caption
            request, else ``vqa``).

    Returns:
        The records and the count of skipped samples per reason.
    """
    src = Path(src)
    root = Path(images) if images is not None else src.parent
    conv = Conversion(image_root=root)
    unnamed = 0
    for n, item in json_samples(src, conv):
        sid = item.get("id")
        if isinstance(sid, (dict, list, bool)):
            conv.skip("id is not a string or number", f"#{n}")
            continue
        if sid is None or str(sid) == "":
            sid, unnamed = f"{src.stem}-{n}", unnamed + 1  # ShareGPT-4o's image JSONL names no ids
        sid = str(sid)
        paths = _image_list(item)
        if paths is None:
            conv.skip("'image' is neither a path nor a list of paths", sid)
            continue
        turns = item.get("conversations")
        if not isinstance(turns, list) or not turns:
            conv.skip("no conversations", sid)
            continue
        messages, why = llava_messages(turns)
        if messages is None:
            conv.skip(why, sid)
            continue
        why = place_placeholders(messages, len(paths))
        if why:
            conv.skip(why, sid)
            continue
        if not images_ok(conv, root, paths, sid, check_images):
            continue
        conv.records.append(new_record(
            id=sid, split=split or "train", task=task or _task_of(messages),
            images=[{"modality": "xray", "path": p} for p in paths],
            messages=messages, meta={"source": "llava"}))
    unique_ids(conv)
    if unnamed:
        conv.notes.append(f"{unnamed} sample(s) without an id named <file>-<position>")
    return conv


def _task_of(messages: list[dict[str, str]]) -> str:
    """``caption`` for a single request to describe/caption the image (ShareGPT4V, ALLaVA captions)."""
    user = [m["content"].lower() for m in messages if m["role"] == "user"]
    if len(user) == 1 and XRAY in user[0] and ("describe" in user[0] or "caption" in user[0]):
        return "caption"
    return "vqa"
