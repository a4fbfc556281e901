"""Training stages as freeze policies (``align``, ``instruct``, ``clinical``), registered in ``STAGES``.

A stage says which parts of the model train by default (``trainable``), its default optimiser
settings (``optim``; the config's ``train.optim`` block overrides them), and, through hooks that
subclasses may override, how its model is built, which LightningModule trains it and what its
export holds. The config's ``train.trainable`` overrides the defaults per part:

- ``encoders``: ``true`` / ``false`` / a list of modality slots (``[xray]``);
- ``connectors``: ``true`` / ``false`` / a list of modality slots;
- ``llm``: ``"lora"`` (only the PEFT adapter), ``"full"``, ``false`` (``true`` means ``"full"``),
  or ``"auto"`` (LoRA when the model has an adapter, else full).

Adding a stage (e.g. ``encoder`` pretraining): subclass :class:`Stage` in its own module,
decorate it with ``@STAGES.register("name")`` and list the module in the ``STAGES`` registry's
module tuple (:mod:`medmllm.registry`) so it registers on first use.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar

from torch import nn

from medmllm.errors import ConfigError
from medmllm.registry import STAGES

log = logging.getLogger(__name__)

PARTS = ("encoders", "connectors", "llm")


def model_parts(model: nn.Module) -> dict[str, nn.Module]:
    """The parts of a model as ``{"encoders": ModuleDict, "connectors": ModuleDict, "llm": Module}``.

    Uses the model's attributes of these names; a missing part is left out.
    """
    return {p: getattr(model, p) for p in PARTS if isinstance(getattr(model, p, None), nn.Module)}


def named_part_parameters(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """``{part: [(qualified name, parameter), ...]}`` over :func:`model_parts`."""
    return {part: [(f"{part}.{n}", p) for n, p in mod.named_parameters()] for part, mod in model_parts(model).items()}


def is_lora(name: str) -> bool:
    """True for PEFT LoRA adapter parameters (``lora_A``, ``lora_B``, ``lora_embedding_*``, ``lora_magnitude``)."""
    return "lora_" in name


def has_lora(model: nn.Module) -> bool:
    """True when the model's LLM carries LoRA adapter parameters."""
    llm = model_parts(model).get("llm")
    return llm is not None and any(is_lora(n) for n, _ in llm.named_parameters())


@dataclasses.dataclass
class TrainableSummary:
    """What a stage trains: parameter counts per part (``trainable``, ``total``) and modality."""

    stage: str
    trainable: dict[str, int]
    total: dict[str, int]
    detail: dict[str, str]

    @property
    def num_trainable(self) -> int:
        return sum(self.trainable.values())

    @property
    def num_total(self) -> int:
        return sum(self.total.values())

    def lines(self) -> list[str]:
        """Human-readable lines: one per part plus a total."""
        out = [f"stage '{self.stage}': {self.num_trainable:,} of {self.num_total:,} parameters train "
               f"({100.0 * self.num_trainable / max(1, self.num_total):.2f}%)"]
        for part in self.total:
            out.append(f"  {part:<11} {self.trainable[part]:>13,} / {self.total[part]:>13,}  {self.detail.get(part, '')}")
        return out


def _select(value: Any, modalities: list[str], where: str) -> set[str]:
    if value is True:
        return set(modalities)
    if value in (False, None):
        return set()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        unknown = sorted(set(value) - set(modalities))
        if unknown:
            raise ConfigError(None, f"{where}: unknown modality slot(s) {', '.join(unknown)}; "
                                    f"the model has {', '.join(modalities) or 'none'}")
        return set(value)
    raise ConfigError(None, f"{where}: expected true, false or a list of modality slots, got {value!r}")


class Stage:
    """A freeze policy plus default optimiser settings; subclasses may override the hooks.

    Attributes:
        name: registry name.
        description: one line for logs and ``validate``.
        trainable: default of ``train.trainable`` (``encoders``, ``connectors``, ``llm``).
        optim: defaults of ``train.optim`` for this stage.
    """

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    trainable: ClassVar[dict[str, Any]] = {"encoders": False, "connectors": True, "llm": False}
    optim: ClassVar[dict[str, Any]] = {}
    # Encoders that do not train run in eval mode (deterministic features, cacheable).
    frozen_eval: ClassVar[bool] = True

    def resolve_trainable(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """Stage defaults updated with the non-null entries of ``train.trainable``."""
        out = dict(self.trainable)
        for k, v in (overrides or {}).items():
            if k not in PARTS:
                raise ConfigError(None, f"train.trainable.{k}: unknown part; valid: {', '.join(PARTS)}")
            if v is not None:
                out[k] = v
        return out

    def apply(self, model: nn.Module, trainable: dict[str, Any] | None = None) -> TrainableSummary:
        """Freeze everything, then unfreeze what this stage trains; logs and returns the summary."""
        want = self.resolve_trainable(trainable)
        parts = model_parts(model)
        for p in model.parameters():
            p.requires_grad_(False)
        detail: dict[str, str] = {}
        for part in ("encoders", "connectors"):
            mod = parts.get(part)
            if mod is None:
                continue
            slots = list(mod.keys()) if isinstance(mod, nn.ModuleDict) else []
            chosen = _select(want.get(part), slots, f"train.trainable.{part}")
            for slot in chosen:
                for p in mod[slot].parameters():
                    p.requires_grad_(True)
            detail[part] = "trains " + ", ".join(sorted(chosen)) if chosen else "frozen"
        llm = parts.get("llm")
        if llm is not None:
            mode = want.get("llm")
            mode = "full" if mode is True else mode
            if mode == "auto":
                mode = "lora" if has_lora(model) else "full"
            if mode == "lora":
                lora = [p for n, p in llm.named_parameters() if is_lora(n)]
                if not lora:
                    raise ConfigError(None, f"stage '{self.name}': train.trainable.llm is 'lora' but the model has "
                                            "no LoRA adapter; set model.llm.lora (e.g. {r: 16}) or llm: full")
                for p in lora:
                    p.requires_grad_(True)
                detail["llm"] = "LoRA adapter trains, base frozen"
            elif mode == "full":
                for p in llm.parameters():
                    p.requires_grad_(True)
                detail["llm"] = "all weights train"
            elif mode in (False, None):
                detail["llm"] = "frozen"
            else:
                raise ConfigError(None, f"train.trainable.llm '{mode}': expected lora, full, auto or false")
        summary = self.summarize(model, detail)
        for line in summary.lines():
            log.info(line)
        return summary

    def summarize(self, model: nn.Module, detail: dict[str, str] | None = None) -> TrainableSummary:
        """Counts of trainable / total parameters per part, as they are now."""
        trainable, total = {}, {}
        for part, named in named_part_parameters(model).items():
            seen: set[int] = set()
            t = n = 0
            for _, p in named:
                if id(p) in seen:
                    continue
                seen.add(id(p))
                n += p.numel()
                t += p.numel() if p.requires_grad else 0
            trainable[part], total[part] = t, n
        return TrainableSummary(self.name, trainable, total, dict(detail or {}))

    def frozen_modules(self, model: nn.Module) -> list[nn.Module]:
        """Encoders with no trainable parameter: kept in eval mode while training."""
        enc = model_parts(model).get("encoders")
        if enc is None or not self.frozen_eval:
            return []
        mods = enc.values() if isinstance(enc, nn.ModuleDict) else [enc]
        return [m for m in mods if not any(p.requires_grad for p in m.parameters())]

    def optim_defaults(self) -> dict[str, Any]:
        """This stage's default ``train.optim`` values (the config overrides them)."""
        return dict(self.optim)

    # Hooks used by medmllm.training.train; other stages (e.g. encoder pretraining) override them.
    def build_model(self, ctx: Any) -> nn.Module:
        """The model of this stage from ``ctx.config["model"]`` (honours ``init_from``)."""
        from medmllm.models.mllm import MedMLLM

        return MedMLLM.build(ctx.config["model"])

    def build_datamodule(self, ctx: Any, model: nn.Module) -> Any:
        """The LightningDataModule feeding this stage (default: the manifest DataModule)."""
        from medmllm.training.builders import default_datamodule

        return default_datamodule(ctx, model)

    def build_module(self, model: nn.Module, ctx: Any) -> Any:
        """The LightningModule that trains ``model`` in this stage (``ctx``: the stage's run context)."""
        from medmllm.training.module import MedMLLMModule

        return MedMLLMModule(model, ctx.train, stage=self, ctx=ctx)

    def export(self, module: Any, out_dir: Any, *, extra: dict[str, Any], card: str) -> None:
        """Write the trained model to ``out_dir`` (the caller makes the write atomic)."""
        module.model.save_pretrained(out_dir, extra=extra, card=card)

    def hand_off(self, export_dir: Any, next_config: dict[str, Any]) -> None:
        """Make the next stage of a pipeline start from this stage's export.

        Default: the whole model (``model.init_from``), unless the next stage names its own.
        """
        model = next_config.setdefault("model", {})
        if not model.get("init_from"):
            model["init_from"] = str(export_dir)


@STAGES.register("align")
class AlignStage(Stage):
    """Connector alignment on image-caption data: encoders and LLM frozen (LLaVA stage 1)."""

    name = "align"
    description = "connectors only (encoders and LLM frozen), on image-caption data"
    trainable = {"encoders": False, "connectors": True, "llm": False}
    optim = {"lr": 1e-3, "warmup_ratio": 0.03, "weight_decay": 0.0}


@STAGES.register("instruct")
class InstructStage(Stage):
    """Instruction tuning: connectors + LoRA (or the full LLM), encoders optional."""

    name = "instruct"
    description = "connectors + LLM (LoRA when present, else full), encoders optional, on instruction data"
    trainable = {"encoders": False, "connectors": True, "llm": "auto"}
    optim = {"lr": 2e-4, "warmup_ratio": 0.03, "weight_decay": 0.0}


@STAGES.register("clinical")
class ClinicalStage(Stage):
    """P2Med-style clinical fine-tuning (reports, diagnosis, summaries with clinical context)."""

    name = "clinical"
    description = "connectors + LLM (LoRA when present, else full), on clinical cases with records"
    trainable = {"encoders": False, "connectors": True, "llm": "auto"}
    optim = {"lr": 1e-4, "warmup_ratio": 0.03, "weight_decay": 0.0}


def get_stage(name: str) -> Stage:
    """The registered stage ``name`` (unknown names list the valid ones)."""
    cls, extra = STAGES.get(name)
    return cls(**extra)
