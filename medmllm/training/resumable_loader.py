"""A resumable training DataLoader: mid-epoch resume neither repeats nor skips samples.

:class:`ResumableData` wraps a stage's DataModule so that its training loader becomes a
:class:`ResumableDataLoader` (sharded by rank without Lightning's sampler replacement).

The sample order of an epoch is a pure function of ``(seed, epoch)`` (a seeded permutation, or
the order of the DataModule's own sampler after ``set_epoch``); each rank takes every
``world_size``-th index of it, as ``DistributedSampler`` does, so the union of the ranks' batches
at step ``k`` is the single-process batch of ``world_size * batch_size`` samples at step ``k``.
The loader counts the batches it has handed out in the current epoch; Lightning stores that
count in its checkpoints (``state_dict``) and gives it back on resume (``load_state_dict``), and
the next epoch iteration then skips exactly those batches (indices only: nothing is loaded).
Because the loader has a length, Lightning does not prefetch, so the count equals the number of
batches trained.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import lightning as L
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler, SequentialSampler

log = logging.getLogger(__name__)


class ResumableSampler(Sampler[int]):
    """Deterministic per-epoch order, sharded by rank, with a one-shot skip for resume.

    Args:
        num_samples: dataset length.
        shuffle: permute the samples each epoch (seeded by ``seed + epoch``).
        seed: base seed of the permutation.
        rank: this process's rank; ``world_size``: number of processes.
        source: a sampler whose order is used instead of a permutation (e.g. a weighted mixing
            sampler); its ``set_epoch`` is called when it has one.
        drop_last: drop the tail that does not fill every rank (else pad by wrapping around).
    """

    def __init__(self, num_samples: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0,
                 world_size: int = 1, source: Sampler | None = None, drop_last: bool = True):
        self.num_samples = int(num_samples)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.source = source
        self.drop_last = drop_last
        self.epoch = 0
        self.skip = 0  # indices of this rank to skip on the next iteration (resume)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.source is not None and hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)

    def epoch_order(self) -> list[int]:
        """All ranks' indices of the current epoch, before sharding."""
        if self.source is not None:
            return [int(i) for i in self.source]
        if not self.shuffle:
            return list(range(self.num_samples))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(self.num_samples, generator=g).tolist()

    def _per_rank(self, n: int) -> int:
        if self.drop_last:
            return n // self.world_size
        return -(-n // self.world_size)

    def __len__(self) -> int:
        n = self.num_samples if self.source is None else len(self.source)
        return self._per_rank(n)

    def __iter__(self) -> Iterator[int]:
        order = self.epoch_order()
        per_rank = self._per_rank(len(order))
        total = per_rank * self.world_size
        if total > len(order):  # pad by wrapping around so every rank gets the same count
            order = order + order[: total - len(order)]
        mine = order[self.rank:total:self.world_size]
        skip, self.skip = self.skip, 0
        return iter(mine[skip:])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`ResumableSampler` that Lightning can checkpoint mid-epoch."""

    def __init__(self, dataset: Any, *, sampler: ResumableSampler, batch_size: int, **kwargs: Any):
        super().__init__(dataset, sampler=sampler, batch_size=batch_size, drop_last=False, **kwargs)
        self._batches_done = 0  # batches handed out in the current epoch
        self._skip_batches = 0  # batches to skip at the start of the next iteration (resume)

    def __iter__(self) -> Iterator[Any]:
        sampler: ResumableSampler = self.sampler  # type: ignore[assignment]
        skip = self._skip_batches
        self._skip_batches = 0
        self._batches_done = skip
        sampler.skip = skip * self.batch_size
        if self.generator is not None:  # worker seeds depend only on (seed, epoch), also after a resume
            self.generator.manual_seed(sampler.seed * 1_000_003 + sampler.epoch)
        if skip:
            log.info("resuming epoch %d after %d batches (%d samples of this rank skipped, not loaded)",
                     sampler.epoch, skip, skip * self.batch_size)
        inner = super().__iter__()
        return self._counting(inner)

    def _counting(self, inner: Iterator[Any]) -> Iterator[Any]:
        for batch in inner:
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """What Lightning stores in a checkpoint: the epoch and batches handed out in it."""
        s: ResumableSampler = self.sampler  # type: ignore[assignment]
        return {"epoch": s.epoch, "batches_done": self._batches_done, "batch_size": self.batch_size,
                "world_size": s.world_size, "seed": s.seed, "num_samples": s.num_samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Arrange for the next iteration to skip the batches already trained in that epoch."""
        s: ResumableSampler = self.sampler  # type: ignore[assignment]
        for key in ("batch_size", "world_size", "seed", "num_samples"):
            if key in state and state[key] != getattr(self, key, getattr(s, key, None)):
                log.warning("resume: %s changed from %s to %s; the sample order of the resumed epoch differs",
                            key, state[key], getattr(self, key, getattr(s, key, None)))
        s.set_epoch(int(state.get("epoch", 0)))
        full = super().__len__()
        done = int(state.get("batches_done", 0))
        self._skip_batches = done if done < full else 0


def make_resumable(loader: DataLoader, *, seed: int, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Rebuild a DataModule's training loader as a :class:`ResumableDataLoader`.

    Keeps the dataset, batch size, collate function and worker settings; the order comes from a
    seeded permutation (random sampler), the plain order (sequential sampler) or the loader's own
    sampler (anything else, e.g. weighted mixing). Loaders that are already stateful (litdata's
    streaming loader), iterable datasets and custom batch samplers are returned unchanged.
    """
    if hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict"):
        return loader
    if isinstance(loader.dataset, torch.utils.data.IterableDataset) or loader.batch_size is None:
        log.warning("training loader without a sampler (iterable dataset or batch sampler): "
                    "mid-epoch resume cannot skip exactly the trained samples")
        return loader
    src = loader.sampler
    source = None if isinstance(src, (RandomSampler, SequentialSampler)) else src
    sampler = ResumableSampler(len(loader.dataset), shuffle=not isinstance(src, SequentialSampler), seed=seed,
                               rank=rank, world_size=world_size, source=source)
    kwargs: dict[str, Any] = {"collate_fn": loader.collate_fn, "num_workers": loader.num_workers,
                              "pin_memory": loader.pin_memory, "timeout": loader.timeout,
                              "worker_init_fn": loader.worker_init_fn}
    if loader.num_workers > 0:
        kwargs.update(persistent_workers=loader.persistent_workers, prefetch_factor=loader.prefetch_factor,
                      multiprocessing_context=loader.multiprocessing_context)
    g = torch.Generator()
    g.manual_seed(seed)
    return ResumableDataLoader(loader.dataset, sampler=sampler, batch_size=loader.batch_size, generator=g,
                               **kwargs)


class ResumableData(L.LightningDataModule):
    """Delegates to a DataModule; its training loader is made resumable and sharded by rank."""

    def __init__(self, inner: L.LightningDataModule, seed: int):
        super().__init__()
        self.inner = inner
        self.seed = seed

    def prepare_data(self) -> None:
        self.inner.prepare_data()

    def setup(self, stage: str) -> None:
        self.inner.trainer = self.trainer
        self.inner.setup(stage)

    def train_dataloader(self) -> Any:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        world = self.trainer.world_size if self.trainer is not None else 1
        return make_resumable(self.inner.train_dataloader(), seed=self.seed, rank=rank, world_size=world)

    def val_dataloader(self) -> Any:
        return self.inner.val_dataloader()

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)
