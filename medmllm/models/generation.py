"""Generation helpers: left padding, default generation settings, streaming through a thread."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterator

import torch

log = logging.getLogger(__name__)


def to_left_padding(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's tokens to the right end (left padding), as batched generation needs."""
    if attention_mask.shape[1] == 0 or bool(attention_mask[:, -1].all()):
        return input_ids, attention_mask
    lengths = attention_mask.sum(1)  # (B,)
    ids = torch.full_like(input_ids, pad_id)
    mask = torch.zeros_like(attention_mask)
    for i, n in enumerate(lengths.tolist()):
        keep = input_ids[i][attention_mask[i].bool()]
        ids[i, ids.shape[1] - n:] = keep
        mask[i, mask.shape[1] - n:] = 1
    return ids, mask


def generation_defaults(tokenizer: Any, eos_ids: list[int], suppress: list[int],
                        kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fill in ``max_new_tokens``, EOS/pad ids and suppressed placeholder tokens.

    Greedy unless ``do_sample`` (temperature, top_p) or ``num_beams`` are given; every standard
    transformers generation argument (``repetition_penalty`` ...) passes through.
    """
    out = dict(kwargs)
    out.setdefault("max_new_tokens", 128)
    out.setdefault("eos_token_id", eos_ids)
    out.setdefault("pad_token_id", tokenizer.pad_token_id)
    out.setdefault("do_sample", False)
    if not out["do_sample"]:
        for k in ("temperature", "top_p", "top_k"):
            out.setdefault(k, None)
    if suppress:
        out.setdefault("suppress_tokens", suppress)
    return out


def stream_text(tokenizer: Any, run: Callable[[Any], Any], timeout: float | None = 600.0) -> Iterator[str]:
    """Run ``run(streamer)`` in a thread and yield decoded text pieces as they are generated.

    Errors raised in the generating thread are re-raised here after the stream ends.
    """
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=False, timeout=timeout, skip_special_tokens=True)
    error: list[BaseException] = []

    def target() -> None:
        try:
            run(streamer)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(e)
            streamer.end()

    thread = threading.Thread(target=target, daemon=True, name="medmllm-generate")
    thread.start()
    try:
        for piece in streamer:
            if piece:
                yield piece
    finally:
        thread.join()
    if error:
        raise error[0]
