"""Connectors: encoder tokens ``(N, T, D_enc)`` -> LLM embedding-space tokens ``(N, T', D_llm)``.

Registered names: ``linear``, ``mlp{N}x_gelu`` (LLaVA-style), ``spatial_pool`` (pool the token
grid, then an MLP; M3D-LaMed), ``perceiver`` (resampler with learned latents; RadFM, P2Med-MLLM)
and ``attn_pool`` (learned queries, one cross-attention; CT-CHAT). Builders receive ``in_dim``
and ``out_dim`` from the composite model plus the config's keyword arguments. ``num_tokens``
reports the output count for an encoder's token count and grid.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medmllm.errors import ConfigError
from medmllm.registry import CONNECTORS


def mlp(in_dim: int, out_dim: int, depth: int) -> nn.Sequential:
    """``depth`` linear layers with GELU between them."""
    if depth < 1:
        raise ConfigError(None, f"connector depth must be >= 1, got {depth}")
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return nn.Sequential(*layers)


class Connector(nn.Module):
    """Base: token-wise maps keep the token count."""

    def num_tokens(self, num_in: int, grid: Sequence[int] | None) -> int:
        """Output tokens for ``num_in`` input tokens laid out on ``grid`` (patch tokens only)."""
        return num_in


class TokenwiseMLP(Connector):
    def __init__(self, in_dim: int, out_dim: int, depth: int = 1):
        super().__init__()
        self.proj = mlp(in_dim, out_dim, depth)

    def forward(self, x: torch.Tensor, grid: Sequence[int] | None = None) -> torch.Tensor:
        return self.proj(x)  # (N, T, D_llm)


@CONNECTORS.register("linear")
def linear(in_dim: int, out_dim: int) -> TokenwiseMLP:
    """One linear projection per token."""
    return TokenwiseMLP(in_dim, out_dim, 1)


@CONNECTORS.register(r"mlp(?P<depth>\d+)x_gelu", pattern=True)
def mlp_gelu(in_dim: int, out_dim: int, depth: int = 2) -> TokenwiseMLP:
    """``mlp2x_gelu`` = Linear-GELU-Linear per token (any depth N in ``mlp{N}x_gelu``)."""
    return TokenwiseMLP(in_dim, out_dim, depth)


class SpatialPool(Connector):
    """Adaptive average pooling of the patch-token grid to ``grid`` cells, then an MLP.

    Prefix tokens (a kept CLS) pass through unpooled in front.
    """

    def __init__(self, in_dim: int, out_dim: int, grid: int | Sequence[int] = 4, depth: int = 2):
        super().__init__()
        self.out_grid = grid
        self.proj = mlp(in_dim, out_dim, depth)

    def _target(self, grid: Sequence[int] | None) -> tuple[int, ...]:
        if grid is None:
            raise ConfigError(None, "spatial_pool needs an encoder whose tokens form a grid")
        g = (self.out_grid,) * len(grid) if isinstance(self.out_grid, int) else tuple(self.out_grid)
        if len(g) != len(grid) or any(a > b for a, b in zip(g, grid)):
            raise ConfigError(None, f"spatial_pool grid {list(g)} does not fit the token grid {list(grid)}")
        return g

    def num_tokens(self, num_in: int, grid: Sequence[int] | None) -> int:
        return num_in - math.prod(grid or ()) + math.prod(self._target(grid))

    def forward(self, x: torch.Tensor, grid: Sequence[int] | None = None) -> torch.Tensor:
        target = self._target(grid)
        n, t, d = x.shape
        prefix, patches = x[:, : t - math.prod(grid)], x[:, t - math.prod(grid):]
        vol = patches.transpose(1, 2).reshape(n, d, *grid)  # (N, D, *grid)
        pool = F.adaptive_avg_pool3d if len(grid) == 3 else F.adaptive_avg_pool2d
        pooled = pool(vol, target).flatten(2).transpose(1, 2)  # (N, prod(target), D)
        return self.proj(torch.cat([prefix, pooled], 1))  # (N, T', D_llm)


@CONNECTORS.register("spatial_pool")
def spatial_pool(in_dim: int, out_dim: int, **kwargs: Any) -> SpatialPool:
    """Pool the 2D/3D token grid to ``grid`` (int or per-axis list), then ``depth``-layer MLP."""
    return SpatialPool(in_dim, out_dim, **kwargs)


class CrossBlock(nn.Module):
    """Latents attend to ``[inputs; latents]`` (Flamingo-style), then a feed-forward layer."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_x, self.norm_q = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, x: torch.Tensor, self_attend: bool) -> torch.Tensor:
        qn = self.norm_q(q)  # (N, L, D)
        kv = torch.cat([self.norm_x(x), qn], 1) if self_attend else self.norm_x(x)
        q = q + self.attn(qn, kv, kv, need_weights=False)[0]
        return q + self.ff(q)


class LatentResampler(Connector):
    """``num_latents`` learned queries cross-attend to the encoder tokens; output projected."""

    def __init__(self, in_dim: int, out_dim: int, num_latents: int = 32, depth: int = 2, heads: int = 4,
                 dim: int | None = None, self_attend: bool = True):
        super().__init__()
        dim = dim or in_dim
        if dim % heads:
            raise ConfigError(None, f"connector width {dim} is not divisible by heads {heads}")
        self.inp = nn.Linear(in_dim, dim) if dim != in_dim else nn.Identity()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.blocks = nn.ModuleList(CrossBlock(dim, heads) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))
        self.self_attend = self_attend

    def num_tokens(self, num_in: int, grid: Sequence[int] | None) -> int:
        return self.latents.shape[0]

    def forward(self, x: torch.Tensor, grid: Sequence[int] | None = None) -> torch.Tensor:
        x = self.inp(x)  # (N, T, dim)
        q = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)  # (N, L, dim)
        for blk in self.blocks:
            q = blk(q, x, self.self_attend)
        return self.out(q)  # (N, L, D_llm)


@CONNECTORS.register("perceiver")
def perceiver(in_dim: int, out_dim: int, num_latents: int = 32, depth: int = 2, heads: int = 4,
              dim: int | None = None) -> LatentResampler:
    """Perceiver resampler: ``num_latents`` output tokens whatever the input count."""
    return LatentResampler(in_dim, out_dim, num_latents, depth, heads, dim, self_attend=True)


@CONNECTORS.register("attn_pool")
def attn_pool(in_dim: int, out_dim: int, num_queries: int = 16, heads: int = 4,
              dim: int | None = None) -> LatentResampler:
    """Attention pooling: ``num_queries`` learned queries, one cross-attention layer."""
    return LatentResampler(in_dim, out_dim, num_queries, 1, heads, dim, self_attend=False)
