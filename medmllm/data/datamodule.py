"""The Lightning DataModule: manifests (or litdata chunks) -> mixed, collated batches.

Training sources are mixed by weight (:class:`~medmllm.data.mixture.MixtureSampler`), filtered by
task, optionally grouped by length; validation sources are concatenated in order. Images go
through the model's per-modality pipelines (augmented for training only) and the on-disk cache;
the :class:`~medmllm.data.collate.Collator` builds tokens and labels with the model's
conversation code. Everything a worker process needs is picklable (the image-token counts are a
table computed up front, not the model), so ``num_workers > 0`` works with any start method.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

import lightning as L
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from medmllm.config import DataConfig
from medmllm.data.cache import MemoryCache, TensorCache
from medmllm.data.collate import Collator
from medmllm.data.dataset import ManifestDataset
from medmllm.data.mixture import MixtureSampler
from medmllm.data.transforms import ImagePipeline, build_pipelines
from medmllm.errors import ConfigError

log = logging.getLogger(__name__)


class TokenTable:
    """Image-token counts per ``(modality, input_shape)``, computed in the main process (picklable)."""

    def __init__(self, fn: Callable[[str, tuple], int], shapes: dict[str, tuple[int, ...]]):
        self.table = {(m, tuple(s)): int(fn(m, tuple(s))) for m, s in shapes.items()}

    def __call__(self, modality: str, shape: tuple) -> int:
        try:
            return self.table[(modality, tuple(shape))]
        except KeyError:
            raise ConfigError(None, f"{modality} input of shape {tuple(shape)} is not the encoder's "
                                    f"({[s for m, s in self.table if m == modality]})") from None


def check_synthetic_seeds(cfg: DataConfig) -> None:
    """Refuse a validation synthetic source with a training source's seed (its cases would repeat them)."""
    train_seeds = {s.synthetic.seed: i for i, s in enumerate(cfg.train) if s.synthetic is not None}
    for j, s in enumerate(cfg.val):
        if s.synthetic is not None and s.synthetic.seed in train_seeds:
            raise ConfigError(None, f"data.val.{j}.synthetic.seed {s.synthetic.seed} is also the seed of "
                                    f"data.train.{train_seeds[s.synthetic.seed]}: its cases would repeat training "
                                    "cases (a case depends only on seed and index); give it another seed")


def _is_manifest(path: str) -> bool:
    return path.endswith((".jsonl", ".json")) and "://" not in path


class MedDataModule(L.LightningDataModule):
    """Batches for training and validation.

    ``synthetic`` sources are materialised (generated once into their cache folder) in
    :meth:`prepare_data`, or on first use, and are then read like any manifest.

    Args:
        cfg: the ``data`` config.
        tokenizer: the model's tokenizer.
        num_image_tokens: ``model.num_image_tokens``.
        input_specs: modality -> the encoder's ``input_spec``.
        max_length: most tokens per sample.
        system_prompt: system message for samples without one.
        progress: progress bars while generating synthetic sources (default: off when the CLI's
            ``--quiet`` set ``MEDMLLM_QUIET=1``).
    """

    def __init__(self, cfg: DataConfig, *, tokenizer: Any, num_image_tokens: Callable[[str, tuple], int],
                 input_specs: dict[str, dict[str, Any]], max_length: int | None = None,
                 system_prompt: str | None = None, progress: bool | None = None):
        super().__init__()
        check_synthetic_seeds(cfg)
        self.cfg = cfg
        self.progress = os.environ.get("MEDMLLM_QUIET", "0") != "1" if progress is None else progress
        self._manifests: dict[tuple[str, int], str] = {}
        self.tokenizer = tokenizer
        self.input_specs = input_specs
        self.max_length = max_length
        self.train_pipes = build_pipelines(input_specs, cfg.transforms, train=True)
        self.eval_pipes = build_pipelines(input_specs, cfg.transforms, train=False)
        shapes = {m: (p.spec["channels"], *p.spec["spatial_size"]) for m, p in self.eval_pipes.items()}
        self.tokens = TokenTable(num_image_tokens, shapes)
        self.collator = Collator(tokenizer, self.tokens, max_length, system_prompt=system_prompt)
        self.cache = TensorCache(cfg.cache_dir) if cfg.cache_dir else None
        budget = float(cfg.memory_cache_gb or 0) * 2**30 / max(1, int(cfg.num_workers))
        # one cache per process, shared by the data modules of successive stages (each DataLoader
        # worker process gets its own, empty copy)
        self.memory = MemoryCache.shared(int(budget)) if budget > 0 else None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.sampler: MixtureSampler | None = None

    @classmethod
    def from_model(cls, cfg: DataConfig, model: Any) -> "MedDataModule":
        """Everything model-specific (tokenizer, sizes, token counts, max_length) from a ``MedMLLM``."""
        mods = list(model.config.modalities)
        return cls(cfg, tokenizer=model.tokenizer, num_image_tokens=model.num_image_tokens,
                   input_specs={m: model.input_spec(m) for m in mods}, max_length=model.config.max_length,
                   system_prompt=model.config.system_prompt)

    # ---- datasets -------------------------------------------------------------------------------
    def source_path(self, role: str, index: int) -> str:
        """The manifest / chunk path of ``data.<role>[index]`` (a synthetic source is generated first)."""
        src = getattr(self.cfg, role)[index]
        if src.synthetic is None:
            return str(src.path)
        if (role, index) not in self._manifests:
            from medmllm.data.synthetic_source import materialise

            self._manifests[(role, index)] = str(materialise(src.synthetic, src.split or role, progress=self.progress,
                                                             where=f"data.{role}.{index}.synthetic"))
        return self._manifests[(role, index)]

    def prepare_data(self) -> None:
        """Generate the synthetic sources that are not in their cache folder yet (once per machine)."""
        for role in ("train", "val"):
            for i, src in enumerate(getattr(self.cfg, role)):
                if src.synthetic is not None:
                    self.source_path(role, i)

    def _source(self, role: str, index: int, pipes: dict[str, ImagePipeline]) -> Dataset:
        src = getattr(self.cfg, role)[index]
        tasks = src.tasks or self.cfg.tasks
        path = self.source_path(role, index)
        if _is_manifest(path):
            return ManifestDataset.from_manifest(path, pipes, split=src.split or role, tasks=tasks,
                                                 variants=src.variants or self.cfg.variants,
                                                 cache=self.cache, memory=self.memory,
                                                 answer_as_target=self.cfg.answer_as_target)
        from medmllm.data.streaming import StreamingSamples

        return StreamingSamples(path, pipes, tokenizer=self.tokenizer, max_length=self.max_length, tasks=tasks,
                                storage_options=src.storage_options)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and self.cfg.train and stage in (None, "fit"):
            parts = [self._source("train", i, self.train_pipes) for i in range(len(self.cfg.train))]
            self.train_set = ConcatDataset(parts)
            lengths = None
            if self.cfg.group_by_length:
                lengths = [p.length(i) for p in parts for i in range(len(p))]
            self.sampler = MixtureSampler([len(p) for p in parts], [s.weight for s in self.cfg.train],
                                          num_samples=self.cfg.samples_per_epoch, seed=self.cfg.seed,
                                          group_lengths=lengths, batch_size=self.cfg.batch_size)
            log.info("training data: %s", ", ".join(f"{self.source_path('train', i)} ({len(p)} samples, weight "
                                                    f"{s.weight})" for i, (s, p) in enumerate(zip(self.cfg.train, parts))))
        if self.val_set is None and self.cfg.val and stage in (None, "fit", "validate"):
            self.val_set = ConcatDataset([self._source("val", i, self.eval_pipes) for i in range(len(self.cfg.val))])

    # ---- loaders --------------------------------------------------------------------------------
    def _loader(self, ds: Dataset, batch_size: int, sampler: Any = None) -> DataLoader:
        workers = int(self.cfg.num_workers)
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, shuffle=False, collate_fn=self.collator,
                          num_workers=workers, persistent_workers=workers > 0, drop_last=False,
                          prefetch_factor=2 if workers > 0 else None)

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        if self.train_set is None:
            raise ConfigError(None, "data.train: no training source configured")
        return self._loader(self.train_set, self.cfg.batch_size, self.sampler)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            self.setup("validate")
        if self.val_set is None:
            return []
        return self._loader(self.val_set, self.cfg.eval_batch_size or self.cfg.batch_size)
