"""Chat messages -> token ids with expanded image placeholders and assistant-only labels.

The tokenizer's chat template renders the conversation (a documented ChatML default is used when
the tokenizer has none). Each assistant turn is located as the text between the rendering of the
conversation before it (with the generation prompt) and the rendering that includes it; its
tokens, the end-of-turn token included, are supervised and everything else gets ``IGNORE_INDEX``.
A boundary that cannot be located, or a token that straddles it, raises ``ConversationError``
naming the sample: a sample is never silently given zero loss.

Each placeholder token (``<xray>``, ``<ct>``, ``<video>``) is then repeated as many times as its image yields
tokens (``image_tokens[modality][k]`` for the k-th image of that modality).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from medmllm.errors import InputError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
PLACEHOLDERS: dict[str, str] = {"xray": "<xray>", "ct": "<ct>", "video": "<video>"}

DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, used when a tokenizer has no chat template of its own."""


class ConversationError(InputError):
    """A sample's messages cannot be turned into ids and labels (names the sample id)."""


class ConversationTooLongError(ConversationError):
    """Truncating to ``max_length`` would cut an image's token span or every supervised token.

    Callers (the collator) drop such samples and count them.
    """


@dataclasses.dataclass
class EncodedConversation:
    """Token ids of one sample with placeholders expanded.

    Attributes:
        input_ids: token ids.
        labels: same length; ``IGNORE_INDEX`` outside assistant turns.
        num_images: images per modality found in the messages.
        truncated: True when the ids were cut to ``max_length`` (at the end of the text).
    """

    input_ids: list[int]
    labels: list[int]
    num_images: dict[str, int]
    truncated: bool


def placeholder_token_ids(tokenizer: Any) -> dict[str, int]:
    """Ids of the modality placeholder tokens the tokenizer knows (``{"xray": id, "ct": id, "video": id}``)."""
    out = {}
    unk = getattr(tokenizer, "unk_token_id", None)
    for modality, text in PLACEHOLDERS.items():
        tid = tokenizer.convert_tokens_to_ids(text)
        if tid is not None and tid != unk:
            out[modality] = int(tid)
    return out


def _render(tokenizer: Any, messages: list[dict], add_generation_prompt: bool) -> str:
    template = getattr(tokenizer, "chat_template", None) or DEFAULT_CHAT_TEMPLATE
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def _check_messages(messages: Any, sample_id: str) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise ConversationError(sample_id, "messages must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise ConversationError(sample_id, f"message {i}: expected role system/user/assistant")
        if not isinstance(m.get("content"), str):
            raise ConversationError(sample_id, f"message {i}: content must be a string")
        if m["role"] == "assistant" and any(p in m["content"] for p in PLACEHOLDERS.values()):
            raise ConversationError(sample_id, f"message {i}: image placeholder in an assistant turn")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _assistant_spans(tokenizer: Any, messages: list[dict], sample_id: str) -> tuple[str, list[tuple[int, int]]]:
    """Render the conversation; return the text and the char spans of assistant turns."""
    text = _render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True) if i else ""
        upto = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not text.startswith(upto) or not upto.startswith(before) or len(upto) <= len(before):
            raise ConversationError(sample_id, f"cannot find the assistant boundary of message {i} "
                                               "in the chat template's output")
        turn = upto[len(before):]
        end = len(before) + len(turn.rstrip())  # keep the end-of-turn token, drop trailing newlines
        spans.append((len(before), end))
    return text, spans


def _tokenize(tokenizer: Any, text: str, spans: list[tuple[int, int]], sample_id: str) -> tuple[list[int], list[int]]:
    if not getattr(tokenizer, "is_fast", False):
        raise ConversationError(sample_id, "the tokenizer has no offsets (a fast tokenizer is required)")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    labels = []
    for tid, (a, b) in zip(ids, offsets):
        inside = False
        for s, e in spans:
            if (a < s < b) or (a < e < b):
                raise ConversationError(sample_id, "a token straddles an assistant turn boundary")
            if s <= a < e:
                inside = True
        labels.append(tid if inside else IGNORE_INDEX)
    return ids, labels


def encode_conversation(messages: list[dict], tokenizer: Any, image_tokens: dict[str, list[int]], *,
                        sample_id: str, max_length: int | None = None, add_generation_prompt: bool = False,
                        system_prompt: str | None = None) -> EncodedConversation:
    """Turn chat messages into ids and labels, expanding each image placeholder.

    Args:
        messages: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``; images appear as
            ``<xray>`` / ``<ct>`` / ``<video>`` placeholders in user/system turns.
        tokenizer: a fast tokenizer with the placeholder tokens added.
        image_tokens: per modality, the token count of each image in placeholder order.
        sample_id: named in errors.
        max_length: cut the ids to this length (never inside an image span).
        add_generation_prompt: drop a trailing assistant turn and end ready for the reply.
        system_prompt: prepended as a system message when the messages have none.

    Returns:
        EncodedConversation.

    Raises:
        ConversationError: placeholders and images disagree, or an assistant boundary is lost.
        ConversationTooLongError: ``max_length`` would cut an image span or all supervised tokens.
    """
    msgs = _check_messages(messages, sample_id)
    if system_prompt is not None and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": system_prompt})
    if add_generation_prompt:
        if msgs[-1]["role"] == "assistant":
            msgs = msgs[:-1]
        text = _render(tokenizer, msgs, add_generation_prompt=True)
        spans: list[tuple[int, int]] = []
    else:
        text, spans = _assistant_spans(tokenizer, msgs, sample_id)
    ids, labels = _tokenize(tokenizer, text, spans, sample_id)

    placeholder_ids = placeholder_token_ids(tokenizer)
    by_id = {v: k for k, v in placeholder_ids.items()}
    for modality, counts in image_tokens.items():
        if counts and modality not in placeholder_ids:
            raise ConversationError(sample_id, f"tokenizer has no placeholder token for '{modality}'")
    seen = {m: 0 for m in placeholder_ids}
    out_ids: list[int] = []
    out_labels: list[int] = []
    image_ends: list[int] = []
    for tid, lab in zip(ids, labels):
        modality = by_id.get(tid)
        if modality is None:
            out_ids.append(tid)
            out_labels.append(lab)
            continue
        counts = image_tokens.get(modality, [])
        k = seen[modality]
        if k >= len(counts):
            raise ConversationError(sample_id, f"more '{PLACEHOLDERS[modality]}' placeholders than "
                                               f"{modality} images ({len(counts)})")
        seen[modality] = k + 1
        out_ids.extend([tid] * int(counts[k]))
        out_labels.extend([IGNORE_INDEX] * int(counts[k]))
        image_ends.append(len(out_ids))
    for modality, counts in image_tokens.items():
        if seen.get(modality, 0) != len(counts):
            raise ConversationError(sample_id, f"{len(counts)} {modality} image(s) but "
                                               f"{seen.get(modality, 0)} '{PLACEHOLDERS.get(modality, modality)}' "
                                               "placeholder(s)")

    truncated = False
    if max_length is not None and len(out_ids) > max_length:
        if image_ends and image_ends[-1] > max_length:
            raise ConversationTooLongError(sample_id, f"{len(out_ids)} tokens; max_length {max_length} "
                                                      "would cut an image's tokens")
        full = len(out_ids)
        had_labels = any(x != IGNORE_INDEX for x in out_labels)
        out_ids, out_labels, truncated = out_ids[:max_length], out_labels[:max_length], True
        if had_labels and all(x == IGNORE_INDEX for x in out_labels):
            raise ConversationTooLongError(sample_id, f"{full} tokens; max_length {max_length} "
                                                      "would cut every supervised token")
    return EncodedConversation(out_ids, out_labels, {m: seen.get(m, 0) for m in placeholder_ids}, truncated)
