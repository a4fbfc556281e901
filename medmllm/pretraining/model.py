"""The encoder pretrainer: CLIP-style image-report contrast and multi-label findings heads.

``EncoderPretrainer`` wraps the image encoders of a :class:`~medmllm.models.mllm.MedMLLM` (so the
trained encoders are saved in the ordinary export and load into later stages with ``init_from``)
and adds what only pretraining needs: a report encoder (:mod:`.text_encoders`), projections into a
shared embedding space, a learned temperature and an optional classification head per modality.

Loss per modality present in the batch (:mod:`.objective`)::

    contrastive_weight * InfoNCE(image, report)  (symmetric, learned temperature)
  + label_weight * BCE(head(pooled image), labels)  (entries that are -1/None are ignored)

With ``label_aware`` the contrastive targets treat two cases with the same findings as a match
(their template reports are interchangeable), which removes false negatives on synthetic data.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medmllm.errors import ConfigError
from medmllm.findings import FINDING_KEYS
from medmllm.pretraining.objective import gather_rows, info_nce, same_label_targets, world_size
from medmllm.pretraining.text_encoders import HFTextEncoder, LLMEmbeddingText, SmallTextEncoder


class EncoderPretrainer(nn.Module):
    """Contrastive + multi-label pretraining of ``model``'s image encoders.

    Args:
        model: a MedMLLM whose ``encoders`` are trained (its tokenizer feeds the small text encoder).
        text: ``{"name": "small" | "llm_embeddings" | "hf", ...}`` (``width``, ``layers``, ``path``).
        embed_dim: shared embedding width.
        labels: finding keys of the classification head (default: all of FINDING_KEYS).
        label_weight: weight of the BCE term (0 disables the head).
        contrastive_weight: weight of the InfoNCE term (0 disables it).
        label_aware: contrastive targets treat equal finding sets as matches.
        temperature: initial temperature (learned).
        max_text_length: reports are cut to this many tokens.
        gather: with several processes, contrast against the embeddings of every process.
    """

    def __init__(self, model: Any, text: dict[str, Any] | None = None, embed_dim: int = 128,
                 labels: Sequence[str] | None = None, label_weight: float = 1.0, contrastive_weight: float = 1.0,
                 label_aware: bool = True, temperature: float = 0.07, max_text_length: int = 192,
                 gather: bool = True):
        super().__init__()
        self.model = model
        self.label_keys = tuple(labels or FINDING_KEYS)
        self.label_weight, self.contrastive_weight, self.label_aware = label_weight, contrastive_weight, label_aware
        self.max_text_length, self.gather = max_text_length, gather
        text = dict(text or {"name": "small"})
        name = text.pop("name", "small")
        tok = model.tokenizer
        if name == "small":
            self.text_encoder = SmallTextEncoder(len(tok), max_length=max_text_length,
                                                 pad_id=tok.pad_token_id or 0, **text)
            self.text_tokenizer = tok
        elif name == "llm_embeddings":
            self.text_encoder = LLMEmbeddingText(model.llm.get_input_embeddings(), **text)
            self.text_tokenizer = tok
        elif name == "hf":
            self.text_encoder = HFTextEncoder(**text)
            self.text_tokenizer = self.text_encoder.tokenizer
        else:
            raise ConfigError(None, f"encoder stage text.name '{name}': expected small, llm_embeddings or hf")
        self.text_proj = nn.Linear(self.text_encoder.width, embed_dim)
        self.image_proj = nn.ModuleDict({m: nn.Linear(e.hidden_size, embed_dim) for m, e in model.encoders.items()})
        self.heads = nn.ModuleDict({m: nn.Linear(e.hidden_size, len(self.label_keys))
                                    for m, e in model.encoders.items()}) if label_weight > 0 else nn.ModuleDict()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    @property
    def encoders(self) -> nn.ModuleDict:
        return self.model.encoders

    @property
    def connectors(self) -> nn.ModuleDict:
        return self.model.connectors

    @property
    def llm(self) -> nn.Module:
        return self.model.llm

    def head_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of what only pretraining has (text encoder, projections, heads, temperature).

        Parameters shared with the wrapped model (the LLM embeddings of ``llm_embeddings``) are left out.
        """
        own = {id(p) for p in self.model.parameters()}
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("model.") and id(p) not in own]

    def pooled(self, modality: str, pixels: torch.Tensor) -> torch.Tensor:
        """Mean of the encoder's tokens: ``(N, C, *spatial)`` -> ``(N, D)``."""
        return self.model.encoders[modality](pixels).mean(1)

    def image_embedding(self, modality: str, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj[modality](self.pooled(modality, pixels)).float(), dim=-1)

    def tokenize(self, texts: Sequence[str], device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.text_tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_text_length,
                                  return_tensors="pt")
        return enc["input_ids"].to(device), enc["attention_mask"].to(device)

    def text_embedding(self, texts: Sequence[str]) -> torch.Tensor:
        dev = self.logit_scale.device
        ids, mask = self.tokenize(texts, dev)
        return F.normalize(self.text_proj(self.text_encoder(ids, mask)).float(), dim=-1)

    def label_matrix(self, labels: Sequence[dict[str, Any] | None]) -> torch.Tensor:
        """Label dicts -> ``(B, K)`` float with NaN where a label is unknown (None/-1/missing)."""
        rows = []
        for lab in labels:
            lab = lab or {}
            rows.append([float(lab[k]) if lab.get(k) in (0, 1) else float("nan") for k in self.label_keys])
        return torch.tensor(rows, dtype=torch.float32, device=self.logit_scale.device)

    def forward(self, pixel_values: dict[str, torch.Tensor], image_sample_index: dict[str, torch.Tensor],
                texts: Sequence[str | None], labels: Sequence[dict[str, Any] | None] | None = None,
                features: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """Loss terms for one batch. ``texts[b]`` is the report of sample ``b`` (None: no report).

        Samples without a report take part in the BCE term only. With ``gather`` set and several
        processes, the contrastive term of each modality is computed over the embeddings of the
        whole global batch (every process calls the same collectives, also for an absent modality).
        A ``features`` dict is filled with what validation metrics need: ``features["text"]`` the
        ``(B, E)`` report embeddings (None without reports) and ``features[m]`` = ``{"samples" (S,),
        "image" (S, E) normalised embeddings, "head" (S, K) probabilities or None}``.
        """
        y = self.label_matrix(labels) if labels is not None else None
        has_text = torch.tensor([bool(t and str(t).strip()) for t in texts], dtype=torch.bool)
        txt = None
        if self.contrastive_weight > 0 and bool(has_text.any()):
            emb = self.text_embedding([str(t) for t, h in zip(texts, has_text.tolist()) if h])  # (B_t, E)
            txt = emb.new_zeros((len(texts), emb.shape[1]))
            txt[has_text.to(emb.device)] = emb  # (B, E); rows without a report stay zero and are never used
        if features is not None:
            features["text"] = None if txt is None else txt.detach()
        distributed = self.gather and world_size() > 1
        terms: dict[str, torch.Tensor] = {}
        total = self.logit_scale.new_zeros(())
        for m in self.image_proj:
            pix = (pixel_values or {}).get(m)
            present = pix is not None and pix.shape[0] > 0
            if not present and not distributed:
                continue
            samples = torch.zeros(0, dtype=torch.long, device=self.logit_scale.device)
            per_sample = None
            if present:
                idx = image_sample_index[m].to(pix.device)
                pooled = self.pooled(m, pix)  # (N_m, D)
                samples = torch.unique(idx)  # sorted sample ids that have this modality
                # one embedding per sample: mean over its images of this modality
                onehot = (idx[None, :] == samples[:, None]).to(pooled.dtype)  # (S, N_m)
                per_sample = onehot @ pooled / onehot.sum(1, keepdim=True)  # (S, D)
                if features is not None:
                    with torch.no_grad():
                        head = torch.sigmoid(self.heads[m](per_sample).float()) if m in self.heads else None
                        features[m] = {"samples": samples,
                                       "image": F.normalize(self.image_proj[m](per_sample).float(), dim=-1),
                                       "head": head}
            if self.contrastive_weight > 0:
                c = self._contrastive(m, per_sample, samples, txt, has_text, y, distributed)
                if c is not None:
                    terms[f"{m}/contrastive"] = c
                    total = total + self.contrastive_weight * c
            if present and m in self.heads and y is not None:
                yy = y[samples]
                known = ~torch.isnan(yy)
                if known.any():
                    logits = self.heads[m](per_sample).float()
                    bce = F.binary_cross_entropy_with_logits(logits[known], yy[known])
                    terms[f"{m}/bce"] = bce
                    total = total + self.label_weight * bce
        terms["loss"] = total
        return terms

    def _contrastive(self, m: str, per_sample: torch.Tensor | None, samples: torch.Tensor, txt: torch.Tensor | None,
                     has_text: torch.Tensor, y: torch.Tensor | None, distributed: bool) -> torch.Tensor | None:
        """InfoNCE of modality ``m`` over the samples that have both the image and a report."""
        dev = self.logit_scale.device
        e = self.text_proj.out_features
        img_e = torch.zeros((0, e), device=dev)
        txt_e = torch.zeros((0, e), device=dev)
        lab = torch.zeros((0, len(self.label_keys)), device=dev)
        if per_sample is not None and txt is not None:
            rows = has_text.to(samples.device)[samples]  # (S,) which of these samples have a report
            keep = samples[rows]
            img_e = self.image_proj[m](per_sample[rows]).float()  # (S_t, E)
            txt_e = txt[keep]  # (S_t, E), projected and normalised
            if y is not None:
                lab = y[keep]
        if distributed:
            img_e, txt_e = gather_rows(img_e), gather_rows(txt_e)
            lab = gather_rows(lab, grad=False)
        if img_e.shape[0] < 2:
            return None
        targets = None
        if self.label_aware and y is not None and lab.shape[0] == img_e.shape[0] and not torch.isnan(lab).any():
            targets = same_label_targets(lab)
        return info_nce(img_e, txt_e, self.logit_scale, targets)

    def predict_labels(self, modality: str, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` probabilities of the classification head."""
        return torch.sigmoid(self.heads[modality](self.pooled(modality, pixels)).float())
