"""Inference on an export: one :class:`Predictor` for ``generate``, ``evaluate``, the benchmarks and the app.

Modules:

- :mod:`.predictor`: :class:`Predictor` (load an export, preprocess, prompt, generate, stream, score
  choices) and :func:`load_predictor` (the runner's / judge's view of an export);
- :mod:`.export`: the checks an export passes before its weights load (complete, readable, fits);
- :mod:`.inputs`: manifests, records and image paths checked before the model loads;
- :mod:`.settings`: generation settings, checked once for every caller;
- :mod:`.predictions`: predictions files (locked, resumable, never clobbered) and run records;
- :mod:`.batch`: ``generate --data`` over a manifest;
- :mod:`.progress`: progress bars that never glue to an error line.

The user turn of a request is worded by :mod:`medmllm.data.prompts` (the export's recorded
training prompts, else the documented defaults). See ``docs/inference.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"DEFAULT_PROMPTS": "medmllm.data.prompts", "PromptBook": "medmllm.data.prompts",
          "build_messages": "medmllm.data.prompts", "BatchResult": "medmllm.inference.batch",
          "generate_manifest": "medmllm.inference.batch", "normalise_input": "medmllm.inference.inputs",
          "Predictor": "medmllm.inference.predictor", "collate_prompts": "medmllm.inference.predictor",
          "load_predictor": "medmllm.inference.predictor", "to_device": "medmllm.inference.predictor"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (torch loads only when a model is needed)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'medmllm.inference' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
