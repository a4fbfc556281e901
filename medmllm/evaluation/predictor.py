"""The benchmark runner's view of an export: ``generate(records)`` and ``choice_losses(record, choices)``.

:class:`~medmllm.evaluation.benchmarks.runner` asks only for an object with those two methods (see
:class:`~medmllm.evaluation.benchmarks.base.Predictor`). :class:`CheckpointPredictor` adapts
:class:`medmllm.inference.Predictor` to it:

- records come from a manifest with image paths relative to the manifest's image root (also after
  the ``shuffled_images`` control swapped them), so the adapter resolves them under ``image_root``
  (paths that leave the root are rejected by :func:`medmllm.data.schema.resolve_image_path`);
- the runner already cuts the records into batches, so each ``generate`` call is one batched
  generation of all the records it gets;
- generation settings (``max_new_tokens``, sampling ...) are fixed at construction, so every batch of
  a run is generated the same way.

:func:`load_predictor` is what ``--judge checkpoint:DIR`` (MLLM-Bench) and ``medmllm evaluate`` use.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CheckpointPredictor:
    """A :class:`medmllm.inference.Predictor` behind the runner's predictor interface.

    Args:
        predictor: the loaded export.
        image_root: folder the records' relative image paths are resolved against (None: use the paths
            as they are).
        **generation: generation settings for every call (``max_new_tokens``, ``do_sample`` ...).
    """

    def __init__(self, predictor: Any, image_root: str | os.PathLike | None = None, **generation: Any):
        self.predictor = predictor
        self.image_root = None if image_root is None else Path(image_root)
        self.generation = dict(generation)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
             device: str | None = None, dtype: str | None = None, **generation: Any) -> "CheckpointPredictor":
        """Load an export folder (``medmllm.yaml`` + weights) and wrap it.

        Raises:
            InputError: the folder is missing or is not a medmllm export.
        """
        from medmllm.inference import Predictor

        return cls(Predictor.from_pretrained(checkpoint, device=device, dtype=dtype), image_root, **generation)

    def generate(self, batch: list[dict[str, Any]]) -> list[str]:
        """One answer per record, generated as one batch (a trailing assistant turn is not shown)."""
        if not batch:
            return []
        return self.predictor.generate(batch, batch_size=len(batch), root=self.image_root, **self.generation)

    def choice_losses(self, record: dict[str, Any], choices: list[str]) -> list[float]:
        """Mean token loss of each choice as the reply to the record's prompt (one forward pass)."""
        return self.predictor.choice_losses(record, list(choices), root=self.image_root)


def load_predictor(checkpoint: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                   device: str | None = None, dtype: str | None = None, max_new_tokens: int = 512,
                   **generation: Any) -> CheckpointPredictor:
    """A runner/judge predictor for an export folder (greedy, ``max_new_tokens`` new tokens by default).

    Args:
        checkpoint: the export folder.
        image_root: folder relative image paths are resolved against.
        device: ``cpu``, ``cuda`` ... (default: CUDA when available).
        dtype: weights dtype (default: the export's).
        max_new_tokens: answer length limit.
        **generation: more transformers generation settings.
    """
    return CheckpointPredictor.load(checkpoint, image_root=image_root, device=device, dtype=dtype,
                                    max_new_tokens=max_new_tokens, **generation)
