"""Training stages: named presets of what trains and the optimiser defaults, looked up in ``STAGES``.

A stage is data: a name, a one-line description, the default of ``train.trainable`` (which
parts train, see :mod:`medmllm.training.freeze`) and the default ``train.optim`` values (the
config's own keys win). The presets:

========  ================================================================  ==========
name      what trains by default                                            lr
========  ================================================================  ==========
align     connectors only (encoders and LLM frozen): image-caption data     1e-3
report    connectors + LLM (LoRA when present, else full): reports          2e-4
instruct  connectors + LLM (LoRA when present, else full): instructions     2e-4
clinical  connectors + LLM (LoRA when present, else full): clinical cases   1e-4
encoder   image encoders + report encoder (:mod:`medmllm.pretraining`)      1e-3
========  ================================================================  ==========

:class:`Stage` also holds the hooks that build a stage's model, DataModule and LightningModule and
write its export (:func:`medmllm.training.builders.build_stage` calls them); a subclass overrides
them only where a stage really differs (the ``encoder`` stage builds another model, module and
export). Adding a preset is one entry in :data:`PRESETS`; adding a stage with its own hooks: a
subclass registered with ``STAGES.register(name)`` in a module listed in the ``STAGES`` registry
(:mod:`medmllm.registry`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from torch import nn

from medmllm.errors import ConfigError
from medmllm.registry import STAGES
from medmllm.training import freeze

LLM_AUTO = "LLM (LoRA when present, else full)"

PRESETS: dict[str, dict[str, Any]] = {
    "align": {
        "description": "connectors only (encoders and LLM frozen), on image-caption data",
        "trainable": {"encoders": False, "connectors": True, "llm": False},
        "optim": {"lr": 1e-3, "warmup_ratio": 0.03, "weight_decay": 0.0},
    },
    "report": {
        "description": f"connectors + {LLM_AUTO}, on reports written from the images",
        "trainable": {"encoders": False, "connectors": True, "llm": "auto"},
        "optim": {"lr": 2e-4, "warmup_ratio": 0.03, "weight_decay": 0.0},
    },
    "instruct": {
        "description": f"connectors + {LLM_AUTO}, encoders optional, on instruction data",
        "trainable": {"encoders": False, "connectors": True, "llm": "auto"},
        "optim": {"lr": 2e-4, "warmup_ratio": 0.03, "weight_decay": 0.0},
    },
    "clinical": {
        "description": f"connectors + {LLM_AUTO}, on clinical cases with records",
        "trainable": {"encoders": False, "connectors": True, "llm": "auto"},
        "optim": {"lr": 1e-4, "warmup_ratio": 0.03, "weight_decay": 0.0},
    },
}


@dataclasses.dataclass
class Stage:
    """A stage preset and the hooks that build and export it.

    Attributes:
        name: registry name.
        description: one line for logs, ``validate`` and the model card.
        trainable: default of ``train.trainable`` (``encoders``, ``connectors``, ``llm``).
        optim: defaults of ``train.optim`` for this stage.
        frozen_eval: encoders that do not train run in eval mode (deterministic, cacheable features).
    """

    name: str
    description: str
    trainable: dict[str, Any]
    optim: dict[str, Any]
    frozen_eval: bool = True

    def resolve_trainable(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """Stage defaults updated with the non-null entries of ``train.trainable``."""
        out = dict(self.trainable)
        for k, v in (overrides or {}).items():
            if k not in freeze.PARTS:
                raise ConfigError(None, f"train.trainable.{k}: unknown part; valid: {', '.join(freeze.PARTS)}")
            if v is not None:
                out[k] = v
        return out

    def apply(self, model: nn.Module, trainable: dict[str, Any] | None = None) -> freeze.TrainableSummary:
        """Freeze everything, then unfreeze what this stage trains; logs and returns the summary."""
        return freeze.apply_trainable(model, self.resolve_trainable(trainable), self.name)

    def frozen_modules(self, model: nn.Module) -> list[nn.Module]:
        """Encoders with no trainable parameter: kept in eval mode while training."""
        return freeze.frozen_encoders(model) if self.frozen_eval else []

    def optim_defaults(self) -> dict[str, Any]:
        """This stage's default ``train.optim`` values (the config overrides them)."""
        return dict(self.optim)

    def build_model(self, ctx: Any) -> nn.Module:
        """The model of this stage from ``ctx.config["model"]`` (honours ``init_from``)."""
        from medmllm.models.mllm import build_model

        return build_model(ctx.config["model"], untrained_heads=getattr(ctx, "validating", False))

    def build_datamodule(self, ctx: Any, model: nn.Module) -> Any:
        """The LightningDataModule feeding this stage (default: the manifest DataModule)."""
        from medmllm.training.builders import default_datamodule

        return default_datamodule(ctx, model)

    def build_module(self, model: nn.Module, ctx: Any) -> Any:
        """The LightningModule that trains ``model`` in this stage (``ctx``: the stage's run context)."""
        from medmllm.training.module import MedMLLMModule

        return MedMLLMModule(model, ctx.train, stage=self, ctx=ctx)

    def export(self, module: Any, out_dir: Any, *, extra: dict[str, Any], card: str) -> None:
        """Write the trained model into ``out_dir`` (a temporary folder the caller renames into place)."""
        from medmllm.models.checkpoint import write_export

        write_export(module.model, out_dir, extra=extra, card=card)

    def hand_off(self, export_dir: Any, next_config: dict[str, Any]) -> None:
        """Make the next stage of a pipeline start from this stage's export.

        Default: the whole model (``model.init_from``), unless the next stage names its own.
        """
        model = next_config.setdefault("model", {})
        if not model.get("init_from"):
            model["init_from"] = str(export_dir)


for _name, _preset in PRESETS.items():
    STAGES.register(_name)(functools.partial(Stage, _name, **_preset))


def get_stage(name: str) -> Stage:
    """The registered stage ``name`` (unknown names list the valid ones)."""
    return STAGES.build(name)
