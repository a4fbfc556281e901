"""The losses of encoder pretraining: symmetric InfoNCE (with label-aware soft targets) across processes.

``info_nce`` contrasts L2-normalised image and report embeddings with a learned temperature;
``same_label_targets`` turns finding labels into soft targets where two cases with the same
findings count as a match; ``gather_rows`` collects the embeddings of every process so that the
contrast runs over the global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
             targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between L2-normalised ``(B, E)`` image and text embeddings.

    Args:
        image_emb: ``(B, E)`` image embeddings (normalised here).
        text_emb: ``(B, E)`` paired text embeddings.
        logit_scale: log of the inverse temperature (a scalar parameter).
        targets: optional ``(B, B)`` soft target matrix (rows sum to 1); the identity by default.

    Returns:
        The mean of the image->text and text->image cross-entropies.
    """
    img = F.normalize(image_emb.float(), dim=-1)
    txt = F.normalize(text_emb.float(), dim=-1)
    logits = logit_scale.exp().clamp(max=100.0) * img @ txt.T  # (B, B)
    if targets is None:
        idx = torch.arange(img.shape[0], device=img.device)
        return 0.5 * (F.cross_entropy(logits, idx) + F.cross_entropy(logits.T, idx))
    t = targets.float()
    return 0.5 * (torch.sum(-t * F.log_softmax(logits, -1), -1).mean()
                  + torch.sum(-t.T * F.log_softmax(logits.T, -1), -1).mean())


def same_label_targets(labels: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` 0/1 labels -> ``(B, B)`` row-normalised matrix of "same findings" pairs."""
    same = (labels[:, None, :] == labels[None, :, :]).all(-1).float()  # (B, B), diagonal is 1
    return same / same.sum(-1, keepdim=True)


def world_size() -> int:
    """Number of processes of the job (1 without torch.distributed)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: torch.Tensor, grad: bool = True) -> torch.Tensor:
    """Concatenate ``(n_r, ...)`` tensors of every process (``n_r`` may differ) in rank order.

    With ``grad`` the result is differentiable: each process's gradient reaches its own rows (the
    backward of :func:`torch.distributed.nn.functional.all_gather` sums over processes, which DDP's
    gradient averaging turns back into the gradient of the global loss).
    """
    import torch.distributed as dist

    world = world_size()
    if world == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = max(sizes) - x.shape[0]
    xp = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad else x  # (max_n, ...)
    if grad:
        from torch.distributed.nn.functional import all_gather

        parts = all_gather(xp.contiguous())
    else:
        parts = [torch.zeros_like(xp) for _ in range(world)]
        dist.all_gather(parts, xp.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, sizes)])
