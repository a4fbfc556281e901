"""Export folders on disk: write them, check them, read their parts back.

``save_export`` writes one atomically (:func:`medmllm.files.atomic_dir`, no marker);
``write_export`` writes into a folder the caller makes atomic (a training stage's export, which
holds more files). Reading gives the parts the model factory of :mod:`medmllm.models.mllm`
assembles: ``read_export`` (the checked ``medmllm.yaml``), ``rebuild_config``, ``load_llm``,
``load_mm_weights``, ``load_encoder_init``. This module never builds a model itself.

Layout of an export::

    medmllm.yaml               resolved model config + how the LLM is stored + provenance
    mm.safetensors             encoders.* and connectors.* weights
    findings_heads.safetensors the findings heads of ``model.findings_prompt`` (when set)
    encoders/<modality>/       configs of Hugging Face vision towers (rebuilt without downloads)
    llm/                       full LLM (safetensors), when stored "full"
    adapter/                   PEFT LoRA adapter (safetensors), when the model has LoRA
    tokenizer/                 the tokenizer with placeholder tokens and chat template
    README.md                  model card

The model type always comes from ``medmllm.yaml``; weights are read with safetensors only.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from medmllm.config import ModelConfig, deep_merge, dump_yaml, from_dict, read_yaml, to_plain
from medmllm.errors import InputError
from medmllm.files import atomic_dir
from medmllm.registry import LLMS

log = logging.getLogger(__name__)

FORMAT = "medmllm-export"
MM_WEIGHTS = "mm.safetensors"
REBUILDABLE = ("hf", "smollm2")  # LLM sources that can be rebuilt from their reference


def _mm_state(model: Any) -> dict[str, torch.Tensor]:
    sd = {f"encoders.{k}": v for k, v in model.encoders.state_dict().items()}
    sd.update({f"connectors.{k}": v for k, v in model.connectors.state_dict().items()})
    return {k: v.detach().contiguous().cpu() for k, v in sd.items()}


def _base_state(llm: Any) -> dict[str, torch.Tensor]:
    """The base model's weights of a PEFT-wrapped LLM under their original names."""
    base = llm.get_base_model()
    out = {}
    for k, v in base.state_dict().items():
        if "lora_" in k or ".modules_to_save." in k:
            continue
        out[k.replace(".base_layer.", ".").replace(".original_module.", ".")] = v
    return out


def save_export(model: Any, path: str | os.PathLike, *, llm: str = "auto", extra: dict[str, Any] | None = None,
                card: str | None = None) -> Path:
    """Write ``model`` as an export folder at ``path`` (replacing it atomically).

    Args:
        model: a MedMLLM.
        path: destination folder.
        llm: "full" (LLM weights), "adapter" (LoRA adapter + reference to the base) or "auto"
            (adapter when the model has LoRA, a rebuildable base and an untrained base).
        extra: more top-level entries for ``medmllm.yaml`` (training config, metrics ...).
        card: model card text (a default card is written otherwise).
    """
    dest = Path(path)
    llm_mode(model, llm, dest)  # a bad request fails before anything is written
    with atomic_dir(dest, marker=False) as tmp:
        write_export(model, tmp, llm=llm, extra=extra, card=card)
    log.info("saved export %s", dest)
    return dest


def llm_mode(model: Any, llm: str, dest: Path) -> str:
    """How the LLM is stored: ``full`` or ``adapter`` (see :func:`save_export`)."""
    has_lora = model.has_lora
    rebuildable = model.llm_source.get("name") in REBUILDABLE and not getattr(model, "llm_base_modified", False)
    mode = llm if llm != "auto" else ("adapter" if has_lora and rebuildable else "full")
    if mode == "adapter" and not (has_lora and rebuildable):
        raise InputError(dest, "an adapter-only export needs a LoRA model on a rebuildable base (hf/smollm2) "
                               "whose base weights were not trained")
    return mode


def write_export(model: Any, folder: str | os.PathLike, *, llm: str = "auto", extra: dict[str, Any] | None = None,
                 card: str | None = None) -> None:
    """Write the export files of ``model`` into ``folder`` (which the caller makes atomic)."""
    from safetensors.torch import save_file

    from medmllm.provenance import provenance, versions

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    mode = llm_mode(model, llm, root)
    has_lora = model.has_lora
    save_file(_mm_state(model), str(root / MM_WEIGHTS), metadata={"format": "pt"})
    overrides = {}
    for m, enc in model.encoders.items():
        o = enc_assets(enc, root / "encoders" / m, f"encoders/{m}")
        if o:
            overrides[m] = o
    model.tokenizer.save_pretrained(str(root / "tokenizer"))
    if has_lora:
        model.llm.save_pretrained(str(root / "adapter"), save_embedding_layers=False)
    if mode == "full":
        target = model.llm.get_base_model() if has_lora else model.llm
        sd = _base_state(model.llm) if has_lora else None
        target.save_pretrained(str(root / "llm"), state_dict=sd)
    cfg = to_plain(model.config)
    cfg["init_from"] = None
    if getattr(model, "findings_heads", None) is not None:  # medmllm.models.findings_prompt
        model.findings_heads.save(root)
        cfg["findings_prompt"]["heads"] = None  # stored in this export
    for m in cfg["modalities"]:
        cfg["modalities"][m]["encoder"].pop("init_from", None)
    doc = {"format": FORMAT, "version": 1, "model": cfg,
           "checkpoint": {"llm": mode, "llm_source": model.llm_source, "lora": has_lora,
                          "llm_dtype": str(model.llm.dtype).replace("torch.", ""),
                          "encoder_overrides": overrides},
           "provenance": provenance(cfg), "versions": versions()}
    doc.update(extra or {})
    dump_yaml(doc, root / "medmllm.yaml")
    (root / "README.md").write_text(card or _default_card(doc), encoding="utf-8")
    log.info("wrote export files to %s (llm: %s)", root, mode)


def enc_assets(enc: Any, folder: Path, rel: str) -> dict[str, Any] | None:
    """Save what rebuilding ``enc`` needs besides its weights; return config overrides (relative paths)."""
    from medmllm.models.encoders import HFVision, Slices2D

    if isinstance(enc, HFVision):
        enc.tower.config.save_pretrained(str(folder))
        from transformers.utils import cached_file

        pp = cached_file(enc.path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
        if pp:
            shutil.copyfile(pp, folder / "preprocessor_config.json")
        return {"path": rel, "load_weights": False}
    if isinstance(enc, Slices2D):
        inner = enc_assets(enc.inner, folder, rel)
        return {"encoder": inner} if inner else None
    return None


def _resolve_paths(o: Any, root: Path) -> Any:
    if isinstance(o, dict):
        return {k: str(root / v) if k == "path" else _resolve_paths(v, root) for k, v in o.items()}
    return o


def _default_card(doc: dict[str, Any]) -> str:
    mods = ", ".join(f"{m}: {c['encoder']['name']} -> {c['connector']['name']}" for m, c in doc["model"]["modalities"].items())
    return (f"# medmllm model\n\nModalities: {mods or 'none'}. LLM: {doc['checkpoint']['llm_source']} "
            f"(stored: {doc['checkpoint']['llm']}).\n\n## Intended use\nResearch on radiology report generation. "
            "Not a medical device; outputs must be reviewed by a qualified clinician.\n\n## Data and metrics\n"
            "See the training run that produced this export.\n\n## Limitations\nMay produce fluent but wrong "
            "findings; evaluated only where stated.\n")


def read_export(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """Check that ``path`` is an export folder; return it and its ``medmllm.yaml``."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(root, "checkpoint folder not found")
    if not (root / "medmllm.yaml").is_file():
        raise InputError(root, "not a medmllm export (no medmllm.yaml)")
    doc = read_yaml(root / "medmllm.yaml")
    if doc.get("format") != FORMAT or not isinstance(doc.get("model"), dict):
        raise InputError(root / "medmllm.yaml", f"not a medmllm export (format is not '{FORMAT}')")
    return root, doc


def load_llm(root: Path, doc: dict[str, Any], dtype: str | None) -> Any:
    """The LLM bundle of an export: full weights, or the referenced base; LoRA adapter on top."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medmllm.models.llm import LLMBundle, prepare_tokenizer_and_model, resolve_dtype

    ck = doc["checkpoint"]
    dtype = dtype or ck.get("llm_dtype", "float32")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    if ck["llm"] == "full":
        model = AutoModelForCausalLM.from_pretrained(str(root / "llm"), dtype=resolve_dtype(dtype))
        source = {"name": "export", "path": str(root)}
    else:
        src = dict(ck["llm_source"])
        src["dtype"] = dtype
        bundle = LLMS.build(src.pop("name"), **src)
        model, source = bundle.model, ck["llm_source"]
    prepare_tokenizer_and_model(model, tokenizer)
    if ck.get("lora"):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(root / "adapter"), is_trainable=True)
    return LLMBundle(model, tokenizer, source)


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    """A safetensors file as tensors; an unreadable file is an InputError naming it."""
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except Exception as e:  # SafetensorError, OSError: truncated or not a safetensors file
        raise InputError(file, f"unreadable safetensors file: {e}") from None


def load_mm_weights(model: Any, file: Path, modalities: list[str] | None = None) -> None:
    """Load the encoders and connectors of ``modalities`` (default: all of the model's) from ``file``."""
    if not file.is_file():
        raise InputError(file, "missing encoder/connector weights")
    sd = read_safetensors(file)
    keep = modalities if modalities is not None else list(model.encoders)
    sd = {k: v for k, v in sd.items() if k.split(".")[1] in keep}
    own = {k for k in _mm_state(model) if k.split(".")[1] in keep}
    missing, unexpected = sorted(own - set(sd)), sorted(set(sd) - own)
    if missing or unexpected:
        raise InputError(file, f"weights do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    try:
        model.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        raise InputError(file, f"weight shapes do not match the config: {str(e).splitlines()[1:2]}") from None


def rebuild_config(root: Path, doc: dict[str, Any]) -> ModelConfig:
    """The model config of an export with its encoder assets (HF tower configs) pointed inside ``root``."""
    cfg_dict = copy.deepcopy(doc["model"])
    for m, o in (doc["checkpoint"].get("encoder_overrides") or {}).items():
        enc = cfg_dict["modalities"][m]["encoder"]
        cfg_dict["modalities"][m]["encoder"] = deep_merge(enc, _resolve_paths(o, root))
    return from_dict(ModelConfig, cfg_dict, "model")


def load_encoder_init(model: Any, modality: str, source: str | os.PathLike) -> None:
    """Load only the ``modality`` encoder from an export folder or an encoder ``.safetensors`` file."""
    src = Path(source)
    if src.is_dir():
        root, _ = read_export(src)
        sd = read_safetensors(root / MM_WEIGHTS)
        pre = f"encoders.{modality}."
        sd = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
        if not sd:
            raise InputError(src, f"export has no '{modality}' encoder")
    elif src.is_file() and src.suffix == ".safetensors":
        sd = read_safetensors(src)
    else:
        raise InputError(src, "encoder init_from: expected an export folder or a .safetensors file")
    try:
        model.encoders[modality].load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise InputError(src, f"encoder weights do not fit the '{modality}' encoder: {str(e).splitlines()[0]}") from None
    log.info("%s encoder initialised from %s", modality, src)
