"""The training sample order: several sources mixed by weight, optionally grouped by length.

:class:`MixtureSampler` yields indices into the concatenation of the sources. Each draw picks a
source with probability proportional to its weight, then a sample of it (without replacement
within an epoch until the source is used up, then it starts over), so a small source with a large
weight is repeated and a large one with a small weight is subsampled. The order is a pure function
of ``(seed, epoch)``. With ``group_lengths`` the drawn indices are cut into mega-batches of
``50 * batch_size``, each sorted by length and cut into batches, and the batches are shuffled:
consecutive ``batch_size`` indices then have similar lengths (less padding).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

MEGA = 50


class MixtureSampler(Sampler[int]):
    """Weighted mixture of sources (indices into their concatenation).

    Args:
        sizes: number of samples of each source.
        weights: relative weight of each source (default: proportional to size).
        num_samples: draws per epoch (default: total size).
        seed: base seed; the order of epoch ``e`` depends on ``seed + e`` only.
        group_lengths: per-index lengths to group batches by (None: no grouping).
        batch_size: batch size for grouping.
    """

    def __init__(self, sizes: Sequence[int], weights: Sequence[float] | None = None, *,
                 num_samples: int | None = None, seed: int = 0, group_lengths: Sequence[int] | None = None,
                 batch_size: int = 1):
        if not sizes or any(int(n) <= 0 for n in sizes):
            raise ValueError(f"every source needs samples, got sizes {list(sizes)}")
        w = [float(x) for x in (weights if weights is not None else sizes)]
        if len(w) != len(sizes) or any(x < 0 for x in w) or sum(w) <= 0:
            raise ValueError(f"weights {list(w)} do not fit sources of sizes {list(sizes)}")
        self.sizes = [int(n) for n in sizes]
        self.weights = torch.tensor(w, dtype=torch.double)
        self.num_samples = int(num_samples or sum(self.sizes))
        self.seed = int(seed)
        self.group_lengths = list(group_lengths) if group_lengths is not None else None
        self.batch_size = max(1, int(batch_size))
        self.epoch = 0
        self.offsets = [sum(self.sizes[:k]) for k in range(len(self.sizes))]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def _draw(self, g: torch.Generator) -> list[int]:
        sources = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=g).tolist()
        perms: list[list[int]] = [[] for _ in self.sizes]
        out = []
        for s in sources:
            if not perms[s]:
                perms[s] = torch.randperm(self.sizes[s], generator=g).tolist()
            out.append(self.offsets[s] + perms[s].pop())
        return out

    def _group(self, order: list[int], g: torch.Generator) -> list[int]:
        lengths, bs = self.group_lengths, self.batch_size
        batches = []
        for start in range(0, len(order), MEGA * bs):
            mega = sorted(order[start:start + MEGA * bs], key=lambda i: -lengths[i])
            batches += [mega[k:k + bs] for k in range(0, len(mega), bs)]
        perm = torch.randperm(len(batches), generator=g).tolist()
        return [i for b in perm for i in batches[b]]

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = self._draw(g)
        if self.group_lengths is not None:
            order = self._group(order, g)
        return iter(order)
