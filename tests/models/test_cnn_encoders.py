import pytest
import torch

from medmllm.errors import ConfigError
from medmllm.registry import ENCODERS, CONNECTORS


def _expected(n, k, s, pool):
    n = (n + 2 * (k // 2) - k) // s + 1  # stem
    if pool:
        n = (n + 2 - 3) // 2 + 1
    for _ in range(3):
        n = (n + 2 - 3) // 2 + 1
    return n


@pytest.mark.parametrize("size,kw", [((128, 128), {}), ((96, 160), {"stem_stride": 1}), ((64, 64), {"max_pool": False})])
def test_resnet2d_token_grid(size, kw):
    enc = ENCODERS.build("resnet2d", image_size=size, channels=1, widths=[8, 8, 16, 16], **kw)
    x = torch.randn(2, 1, *size)
    out = enc(x)
    k, s, pool = 5, kw.get("stem_stride", 2), kw.get("max_pool", True)
    grid = tuple(_expected(n, k, s, pool) for n in size)
    assert enc.grid((1, *size)) == grid
    assert out.shape == (2, grid[0] * grid[1], 16) and enc.num_tokens((1, *size)) == grid[0] * grid[1]
    assert enc.input_spec == {"spatial_size": size, "channels": 1, "mean": None, "std": None}


def test_resnet3d_with_connector_and_backward():
    enc = ENCODERS.build("resnet3d", image_size=[16, 32, 32], channels=2, widths=[8, 8, 16, 16], norm="group")
    con = CONNECTORS.build("spatial_pool", in_dim=16, out_dim=24, grid=[1, 1, 1])
    x = torch.randn(3, 2, 16, 32, 32, requires_grad=True)
    tokens = enc(x)
    # stem k3 s2: 8x16x16, pool: 4x8x8, stages: 2x4x4 -> 1x2x2 -> 1x1x1
    assert enc.grid((2, 16, 32, 32)) == (1, 1, 1) and tokens.shape == (3, 1, 16)
    y = con(tokens, enc.grid((2, 16, 32, 32)))
    assert y.shape == (3, 1, 24)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_resnet_bad_settings():
    with pytest.raises(ConfigError, match="depth 12"):
        ENCODERS.build("resnet2d", image_size=64, depth=12)
    enc = ENCODERS.build("resnet2d", image_size=64, widths=[8, 8, 8, 8])
    with pytest.raises(ConfigError, match="has 3 spatial axes"):
        enc.grid((1, 8, 64, 64))
