"""Frozen-encoder feature cache: a frozen encoder whose inputs are not augmented sees the same
image every epoch, so its output is computed once and reused.

The cache patches the encoder instance's ``forward`` (parameter names and exports are
unchanged). Before each forward pass the LightningModule tells it which images the batch holds
(:meth:`FeatureCache.set_keys`: one key per image, ``(sample id, modality, k-th image of that
sample)``, in the order the model hands images to the encoder). Misses are computed in one
encoder call and stored on the CPU, up to ``max_gb``; the cache is only enabled for encoders that
have no trainable parameter and run in eval mode.
"""

from __future__ import annotations

import logging
from typing import Any, Hashable, Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)


def image_keys(ids: Sequence[str], sample_index: torch.Tensor, modality: str) -> list[tuple[str, str, int]]:
    """Keys of a batch's images of one modality, in the order the model encodes them.

    The model sorts images by sample index (stable), so the k-th image of sample ``i`` keeps its
    rank among that sample's images.
    """
    idx = [int(i) for i in sample_index.tolist()]
    seen: dict[int, int] = {}
    keys = []
    for i in idx:
        k = seen.get(i, 0)
        seen[i] = k + 1
        keys.append((str(ids[i]), modality, k))
    order = sorted(range(len(idx)), key=lambda j: (idx[j], j))
    return [keys[j] for j in order]


class FeatureCache:
    """Caches the outputs of frozen encoders, keyed per image.

    Args:
        max_gb: memory budget of the stored features (CPU); beyond it misses are not stored.
        dtype: store features in this dtype (None keeps the encoder's output dtype).
    """

    def __init__(self, max_gb: float = 4.0, dtype: torch.dtype | None = None):
        self.max_bytes = int(max_gb * (1 << 30))
        self.dtype = dtype
        self.store: dict[Hashable, torch.Tensor] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._keys: dict[str, list[Hashable] | None] = {}
        self._patched: dict[str, nn.Module] = {}

    def attach(self, modality: str, encoder: nn.Module) -> None:
        """Route ``encoder``'s forward through the cache (for ``modality``)."""
        original = encoder.forward

        def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            keys = self._keys.get(modality)
            if keys is None or args or kwargs or torch.is_grad_enabled() and encoder.training:
                return original(x, *args, **kwargs)
            if len(keys) != x.shape[0]:
                raise RuntimeError(f"feature cache: {len(keys)} keys for {x.shape[0]} {modality} images")
            return self._lookup(keys, x, original)

        encoder.forward = forward  # instance attribute: state_dict names unchanged
        self._patched[modality] = encoder

    def detach(self) -> None:
        """Restore the encoders' own forward methods."""
        for enc in self._patched.values():
            if "forward" in vars(enc):
                del enc.forward
        self._patched.clear()

    @property
    def modalities(self) -> list[str]:
        return list(self._patched)

    def set_keys(self, batch: dict[str, Any]) -> None:
        """Keys of the images in ``batch``: the collator's ``image_keys`` (image identity, so the
        records of one study share features; rows are sample-major, the order the model encodes
        them in), else ``(sample id, modality, k)`` from ``ids`` and ``image_sample_index``."""
        ids = batch.get("ids")
        index = batch.get("image_sample_index") or {}
        by_image = batch.get("image_keys") or {}
        for m in self._patched:
            if m in by_image and m in index:
                self._keys[m] = [(m, *k) for k in by_image[m]]
            else:
                self._keys[m] = image_keys(ids, index[m], m) if ids is not None and m in index else None

    def clear_keys(self) -> None:
        self._keys = {}

    def _lookup(self, keys: list[Hashable], x: torch.Tensor, compute: Any) -> torch.Tensor:
        miss = [j for j, k in enumerate(keys) if k not in self.store]
        self.hits += len(keys) - len(miss)
        self.misses += len(miss)
        fresh = None
        if miss:
            with torch.no_grad():
                fresh = compute(x[miss] if len(miss) < len(keys) else x)  # (M, T, D)
            for j, f in zip(miss, fresh):
                t = f.detach().to("cpu", self.dtype or f.dtype)
                size = t.numel() * t.element_size()
                if self.bytes + size <= self.max_bytes:
                    self.store[keys[j]] = t
                    self.bytes += size
        if fresh is not None and len(miss) == len(keys):
            return fresh
        pos = {j: n for n, j in enumerate(miss)}
        out = []
        for j, k in enumerate(keys):
            if j in pos:
                out.append(fresh[pos[j]])
            else:
                out.append(self.store[k].to(x.device, non_blocking=True))
        dtype = fresh.dtype if fresh is not None else out[0].dtype
        return torch.stack([o.to(dtype) for o in out])  # (N, T, D)

    def stats(self) -> dict[str, Any]:
        """Hits, misses, entries and memory (MB)."""
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.store), "mb": self.bytes / 2**20}
