"""The pretraining heads saved beside an encoder-stage export, and the pretrainer rebuilt from them.

An ``encoder`` stage export is an ordinary model export (``mm.safetensors`` holds the trained
``encoders.*``, so ``init_from`` and whole-model loading work) plus what zero-shot evaluation
needs::

    pretrain_heads.yaml            settings of the EncoderPretrainer (text encoder, embed_dim, labels ...)
    pretrain_heads.safetensors     text encoder, projections, classification heads, temperature
    pretrain_text/                 a Hugging Face text encoder with its tokenizer (``text: {name: hf}`` only)

Weights shared with the model (the LLM embeddings of ``text: {name: llm_embeddings}``) are not
stored twice; the small text encoder uses the export's own tokenizer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from medmllm.config import dump_yaml, read_yaml
from medmllm.errors import InputError
from medmllm.models.checkpoint import read_export, read_safetensors
from medmllm.models.findings_prompt import PRETRAIN_CONFIG, PRETRAIN_HEADS
from medmllm.pretraining.model import EncoderPretrainer
from medmllm.pretraining.text_encoders import HFTextEncoder

log = logging.getLogger(__name__)

HEADS_FILE = PRETRAIN_HEADS  # the findings prompt reads the heads from these files too
HEADS_CONFIG = PRETRAIN_CONFIG
TEXT_DIR = "pretrain_text"
FORMAT = "medmllm-pretrain-heads"
SETTINGS = ("text", "embed_dim", "labels", "label_weight", "contrastive_weight", "label_aware", "temperature",
            "max_text_length", "gather")


def build_pretrainer(model: Any, settings: Any) -> EncoderPretrainer:
    """An :class:`EncoderPretrainer` around ``model`` from ``train.pretrain`` (dataclass or dict)."""
    get = settings.get if isinstance(settings, dict) else lambda k, d=None: getattr(settings, k, d)
    kwargs = {k: get(k) for k in SETTINGS if get(k) is not None}
    kwargs["text"] = dict(kwargs.get("text") or {"name": "small"})
    return EncoderPretrainer(model, **kwargs)


def _shared_keys(pre: EncoderPretrainer) -> set[str]:
    """Keys of the pretrainer's own state whose tensors belong to the wrapped model."""
    own = {t.data_ptr() for t in pre.model.state_dict().values()}
    return {k for k, t in pre.state_dict().items() if not k.startswith("model.") and t.data_ptr() in own}


def head_state(pre: EncoderPretrainer) -> dict[str, torch.Tensor]:
    """What ``pretrain_heads.safetensors`` stores (no wrapped-model, shared or HF text weights)."""
    skip = _shared_keys(pre)
    hf = isinstance(pre.text_encoder, HFTextEncoder)
    return {k: v.detach().contiguous().cpu() for k, v in pre.state_dict().items()
            if not k.startswith("model.") and k not in skip and not (hf and k.startswith("text_encoder.model."))}


def save_heads(pre: EncoderPretrainer, folder: str | os.PathLike, settings: Any) -> None:
    """Write the heads files into an export ``folder`` (already holding the model)."""
    from safetensors.torch import save_file

    from medmllm.config import to_plain

    root = Path(folder)
    plain = to_plain(settings) if not isinstance(settings, dict) else dict(settings)
    doc = {"format": FORMAT, "version": 1, **{k: plain.get(k) for k in SETTINGS}}
    doc["labels"] = list(pre.label_keys)
    doc["modalities"] = list(pre.image_proj)
    text = dict(doc.get("text") or {"name": "small"})
    if isinstance(pre.text_encoder, HFTextEncoder):
        pre.text_encoder.model.save_pretrained(str(root / TEXT_DIR))
        pre.text_encoder.tokenizer.save_pretrained(str(root / TEXT_DIR))
        text["path"] = TEXT_DIR  # relative to the export
    doc["text"] = text
    save_file(head_state(pre), str(root / HEADS_FILE), metadata={"format": "pt"})
    dump_yaml(doc, root / HEADS_CONFIG)


def has_heads(path: str | os.PathLike) -> bool:
    """True when ``path`` is an export with pretraining heads."""
    return (Path(path) / HEADS_CONFIG).is_file() and (Path(path) / HEADS_FILE).is_file()


def load_pretrainer(path: str | os.PathLike, *, model: Any = None) -> EncoderPretrainer:
    """The EncoderPretrainer of an encoder-stage export (model loaded from it unless given), in eval mode."""
    root, _ = read_export(path)
    if not has_heads(root):
        raise InputError(root, f"no pretraining heads ({HEADS_CONFIG}, {HEADS_FILE}): not an export of the "
                               "encoder stage")
    doc = read_yaml(root / HEADS_CONFIG)
    if doc.get("format") != FORMAT:
        raise InputError(root / HEADS_CONFIG, f"not a pretraining-heads file (format is not '{FORMAT}')")
    if model is None:
        from medmllm.models.mllm import load_model

        model = load_model(root)
    settings = {k: doc.get(k) for k in SETTINGS}
    text = dict(settings.get("text") or {"name": "small"})
    if text.get("name") == "hf":
        text["path"] = str(root / text.get("path", TEXT_DIR))
    settings["text"] = text
    missing_mods = sorted(set(doc.get("modalities") or []) - set(model.encoders))
    if missing_mods:
        raise InputError(root, f"heads for modalities {missing_mods} that the model lacks")
    pre = build_pretrainer(model, settings)
    sd = read_safetensors(root / HEADS_FILE)
    want = set(head_state(pre))
    missing, unexpected = sorted(want - set(sd)), sorted(set(sd) - want)
    if missing or unexpected:
        raise InputError(root / HEADS_FILE, f"heads do not match {HEADS_CONFIG}: missing {missing[:3]}, "
                                            f"unexpected {unexpected[:3]}")
    try:
        pre.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        raise InputError(root / HEADS_FILE, f"head shapes do not match {HEADS_CONFIG}: "
                                            f"{str(e).splitlines()[1:2]}") from None
    log.info("pretraining heads loaded from %s", root)
    return pre.eval()
