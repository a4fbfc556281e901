"""Scale-out through Lightning's strategies: DDP, FSDP and DeepSpeed ZeRO-2/3.

``build_strategy(cfg.train.strategy, model, accelerator)`` returns what ``Trainer(strategy=...)``
takes. FSDP wraps every LLM decoder layer (the classes a Hugging Face model lists in
``_no_split_modules``) and every encoder block (MONAI ``TransformerBlock``, the vision tower's
own layers) as its own unit. DeepSpeed configs are built from the ZeRO stage plus the
``strategy.deepspeed`` mapping (merged over the defaults). Lightning's FSDP and DeepSpeed
strategies need CUDA GPUs; on a CPU-only machine they can be built (``medmllm validate``) but not
trained with, and ``medmllm train`` says so.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from medmllm.config import deep_merge
from medmllm.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

NAMES = ("auto", "single", "ddp", "fsdp", "deepspeed_stage_2", "deepspeed_stage_3")
GPU_ONLY = ("fsdp", "deepspeed_stage_2", "deepspeed_stage_3")
SHARDING = ("FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD")


def resolve_accelerator(accelerator: str) -> str:
    """``auto`` -> ``gpu`` when CUDA is available, else ``cpu``; other names are returned as given."""
    if accelerator == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return accelerator


def wrap_classes(model: nn.Module) -> set[type[nn.Module]]:
    """Module classes FSDP wraps as units: LLM decoder layers and encoder blocks found in ``model``."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    try:
        from monai.networks.blocks.transformerblock import TransformerBlock
    except ImportError:  # monai is a core dependency; only a broken install gets here
        TransformerBlock = None  # type: ignore[assignment]
    found: set[type[nn.Module]] = set()
    for m in model.modules():
        cls = type(m)
        if cls.__name__ in names or (TransformerBlock is not None and isinstance(m, TransformerBlock)):
            found.add(cls)
    return found


def cuda_missing(accelerator: str) -> bool:
    """True when ``accelerator`` asks for GPUs that this machine does not have."""
    return resolve_accelerator(accelerator) in ("gpu", "cuda") and not torch.cuda.is_available()


def gpu_only_reason(name: str) -> str:
    """The sentence ``validate`` and ``train`` print about a GPU-only strategy on CPU."""
    what = "FSDP" if name == "fsdp" else "DeepSpeed"
    return (f"strategy '{name}': Lightning's {what} strategy needs CUDA GPUs; this machine has none, so it can "
            "be built and checked here but not trained with (use ddp or auto on CPU)")


def deepspeed_config(cfg: Any, stage: int) -> dict[str, Any]:
    """DeepSpeed JSON config: ZeRO ``stage`` defaults, optional CPU offload, merged with ``cfg.deepspeed``."""
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True,
                            "reduce_bucket_size": 200_000_000, "allgather_bucket_size": 200_000_000}
    if stage == 3:
        zero.update({"stage3_gather_16bit_weights_on_model_save": True, "stage3_param_persistence_threshold": 100_000})
    if cfg.cpu_offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    base = {"zero_optimization": zero, "zero_allow_untested_optimizer": True}
    if cfg.activation_checkpointing:
        base["activation_checkpointing"] = {"partition_activations": stage == 3, "contiguous_memory_optimization": False}
    extra = cfg.deepspeed or {}
    if not isinstance(extra, dict):
        raise ConfigError(None, "train.strategy.deepspeed: expected a mapping of DeepSpeed config keys")
    return deep_merge(base, extra)


def build_strategy(cfg: Any, model: nn.Module | None = None, *, accelerator: str = "auto",
                   for_training: bool = True) -> Any:
    """A Lightning strategy (object or name) for ``cfg`` (a :class:`~medmllm.config.StrategyConfig`).

    Args:
        cfg: the ``train.strategy`` block.
        model: the model to train (FSDP finds its wrap classes in it).
        accelerator: ``train.accelerator``.
        for_training: raise when a GPU-only strategy is asked for on CPU (``validate`` passes False).
    """
    name = cfg.name
    if name not in NAMES:
        raise ConfigError(None, f"train.strategy.name '{name}': expected one of {', '.join(NAMES)}")
    acc = resolve_accelerator(accelerator)
    if name in GPU_ONLY and not torch.cuda.is_available() and for_training:
        raise ConfigError(None, gpu_only_reason(name))
    if name == "auto":
        return "auto"
    if name == "single":
        return "auto"
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        backend = cfg.process_group_backend or ("gloo" if acc == "cpu" else None)
        return DDPStrategy(process_group_backend=backend, find_unused_parameters=cfg.find_unused_parameters)
    if name == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        if cfg.sharding_strategy not in SHARDING:
            raise ConfigError(None, f"train.strategy.sharding_strategy '{cfg.sharding_strategy}': expected one of "
                                    f"{', '.join(SHARDING)}")
        classes = wrap_classes(model) if (model is not None and cfg.auto_wrap) else set()
        if cfg.auto_wrap and model is not None and not classes:
            log.warning("fsdp: no decoder layer or encoder block classes found to wrap; the model is one unit")
        kwargs: dict[str, Any] = {"sharding_strategy": cfg.sharding_strategy, "state_dict_type": cfg.state_dict_type,
                                  "cpu_offload": bool(cfg.cpu_offload)}
        if classes:
            kwargs["auto_wrap_policy"] = classes
            if cfg.activation_checkpointing:
                kwargs["activation_checkpointing_policy"] = classes
        if cfg.process_group_backend:
            kwargs["process_group_backend"] = cfg.process_group_backend
        strategy = FSDPStrategy(**kwargs)
        strategy.medmllm_wrap_classes = sorted(c.__name__ for c in classes)  # for validate's summary
        return strategy
    from lightning.fabric.strategies.deepspeed import _DEEPSPEED_AVAILABLE

    if not _DEEPSPEED_AVAILABLE:
        raise MissingDependencyError("deepspeed", f"train.strategy '{name}'")
    from lightning.pytorch.strategies import DeepSpeedStrategy

    stage = 2 if name == "deepspeed_stage_2" else 3
    return DeepSpeedStrategy(config=deepspeed_config(cfg, stage))


def describe(strategy: Any) -> str:
    """One line about a built strategy for ``validate``."""
    if isinstance(strategy, str):
        return strategy
    cls = type(strategy).__name__
    if hasattr(strategy, "medmllm_wrap_classes"):
        wrap = ", ".join(strategy.medmllm_wrap_classes) or "none"
        return f"{cls} (sharding {strategy.sharding_strategy.name}, auto-wrap: {wrap})"
    if hasattr(strategy, "config") and isinstance(getattr(strategy, "config", None), dict):
        zero = strategy.config.get("zero_optimization", {})
        return f"{cls} (ZeRO stage {zero.get('stage')}, offload {'offload_optimizer' in zero})"
    return cls
