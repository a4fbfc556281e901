"""What trains: a model's parts, the freeze policy applied to them, and the summary of the result.

A model has up to three parts, found by attribute name: ``encoders`` and ``connectors``
(``ModuleDict`` by modality slot) and ``llm``. A policy (a stage's ``trainable`` defaults updated
with the config's ``train.trainable``) says per part what trains:

- ``encoders``: ``true`` / ``false`` / a list of modality slots (``[xray]``);
- ``connectors``: ``true`` / ``false`` / a list of modality slots;
- ``llm``: ``"lora"`` (only the PEFT adapter), ``"full"``, ``false`` (``true`` means ``"full"``),
  or ``"auto"`` (LoRA when the model has an adapter, else full).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from torch import nn

from medmllm.errors import ConfigError

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


def select_slots(value: Any, modalities: list[str], where: str) -> set[str]:
    """The modality slots a ``trainable`` value names (``true``: all, ``false``/None: none, or a list)."""
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


def _train_llm(model: nn.Module, llm: nn.Module, mode: Any, stage: str) -> str:
    """Unfreeze the LLM as ``mode`` says; returns the summary's detail text."""
    mode = "full" if mode is True else mode
    if mode == "auto":
        mode = "lora" if has_lora(model) else "full"
    if mode == "lora":
        lora = [p for n, p in llm.named_parameters() if is_lora(n)]
        if not lora:
            raise ConfigError(None, f"stage '{stage}': train.trainable.llm is 'lora' but the model has "
                                    "no LoRA adapter; set model.llm.lora (e.g. {r: 16}) or llm: full")
        for p in lora:
            p.requires_grad_(True)
        return "LoRA adapter trains, base frozen"
    if mode == "full":
        for p in llm.parameters():
            p.requires_grad_(True)
        if hasattr(model, "llm_base_modified"):
            model.llm_base_modified = True  # its exports then store the LLM in full, not as an adapter
        return "all weights train"
    if mode in (False, None):
        return "frozen"
    raise ConfigError(None, f"train.trainable.llm '{mode}': expected lora, full, auto or false")


def apply_trainable(model: nn.Module, want: dict[str, Any], stage: str) -> TrainableSummary:
    """Freeze everything, then unfreeze what the policy ``want`` names; logs and returns the summary."""
    summary = summarize(model, stage, set_trainable(model, want, stage))
    for line in summary.lines():
        log.info(line)
    return summary


def set_trainable(model: nn.Module, want: dict[str, Any], stage: str) -> dict[str, str]:
    """Freeze everything, then unfreeze what the policy ``want`` names; returns the detail text per part."""
    parts = model_parts(model)
    for p in model.parameters():
        p.requires_grad_(False)
    detail: dict[str, str] = {}
    for part in ("encoders", "connectors"):
        mod = parts.get(part)
        if mod is None:
            continue
        slots = list(mod.keys()) if isinstance(mod, nn.ModuleDict) else []
        chosen = select_slots(want.get(part), slots, f"train.trainable.{part}")
        for slot in chosen:
            for p in mod[slot].parameters():
                p.requires_grad_(True)
        detail[part] = "trains " + ", ".join(sorted(chosen)) if chosen else "frozen"
    if "llm" in parts:
        detail["llm"] = _train_llm(model, parts["llm"], want.get("llm"), stage)
    return detail


def summarize(model: nn.Module, stage: str, detail: dict[str, str] | None = None) -> TrainableSummary:
    """Counts of trainable / total parameters per part, as they are now (shared tensors counted once)."""
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
    return TrainableSummary(stage, trainable, total, dict(detail or {}))


def frozen_encoders(model: nn.Module) -> list[nn.Module]:
    """Encoders with no trainable parameter (kept in eval mode while training)."""
    enc = model_parts(model).get("encoders")
    if enc is None:
        return []
    mods = enc.values() if isinstance(enc, nn.ModuleDict) else [enc]
    return [m for m in mods if not any(p.requires_grad for p in m.parameters())]
