"""MedMLLM: per-modality encoder -> connector, spliced into a causal LLM's input embeddings.

Each ``<xray>`` / ``<ct>`` / ``<video>`` placeholder in ``input_ids`` has already been repeated as many times as
its image yields tokens (see ``medmllm.data.conversation``). ``embed`` encodes every image of the
batch, checks per sample that the placeholder count equals the feature count (raising with the
sample index otherwise) and writes the features into the placeholder positions with
``masked_scatter``. Samples may carry any number of images of either modality, or none.

The one model factory is here too: :func:`build_model` (a config, fresh or started from an export
with ``init_from``) and :func:`load_model` (an export folder); ``MedMLLM.build`` and
``MedMLLM.from_pretrained`` are the same functions. :mod:`medmllm.models.checkpoint` reads and
writes the export files and never builds a model itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator

import torch
from torch import nn

from medmllm.config import ModelConfig, from_dict
from medmllm.data.conversation import placeholder_token_ids
from medmllm.errors import ConfigError, InputError
from medmllm.models import checkpoint, findings_prompt, generation
from medmllm.models.llm import LLMBundle, apply_lora, end_of_turn_ids
from medmllm.models.loss import token_loss_sums
from medmllm.registry import CONNECTORS, ENCODERS, LLMS

log = logging.getLogger(__name__)


class ImageTokenMismatchError(InputError):
    """A sample's placeholder tokens do not match its images' feature tokens."""


class MedMLLM(nn.Module):
    """The composite model. Build with :meth:`build` (config) or :meth:`from_pretrained` (export).

    Args:
        config: the model config.
        llm: the causal LM and tokenizer (placeholders added).
    """

    def __init__(self, config: ModelConfig, llm: LLMBundle):
        super().__init__()
        self.config = config
        self.llm = llm.model
        self.tokenizer = llm.tokenizer
        self.llm_source = llm.source
        self.llm_base_modified = False  # set once the base LLM weights train (then exports store it in full)
        width = self.llm.get_input_embeddings().embedding_dim
        self.encoders = nn.ModuleDict()
        self.connectors = nn.ModuleDict()
        for m, mc in config.modalities.items():
            enc_kw = {k: v for k, v in mc.encoder.items() if k not in ("name", "init_from")}
            self.encoders[m] = ENCODERS.build(mc.encoder["name"], **enc_kw)
            con_kw = {k: v for k, v in mc.connector.items() if k != "name"}
            self.connectors[m] = CONNECTORS.build(mc.connector["name"], in_dim=self.encoders[m].hidden_size,
                                                  out_dim=width, **con_kw)
        self.placeholder_ids = placeholder_token_ids(self.tokenizer)
        missing = [m for m in config.modalities if m not in self.placeholder_ids]
        if missing:
            raise ConfigError(None, f"tokenizer lacks placeholder tokens for {missing}")
        for m in config.modalities:
            log.info("token budget: %s", self.token_budget(m))

    def token_budget(self, modality: str) -> str:
        """One line: the encoder input of ``modality`` and the LLM tokens it becomes (logged when built)."""
        spec = self.input_spec(modality)
        shape = (int(spec["channels"]), *(int(s) for s in spec["spatial_size"]))
        enc = self._encoder(modality)
        what = " x ".join(str(s) for s in shape[1:])
        if modality == "video":
            what = f"clip of {shape[1]} frames of {' x '.join(str(s) for s in shape[2:])}"
        return (f"{modality}: {what} ({shape[0]} channel(s)) -> {enc.num_tokens(shape)} encoder tokens -> "
                f"{self.num_image_tokens(modality, shape)} LLM tokens per {'clip' if modality == 'video' else 'image'}")

    @classmethod
    def build(cls, config: ModelConfig | dict[str, Any]) -> "MedMLLM":
        """Build from a model config (dict or dataclass); honours ``init_from`` and ``lora`` (:func:`build_model`)."""
        return build_model(config)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: Any) -> "MedMLLM":
        """Load an export folder written by :meth:`save_pretrained` (:func:`load_model`)."""
        return load_model(path, **kwargs)

    def save_pretrained(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Write an export folder atomically (see ``medmllm.models.checkpoint.save_export``)."""
        checkpoint.save_export(self, path, **kwargs)

    def add_lora(self, lora: dict[str, Any]) -> None:
        """Wrap the LLM with a PEFT LoRA adapter (``{r, alpha, dropout, target_modules}``)."""
        self.llm = apply_lora(self.llm, **lora)

    @property
    def has_lora(self) -> bool:
        return any("lora_" in n for n, _ in self.llm.named_parameters())

    def input_spec(self, modality: str) -> dict[str, Any]:
        """What the data transforms must produce for ``modality`` (size, channels, mean, std)."""
        return self._encoder(modality).input_spec

    def num_image_tokens(self, modality: str, input_shape: tuple[int, ...]) -> int:
        """LLM tokens one image of ``input_shape`` (no batch dim) becomes after its connector."""
        enc = self._encoder(modality)
        return self.connectors[modality].num_tokens(enc.num_tokens(input_shape), enc.grid(input_shape))

    def _encoder(self, modality: str) -> nn.Module:
        if modality not in self.encoders:
            raise ConfigError(None, f"modality '{modality}' is not in this model; it has: {', '.join(self.encoders)}")
        return self.encoders[modality]

    def embed(self, input_ids: torch.Tensor, pixel_values: dict[str, torch.Tensor] | None = None,
              image_sample_index: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Token embeddings with image features written into the placeholder positions."""
        emb = self.llm.get_input_embeddings()(input_ids)  # (B, L, D)
        b = input_ids.shape[0]
        pixel_values = pixel_values or {}
        for m in set(self.placeholder_ids) | set(pixel_values):
            pix = pixel_values.get(m)
            pid = self.placeholder_ids.get(m)
            mask = input_ids == pid if pid is not None else torch.zeros_like(input_ids, dtype=torch.bool)
            have = mask.sum(1)  # (B,)
            want = torch.zeros(b, dtype=torch.long, device=input_ids.device)
            if pix is not None and pix.shape[0] > 0:
                enc = self._encoder(m)
                idx = self._sample_index(m, pix, image_sample_index, b).to(input_ids.device)
                order = torch.argsort(idx, stable=True)
                feats = self.connectors[m](enc(pix[order.to(pix.device)]), enc.grid(tuple(pix.shape[1:])))  # (N, T, D)
                want.index_add_(0, idx, torch.full_like(idx, feats.shape[1]))
            else:
                feats = None
            bad = (have != want).nonzero().flatten().tolist()
            if bad:
                i = bad[0]
                raise ImageTokenMismatchError(None, f"batch sample {i}: {int(have[i])} <{m}> placeholder tokens "
                                                    f"but its {m} images give {int(want[i])} feature tokens")
            if feats is not None:
                emb = emb.masked_scatter(mask.unsqueeze(-1), feats.to(emb.dtype))
        return emb

    @staticmethod
    def _sample_index(m: str, pix: torch.Tensor, index: dict[str, torch.Tensor] | None, b: int) -> torch.Tensor:
        idx = None if index is None else index.get(m)
        if idx is None:
            if b != 1:
                raise InputError(None, f"image_sample_index['{m}'] is required for a batch of {b}")
            return torch.zeros(pix.shape[0], dtype=torch.long)
        idx = torch.as_tensor(idx, dtype=torch.long)
        if idx.shape != (pix.shape[0],) or (idx.numel() and (idx.min() < 0 or idx.max() >= b)):
            raise InputError(None, f"image_sample_index['{m}'] must give one sample index in [0, {b}) per image")
        return idx

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, pixel_values: dict[str, torch.Tensor] | None = None,
                image_sample_index: dict[str, torch.Tensor] | None = None, **kwargs: Any) -> Any:
        """HF-style causal LM output (``.loss`` when ``labels`` are given, ``.logits`` (B, L, V))."""
        emb = self.embed(input_ids, pixel_values, image_sample_index)
        return self.llm(inputs_embeds=emb, attention_mask=attention_mask, labels=labels, **kwargs)

    def sequence_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Mean token loss per sample over its label positions ``(B,)`` (NaN where it has none)."""
        out = self.forward(batch["input_ids"], batch.get("attention_mask"), None, batch.get("pixel_values"),
                           batch.get("image_sample_index"))
        sums, counts = token_loss_sums(out.logits, batch["labels"])
        return sums / counts  # (B,)

    def _prepare_generation(self, input_ids, attention_mask, pixel_values, image_sample_index, kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        input_ids, attention_mask = generation.to_left_padding(input_ids, attention_mask, self.tokenizer.pad_token_id)
        emb = self.embed(input_ids, pixel_values, image_sample_index)
        kw = generation.generation_defaults(self.tokenizer, end_of_turn_ids(self.tokenizer),
                                            sorted(self.placeholder_ids.values()), kwargs)
        return emb, attention_mask, kw

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 pixel_values: dict[str, torch.Tensor] | None = None,
                 image_sample_index: dict[str, torch.Tensor] | None = None, **generation_kwargs: Any) -> torch.Tensor:
        """New tokens only ``(B, T_new)``; batches are re-padded on the left; KV cache on.

        ``generation_kwargs`` are transformers' (``max_new_tokens``, ``do_sample``, ``temperature``,
        ``top_p``, ``num_beams``, ``repetition_penalty`` ...); greedy by default, stops at EOS /
        end of turn. The repetition penalty sees the generated tokens (the prompt is embeddings).
        """
        emb, mask, kw = self._prepare_generation(input_ids, attention_mask, pixel_values, image_sample_index,
                                                 generation_kwargs)
        return self.llm.generate(inputs_embeds=emb, attention_mask=mask, **kw)

    def stream(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               pixel_values: dict[str, torch.Tensor] | None = None,
               image_sample_index: dict[str, torch.Tensor] | None = None, **generation_kwargs: Any) -> Iterator[str]:
        """Yield the text of one sample's answer piece by piece (TextIteratorStreamer)."""
        if input_ids.shape[0] != 1:
            raise InputError(None, "streaming takes one sample at a time")
        with torch.no_grad():
            emb, mask, kw = self._prepare_generation(input_ids, attention_mask, pixel_values, image_sample_index,
                                                     generation_kwargs)

        def run(streamer: Any) -> None:
            with torch.no_grad():
                self.llm.generate(inputs_embeds=emb, attention_mask=mask, streamer=streamer, **kw)

        return generation.stream_text(self.tokenizer, run)


def build_model(config: ModelConfig | dict[str, Any], *, untrained_heads: bool = False) -> MedMLLM:
    """A MedMLLM from a model config: fresh, or started from an export (``init_from``).

    With ``init_from`` the LLM (and its LoRA adapter) and the encoders/connectors of the modalities
    present in both come from the export; new modalities start fresh. A LoRA adapter in the
    export keeps training when the config asks for LoRA, otherwise it is merged. Each encoder's own
    ``init_from`` (an export or a ``.safetensors`` file) is loaded last. With ``findings_prompt`` the
    findings heads are attached last (:func:`medmllm.models.findings_prompt.attach`; ``untrained_heads``
    allows random ones where no heads exist yet, as in ``medmllm validate``).
    """
    cfg = config if isinstance(config, ModelConfig) else from_dict(ModelConfig, config, "model")
    lora = cfg.llm.get("lora")
    if cfg.init_from:
        root, doc = checkpoint.read_export(cfg.init_from)
        bundle = checkpoint.load_llm(root, doc, cfg.llm.get("dtype"))
        had_lora = bool(doc["checkpoint"].get("lora"))
        if had_lora and not lora:
            bundle.model = bundle.model.merge_and_unload()
            bundle.source = {"name": "export", "path": str(root)}
        model = MedMLLM(cfg, bundle)
        if lora and not had_lora:
            model.add_lora(lora)
        shared = [m for m in cfg.modalities if m in doc["model"]["modalities"]]
        checkpoint.load_mm_weights(model, root / checkpoint.MM_WEIGHTS, shared)
        log.info("initialised from %s (modalities from the export: %s)", root, shared or "none")
    else:
        llm_kw = {k: v for k, v in cfg.llm.items() if k not in ("name", "lora")}
        model = MedMLLM(cfg, LLMS.build(cfg.llm["name"], **llm_kw))
        if lora:
            model.add_lora(lora)
    for m, mc in cfg.modalities.items():
        if mc.encoder.get("init_from"):
            checkpoint.load_encoder_init(model, m, mc.encoder["init_from"])
    findings_prompt.attach(model, cfg.init_from, untrained=untrained_heads)
    return model


def load_model(path: str | os.PathLike, *, dtype: str | None = None) -> MedMLLM:
    """Rebuild the MedMLLM of an export folder (no pickle; the model type comes from ``medmllm.yaml``)."""
    root, doc = checkpoint.read_export(path)
    model = MedMLLM(checkpoint.rebuild_config(root, doc), checkpoint.load_llm(root, doc, dtype))
    checkpoint.load_mm_weights(model, root / checkpoint.MM_WEIGHTS)
    model.config = from_dict(ModelConfig, doc["model"], "model")  # the user's config, not the rebuild paths
    findings_prompt.attach(model, root)
    return model
