"""The token cross-entropy of a causal LM on its supervised (assistant) tokens.

One function serves training (sums and counts, normalised over the whole batch by the
LightningModule) and scoring (``MedMLLM.sequence_loss``: each sample's mean token loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from medmllm.data.conversation import IGNORE_INDEX


def token_loss_sums(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample sums of next-token losses and counts of supervised tokens, ``(B,)`` each.

    Args:
        logits: ``(B, L, V)`` logits; position ``t`` predicts token ``t + 1``.
        labels: ``(B, L)`` token ids, ``IGNORE_INDEX`` where nothing is supervised.
    """
    pred = logits[:, :-1].float()  # (B, L-1, V)
    target = labels[:, 1:].to(pred.device)  # (B, L-1)
    tok = F.cross_entropy(pred.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")  # (B, L-1)
    return tok.sum(1), (target != IGNORE_INDEX).sum(1)
