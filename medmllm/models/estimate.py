"""How big a model is before it is built: parameters and weight memory from its config alone.

A config or export that declares a model too big for the machine (a typo such as
``hidden_size: 65536``) would otherwise start allocating hundreds of gigabytes. :func:`estimate`
counts the parameters of every part without allocating them: the LLM from its transformers config
(``tiny``: the Llama / Qwen2 config it declares; ``hf``: the ``config.json`` of its folder or
cache; an export's ``llm/config.json``), encoders and connectors built on PyTorch's ``meta``
device (shapes only, no memory). :func:`check_fits` compares the weights' size with the memory the
run can use (available RAM, and the GPU's memory when it runs on one) and refuses with the numbers
in one line. The estimate is a lower bound (weights only, no activations or optimiser state), so
a refusal is certain, never a guess; a part whose size cannot be read without downloading or
running remote code is left out (and logged).
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from medmllm.errors import InputError

log = logging.getLogger(__name__)

DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}
TINY_EXTRA_TOKENS = 8  # chat and placeholder tokens added to a tiny LLM's trained vocabulary


@dataclass
class Estimate:
    """Parameters and weight bytes per part (``llm``, ``encoders.xray``, ``connectors.ct`` ...)."""

    params: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def add(self, part: str, params: int, bytes_per_param: int) -> None:
        self.params[part] = int(params)
        self.bytes[part] = int(params) * bytes_per_param

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _llm_config(llm: Mapping[str, Any], export_root: Path | None) -> Any:
    """The transformers config of an LLM spec (None when it cannot be read offline)."""
    from transformers import AutoConfig

    name = llm.get("name")
    if export_root is not None and (export_root / "llm" / "config.json").is_file():
        return AutoConfig.from_pretrained(str(export_root / "llm"))
    if name == "tiny":
        from transformers import LlamaConfig, Qwen2Config

        family = {"llama": LlamaConfig, "qwen2": Qwen2Config}.get(llm.get("family", "llama"))
        if family is None:
            return None
        hidden = int(llm.get("hidden_size", 64))
        heads = int(llm.get("num_heads", 4))
        return family(vocab_size=int(llm.get("vocab_size", 512)) + TINY_EXTRA_TOKENS, hidden_size=hidden,
                      intermediate_size=int(llm.get("intermediate_size") or 4 * hidden),
                      num_hidden_layers=int(llm.get("num_layers", 2)), num_attention_heads=heads,
                      num_key_value_heads=int(llm.get("num_kv_heads") or heads),
                      tie_word_embeddings=bool(llm.get("tie_word_embeddings", False)))
    if name == "hf" and isinstance(llm.get("path"), str) and not llm.get("gguf_file"):
        path = Path(llm["path"]).expanduser()
        src = str(path) if path.is_dir() else llm["path"]
        return AutoConfig.from_pretrained(src, local_files_only=True, revision=llm.get("revision"))
    if name == "smollm2":
        from transformers import LlamaConfig

        # SmolLM2-135M-Instruct's published config (the wheel's GGUF is converted only when built)
        return LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                           num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
    return None


def _meta_encoder(spec: Mapping[str, Any]) -> Any:
    from medmllm.registry import ENCODERS

    def no_weights(s: Any) -> Any:
        if isinstance(s, dict):
            s = {k: no_weights(v) for k, v in s.items()}
            if s.get("name") == "hf_vision":
                s["load_weights"] = False
        return s

    kw = {k: v for k, v in no_weights(copy.deepcopy(dict(spec))).items() if k not in ("name", "init_from")}
    return ENCODERS.build(spec["name"], **kw)


def estimate(model: Mapping[str, Any], *, export_root: str | os.PathLike | None = None,
             llm_dtype: str | None = None) -> Estimate:
    """Parameters and weight bytes of a model config (a plain ``model`` mapping), allocating nothing.

    Args:
        model: the ``model`` section of a config or of an export's ``medmllm.yaml``.
        export_root: the export folder (its ``llm/config.json`` describes a full LLM).
        llm_dtype: the LLM weights' dtype (default: the config's ``llm.dtype``, else float32).
    """
    from medmllm.registry import CONNECTORS

    root = Path(export_root) if export_root is not None else None
    est = Estimate()
    llm = dict(model.get("llm") or {})
    dtype = llm_dtype or llm.get("dtype") or "float32"
    width = None
    try:
        cfg = _llm_config(llm, root)
        if cfg is None:
            est.unknown.append("llm")
        else:
            from transformers import AutoModelForCausalLM

            with torch.device("meta"):
                net = AutoModelForCausalLM.from_config(cfg)
            est.add("llm", _count(net), DTYPE_BYTES.get(str(dtype), 4))
            width = net.get_input_embeddings().embedding_dim
    except Exception as e:  # noqa: BLE001 - an unreadable part is left to the real build to report
        log.debug("model estimate: LLM left out (%s)", e)
        est.unknown.append("llm")
    for m, mc in (model.get("modalities") or {}).items():
        try:
            with torch.device("meta"):
                enc = _meta_encoder(mc["encoder"])
                est.add(f"encoders.{m}", _count(enc), 4)
                if width is not None:
                    con = dict(mc.get("connector") or {"name": "mlp2x_gelu"})
                    name = con.pop("name")
                    est.add(f"connectors.{m}", _count(CONNECTORS.build(name, in_dim=enc.hidden_size, out_dim=width,
                                                                       **con)), 4)
        except Exception as e:  # noqa: BLE001
            log.debug("model estimate: %s left out (%s)", m, e)
            est.unknown.append(f"modalities.{m}")
    return est


def export_estimate(root: str | os.PathLike, doc: Mapping[str, Any]) -> Estimate:
    """:func:`estimate` of an export folder from its ``medmllm.yaml`` (``doc``), with its encoder configs."""
    from medmllm.config import deep_merge

    root = Path(root)
    model = copy.deepcopy(dict(doc.get("model") or {}))
    ck = doc.get("checkpoint") or {}

    def inside(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: str(root / v) if k == "path" else inside(v) for k, v in o.items()}
        return o

    for m, o in (ck.get("encoder_overrides") or {}).items():
        if m in (model.get("modalities") or {}):
            enc = model["modalities"][m]["encoder"]
            model["modalities"][m]["encoder"] = deep_merge(enc, inside(o))
    if ck.get("llm") != "full" and isinstance(ck.get("llm_source"), dict):
        model["llm"] = {**model.get("llm", {}), **ck["llm_source"]}
    return estimate(model, export_root=root, llm_dtype=ck.get("llm_dtype"))


def available_memory(device: str | torch.device | None = None) -> list[tuple[str, int]]:
    """``[(what, bytes)]`` the weights must fit in: available RAM, and the GPU's memory when it runs on CUDA."""
    import psutil

    out = [("available RAM", int(psutil.virtual_memory().available))]
    dev = torch.device(device) if device is not None else None
    if (dev is None and torch.cuda.is_available()) or (dev is not None and dev.type == "cuda"):
        index = dev.index if dev is not None and dev.index is not None else 0
        try:
            out.append((f"memory of GPU cuda:{index}", int(torch.cuda.get_device_properties(index).total_memory)))
        except (RuntimeError, AssertionError, AttributeError) as e:
            log.debug("no GPU memory figure (%s)", e)
    return out


def check_fits(est: Estimate, where: str | os.PathLike | None, *, device: str | torch.device | None = None,
               purpose: str = "run") -> None:
    """Refuse a model whose weights alone exceed the memory the run can use.

    Args:
        est: the estimate.
        where: the config key or export folder named in the error.
        device: where the model will run (None: CUDA when available).
        purpose: ``run``, ``train`` ... (in the message).

    Raises:
        InputError: one line with the parameter count, the weight size and the memory there is.
    """
    from medmllm.io.types import human_bytes

    need = est.total_bytes
    for what, have in available_memory(device):
        if need > have:
            raise InputError(where, f"the model declares about {est.total_params / 1e9:,.1f} B parameters "
                                    f"({human_bytes(need)} of weights alone); the {what} is {human_bytes(have)}, so it cannot "
                                    f"{purpose} here (check the sizes in the config: hidden_size, num_layers, "
                                    "vocab_size ...)")
    log.debug("model estimate: %s parameters, %s of weights", f"{est.total_params:,}", human_bytes(need))


def check_config_fits(config: Mapping[str, Any], *, device: str | None = None, purpose: str = "train") -> None:
    """:func:`check_fits` for a training config: its ``model`` and every pipeline stage's model.

    ``device`` defaults to the config's ``train.accelerator`` (``cpu``: RAM only).
    """
    from medmllm.config import deep_merge

    if device is None and (config.get("train") or {}).get("accelerator") == "cpu":
        device = "cpu"

    base = dict(config.get("model") or {})
    stages = [("model", base)]
    for i, st in enumerate(config.get("pipeline") or []):
        if isinstance(st, Mapping) and isinstance(st.get("model"), Mapping):
            stages.append((f"pipeline.{i}.model", deep_merge(base, dict(st["model"]))))
    for key, model in stages:
        if not model.get("init_from"):  # a stage started from an export is checked when that export is read
            check_fits(estimate(model), key, device=device, purpose=purpose)
