"""MedMLLM: per-modality encoder -> connector, spliced into a causal LLM's input embeddings.

Each ``<xray>`` / ``<ct>`` placeholder in ``input_ids`` has already been repeated as many times as
its image yields tokens (see ``medmllm.data.conversation``). ``embed`` encodes every image of the
batch, checks per sample that the placeholder count equals the feature count (raising with the
sample index otherwise) and writes the features into the placeholder positions with
``masked_scatter``. Samples may carry any number of images of either modality, or none.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from medmllm.config import ModelConfig, from_dict
from medmllm.data.conversation import IGNORE_INDEX, placeholder_token_ids
from medmllm.errors import ConfigError, InputError
from medmllm.models import generation
from medmllm.models.llm import LLMBundle, apply_lora, end_of_turn_ids
from medmllm.registry import CONNECTORS, ENCODERS, LLMS

log = logging.getLogger(__name__)

PARTS = ("encoders", "connectors", "llm", "lora")


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

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def build(cls, config: ModelConfig | dict[str, Any]) -> "MedMLLM":
        """Build from a model config (dict or dataclass); honours ``init_from`` and ``lora``."""
        cfg = config if isinstance(config, ModelConfig) else from_dict(ModelConfig, config, "model")
        if cfg.init_from:
            from medmllm.models.checkpoint import init_from_export

            return init_from_export(cfg)
        llm_kw = {k: v for k, v in cfg.llm.items() if k not in ("name", "lora")}
        model = cls(cfg, LLMS.build(cfg.llm["name"], **llm_kw))
        if cfg.llm.get("lora"):
            model.add_lora(cfg.llm["lora"])
        from medmllm.models.checkpoint import load_encoder_init

        for m, mc in cfg.modalities.items():
            if mc.encoder.get("init_from"):
                load_encoder_init(model, m, mc.encoder["init_from"])
        return model

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs: Any) -> "MedMLLM":
        """Load an export folder written by :meth:`save_pretrained` (no pickle, no name guessing)."""
        from medmllm.models.checkpoint import load_export

        return load_export(path, **kwargs)

    def save_pretrained(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Write an export folder atomically (see ``medmllm.models.checkpoint.save_export``)."""
        from medmllm.models.checkpoint import save_export

        save_export(self, path, **kwargs)

    def add_lora(self, lora: dict[str, Any]) -> None:
        """Wrap the LLM with a PEFT LoRA adapter (``{r, alpha, dropout, target_modules}``)."""
        self.llm = apply_lora(self.llm, **lora)

    @property
    def has_lora(self) -> bool:
        return any("lora_" in n for n, _ in self.llm.named_parameters())

    # ---- shapes ---------------------------------------------------------------------------------
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

    # ---- the splice -----------------------------------------------------------------------------
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
        logits = out.logits[:, :-1].float()  # (B, L-1, V)
        target = batch["labels"][:, 1:].to(logits.device)  # (B, L-1)
        tok = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")
        n = (target != IGNORE_INDEX).sum(1)
        return tok.sum(1) / n  # (B,)

    # ---- generation -----------------------------------------------------------------------------
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

    # ---- what trains ----------------------------------------------------------------------------
    def parts(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Named parameters by part: ``encoders.<m>``, ``connectors.<m>``, ``llm``, ``lora``."""
        out: dict[str, list[tuple[str, nn.Parameter]]] = {}
        for kind in ("encoders", "connectors"):
            for m, mod in getattr(self, kind).items():
                out[f"{kind}.{m}"] = [(f"{kind}.{m}.{n}", p) for n, p in mod.named_parameters()]
        out["llm"], out["lora"] = [], []
        for n, p in self.llm.named_parameters():
            out["lora" if "lora_" in n else "llm"].append((f"llm.{n}", p))
        return out

    def freeze(self, policy: Iterable[str] | dict[str, bool]) -> dict[str, int]:
        """Train exactly the parts named (``encoders``, ``connectors``, ``llm``, ``lora``, or one
        modality such as ``encoders.ct``); freeze the rest. Logs and returns trainable counts."""
        train = {k for k, v in policy.items() if v} if isinstance(policy, dict) else set(policy)
        parts = self.parts()
        valid = set(PARTS) | set(parts)
        unknown = sorted(train - valid)
        if unknown:
            raise ConfigError(None, f"freeze policy: unknown part(s) {unknown}; valid: {', '.join(sorted(valid))}")
        if "lora" in train and not parts["lora"]:
            raise ConfigError(None, "freeze policy trains 'lora' but the model has no LoRA adapter (set model.llm.lora)")
        counts = {}
        for name, params in parts.items():
            on = name in train or name.split(".")[0] in train
            for _, p in params:
                p.requires_grad_(on)
            counts[name] = sum(p.numel() for _, p in params) if on else 0
        if counts["llm"]:
            self.llm_base_modified = True
        total = sum(p.numel() for p in self.parameters())
        n = sum(counts.values())
        log.info("trainable: %s; %d of %d parameters (%.2f%%)",
                 ", ".join(f"{k}={v:,}" for k, v in counts.items() if v) or "nothing", n, total, 100 * n / max(total, 1))
        return counts
