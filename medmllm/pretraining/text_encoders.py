"""Report encoders of the pretrainer: ``small`` (from scratch), ``llm_embeddings`` (the LLM's), ``hf`` (BERT-like).

Each maps token ids and an attention mask ``(B, L)`` to one vector per report ``(B, width)``
by masked mean pooling.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallTextEncoder(nn.Module):
    """A small transformer trained from scratch over the LLM tokenizer's ids; masked mean pooling."""

    def __init__(self, vocab_size: int, width: int = 128, layers: int = 2, heads: int = 4, max_length: int = 256,
                 pad_id: int = 0):
        super().__init__()
        self.width, self.max_length, self.pad_id = width, max_length, pad_id
        self.tok = nn.Embedding(vocab_size, width)
        self.pos = nn.Embedding(max_length, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, W)
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(pos)[None]
        x = self.norm(self.blocks(x, src_key_padding_mask=~mask.bool()))
        m = mask.float()[..., None]
        return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class HFTextEncoder(nn.Module):
    """Any Hugging Face text encoder (BERT-like) from a local folder or hub id; masked mean pooling."""

    def __init__(self, path: str, trainable: bool = False):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.width = self.model.config.hidden_size
        self.trainable = trainable
        self.model.requires_grad_(trainable)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, L, W)
        m = mask.float()[..., None]
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


class LLMEmbeddingText(nn.Module):
    """The LLM's own (frozen) input embeddings, mean-pooled, then a trained MLP."""

    def __init__(self, embeddings: nn.Embedding, width: int = 256):
        super().__init__()
        self.embeddings = embeddings
        self.width = width
        self.mlp = nn.Sequential(nn.Linear(embeddings.embedding_dim, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            e = self.embeddings(ids).float()  # (B, L, H)
        m = mask.float()[..., None]
        return self.mlp((e * m).sum(1) / m.sum(1).clamp(min=1.0))
