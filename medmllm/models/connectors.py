"""Connectors: encoder tokens ``(N, T, D_enc)`` -> LLM embedding-space tokens ``(N, T', D_llm)``.

Registered names: ``linear``, ``mlp{N}x_gelu`` (LLaVA-style), ``spatial_pool`` (pool the token
grid, then an MLP; M3D-LaMed), ``perceiver`` (resampler with learned latents; RadFM, P2Med-MLLM),
``attn_pool`` (learned queries, one cross-attention; CT-CHAT) and ``temporal_attn`` (clips: each
frame pooled, attention across time, time pooled). Builders receive ``in_dim``
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


class TemporalAttention(Connector):
    """Clip tokens on a ``(T, gh, gw)`` grid -> ``time_tokens * grid**2`` LLM tokens.

    Each frame's tokens are average-pooled to ``grid x grid`` cells; with ``motion`` the change of each
    cell since the previous frame is projected and added (a motion cue: without it, direction of motion
    is learnable but takes several times more steps); a learned time embedding is added; ``depth``
    transformer layers attend across time within each cell; time is then average-pooled into
    ``time_tokens`` groups and an MLP projects to the LLM's width. Tokens come out time-major.
    """

    def __init__(self, in_dim: int, out_dim: int, grid: int = 2, time_tokens: int = 1, depth: int = 1,
                 heads: int = 4, dim: int | None = None, max_frames: int = 256, mlp_depth: int = 2,
                 motion: bool = True):
        super().__init__()
        dim = dim or in_dim
        if dim % heads:
            raise ConfigError(None, f"temporal_attn width {dim} is not divisible by heads {heads}")
        self.grid, self.time_tokens = int(grid), int(time_tokens)
        self.inp = nn.Linear(in_dim, dim) if dim != in_dim else nn.Identity()
        self.time_embed = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
        self.motion = nn.Linear(dim, dim) if motion else None
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.temporal = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.proj = nn.Sequential(nn.LayerNorm(dim), mlp(dim, out_dim, mlp_depth))

    def _check(self, grid: Sequence[int] | None) -> tuple[int, int, int]:
        if grid is None or len(grid) != 3:
            raise ConfigError(None, "temporal_attn needs clip tokens on a (T, h, w) grid (e.g. the frames2d encoder)")
        t, h, w = (int(g) for g in grid)
        if self.grid > min(h, w) or self.time_tokens > t or t > self.time_embed.shape[0]:
            raise ConfigError(None, f"temporal_attn grid {self.grid} / time_tokens {self.time_tokens} do not fit "
                                    f"the token grid {[t, h, w]} (at most {self.time_embed.shape[0]} frames)")
        return t, h, w

    def num_tokens(self, num_in: int, grid: Sequence[int] | None) -> int:
        self._check(grid)
        return self.time_tokens * self.grid * self.grid

    def forward(self, x: torch.Tensor, grid: Sequence[int] | None = None) -> torch.Tensor:
        t, h, w = self._check(grid)
        n, _, d = x.shape
        s = self.grid
        cells = F.adaptive_avg_pool3d(x.transpose(1, 2).reshape(n, d, t, h, w), (t, s, s))  # (N, D, T, s, s)
        seq = cells.permute(0, 3, 4, 2, 1).reshape(n * s * s, t, d)  # (N*s*s, T, D): one sequence per cell
        seq = self.inp(seq)
        if self.motion is not None:
            delta = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, 1:] - seq[:, :-1]], 1)  # since the last frame
            seq = seq + self.motion(delta)
        seq = self.temporal(seq + self.time_embed[:t])  # attention across time
        pooled = F.adaptive_avg_pool1d(seq.transpose(1, 2), self.time_tokens)  # (N*s*s, D', time_tokens)
        out = pooled.reshape(n, s * s, -1, self.time_tokens).permute(0, 3, 1, 2)  # (N, time_tokens, s*s, D')
        return self.proj(out.reshape(n, self.time_tokens * s * s, -1))  # (N, time_tokens*s*s, D_llm)


@CONNECTORS.register("temporal_attn")
def temporal_attn(in_dim: int, out_dim: int, **kwargs: Any) -> TemporalAttention:
    """Temporal attention connector for clips: ``time_tokens * grid**2`` output tokens."""
    return TemporalAttention(in_dim, out_dim, **kwargs)
