"""Batch samples: tokens through the model's conversation code, padding, pixels batched per modality.

The batch (INTERFACES.md): ``{"ids", "input_ids" (B, T), "attention_mask" (B, T), "labels" (B, T),
"pixel_values": {m: (N_m, C, *spatial)}, "image_sample_index": {m: (N_m,)}}``. Images of a
modality are stacked sample-major in placeholder order. An AnyRes X-ray ``(V, C, H, W)`` counts as
one placeholder whose token count is the sum over its V views; its views become V consecutive rows
of ``pixel_values["xray"]`` with the same sample index. Samples that already carry ``input_ids``
and ``token_labels`` (pre-tokenised streaming chunks) are only padded. Encoded conversations are
remembered (as int32 tensors, keyed by the messages and image-token counts, which with the
collator's fixed tokenizer and settings decide the result), so later epochs do not tokenise again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch

from medmllm.data.conversation import IGNORE_INDEX, ConversationTooLongError, encode_conversation
from medmllm.errors import InputError

log = logging.getLogger(__name__)

SPATIAL_DIMS = {"xray": 2, "ct": 3, "video": 3}  # a clip is (C, T, H, W), time as depth


def views_of(modality: str, x: torch.Tensor) -> list[torch.Tensor]:
    """The encoder inputs ``(C, *spatial)`` of one image tensor (several for AnyRes)."""
    nd = SPATIAL_DIMS[modality] + 1
    if x.dim() == nd:
        return [x]
    if x.dim() == nd + 1:
        return list(x.unbind(0))
    raise InputError(None, f"{modality} image tensor of shape {tuple(x.shape)}: expected {nd} or {nd + 1} dims")


class Collator:
    """Turn a list of samples into a padded batch.

    Args:
        tokenizer: the model's tokenizer (with ``<xray>`` / ``<ct>`` / ``<video>`` tokens).
        num_image_tokens: ``(modality, input_shape) -> tokens`` (``model.num_image_tokens``).
        max_length: most tokens per sample (samples whose images would be cut are dropped and counted).
        padding_side: ``right`` for training, ``left`` for batched generation.
        add_generation_prompt: end each sample ready for the assistant's reply (generation / scoring).
        system_prompt: system message for samples without one.
        memo_size: most encoded conversations remembered (0: none).
    """

    def __init__(self, tokenizer: Any, num_image_tokens: Callable[[str, tuple], int], max_length: int | None,
                 padding_side: str = "right", *, add_generation_prompt: bool = False,
                 system_prompt: str | None = None, memo_size: int = 200_000):
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be left or right, got {padding_side!r}")
        self.tokenizer = tokenizer
        self.num_image_tokens = num_image_tokens
        self.max_length = max_length
        self.padding_side = padding_side
        self.add_generation_prompt = add_generation_prompt
        self.system_prompt = system_prompt
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.dropped = 0
        self._tokens: dict[tuple, int] = {}
        self.memo_size = int(memo_size)
        self._memo: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def image_tokens(self, modality: str, x: torch.Tensor) -> int:
        """LLM tokens of one image tensor (summed over AnyRes views)."""
        total = 0
        for v in views_of(modality, x):
            key = (modality, tuple(v.shape))
            if key not in self._tokens:
                self._tokens[key] = int(self.num_image_tokens(modality, key[1]))
            total += self._tokens[key]
        return total

    def encode(self, sample: dict[str, Any]) -> tuple[list[int], list[int]]:
        """Ids and labels of one sample (pre-tokenised samples pass through)."""
        if "input_ids" in sample and "token_labels" in sample:
            return [int(t) for t in sample["input_ids"]], [int(t) for t in sample["token_labels"]]
        counts = {m: [self.image_tokens(m, x) for x in xs] for m, xs in (sample.get("pixels") or {}).items()}
        enc = encode_conversation(sample["messages"], self.tokenizer, counts, sample_id=str(sample["id"]),
                                  max_length=self.max_length, add_generation_prompt=self.add_generation_prompt,
                                  system_prompt=self.system_prompt)
        return enc.input_ids, enc.labels

    def encode_tensors(self, sample: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode` as int32 tensors ``(T,)``, remembered per conversation and image-token counts."""
        if ("input_ids" in sample and "token_labels" in sample) or not self.memo_size:
            ids, labels = self.encode(sample)
            return torch.tensor(ids, dtype=torch.int32), torch.tensor(labels, dtype=torch.int32)
        counts = tuple((m, tuple(self.image_tokens(m, x) for x in xs))
                       for m, xs in sorted((sample.get("pixels") or {}).items()))
        key = (tuple((m.get("role"), m.get("content")) for m in sample["messages"]), counts)
        hit = self._memo.get(key)
        if hit is None:
            ids, labels = self.encode(sample)
            hit = torch.tensor(ids, dtype=torch.int32), torch.tensor(labels, dtype=torch.int32)
            if len(self._memo) < self.memo_size:
                self._memo[key] = hit
        return hit

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        kept, encoded = [], []
        for s in samples:
            try:
                encoded.append(self.encode_tensors(s))
                kept.append(s)
            except ConversationTooLongError as e:
                self.dropped += 1
                log.warning("dropped sample (%d so far): %s", self.dropped, e)
        if not kept:
            raise InputError(None, f"every sample of a batch is longer than max_length {self.max_length} "
                                   f"(e.g. '{samples[0]['id']}'); raise model.max_length")
        width = max(len(ids) for ids, _ in encoded)
        b = len(kept)
        input_ids = torch.full((b, width), self.pad_id, dtype=torch.long)  # (B, T)
        labels = torch.full((b, width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        attention = torch.zeros((b, width), dtype=torch.long)  # (B, T)
        for i, (ids, labs) in enumerate(encoded):
            n = len(ids)
            sl = slice(width - n, width) if self.padding_side == "left" else slice(0, n)
            input_ids[i, sl] = ids
            labels[i, sl] = labs
            attention[i, sl] = 1
        pixel_values, sample_index, image_keys = self._pixels(kept)
        batch = {"ids": [s["id"] for s in kept], "input_ids": input_ids, "attention_mask": attention,
                 "labels": labels, "pixel_values": pixel_values, "image_sample_index": sample_index}
        if image_keys:
            batch["image_keys"] = image_keys
        return batch

    @staticmethod
    def _pixels(samples: list[dict[str, Any]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor],
                                                         dict[str, list[tuple[str, int]]] | None]:
        rows: dict[str, list[torch.Tensor]] = {}
        index: dict[str, list[int]] = {}
        keys: dict[str, list[tuple[str, int]]] | None = {}
        for i, s in enumerate(samples):
            skeys = s.get("image_keys")
            for m, xs in (s.get("pixels") or {}).items():
                mkeys = (skeys or {}).get(m)
                if mkeys is None or len(mkeys) != len(xs):
                    keys = None  # identities unknown: the feature cache falls back to sample ids
                for j, x in enumerate(xs):
                    for vi, v in enumerate(views_of(m, x)):
                        rows.setdefault(m, []).append(v)
                        index.setdefault(m, []).append(i)
                        if keys is not None:
                            keys.setdefault(m, []).append((mkeys[j], vi))
        pixel_values = {}
        for m, vs in rows.items():
            shapes = {tuple(v.shape) for v in vs}
            if len(shapes) > 1:
                raise InputError(None, f"{m} images of one batch have different shapes {sorted(shapes)}; "
                                       "the transforms must give the encoder's size")
            pixel_values[m] = torch.stack(vs)  # (N_m, C, *spatial)
        return pixel_values, {m: torch.tensor(ix, dtype=torch.long) for m, ix in index.items()}, keys
