"""Convolutional image encoders: MONAI's ResNet as a token grid (``resnet2d`` / ``resnet3d``).

A ViT trained from scratch needs far more data and steps than a small CNN before its features
separate findings; for encoders pretrained on a few thousand cases on a CPU (the quickstart) a
ResNet learns in a minute what a ViT does not in ten. The last feature map is returned as tokens:
``(N, C, *spatial)`` -> ``(N, prod(grid), width)``, so every connector works unchanged.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from medmllm.errors import ConfigError
from medmllm.models.encoders import Encoder, _tuple
from medmllm.registry import ENCODERS

DEPTHS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


class MonaiResNet(Encoder):
    """MONAI ResNet (basic blocks) without its pooling head.

    Args:
        spatial_dims: 2 (X-ray) or 3 (CT).
        image_size: the input size the data transforms produce.
        channels: input channels (1 for X-ray, the number of HU windows for CT).
        depth: 10, 18 or 34.
        widths: channels of the four stages (the last is the token width).
        stem_kernel, stem_stride: the first convolution.
        max_pool: keep the stem's max pooling.
        norm: ``batch``, ``instance`` or ``group`` (MONAI norm names).
        mean, std: input normalisation applied by the data transforms.
    """

    def __init__(self, spatial_dims: int, image_size: int | Sequence[int], channels: int = 1, depth: int = 10,
                 widths: Sequence[int] = (32, 64, 96, 128), stem_kernel: int = 5, stem_stride: int = 2,
                 max_pool: bool = True, norm: str = "batch", mean: list[float] | None = None,
                 std: list[float] | None = None):
        super().__init__()
        from monai.networks.nets import ResNet

        if depth not in DEPTHS:
            raise ConfigError(None, f"resnet depth {depth}: expected one of {sorted(DEPTHS)}")
        if len(widths) != 4:
            raise ConfigError(None, f"resnet widths: expected 4 values, got {list(widths)}")
        self.spatial_dims = spatial_dims
        self.image_size = _tuple(image_size, spatial_dims, "image_size")
        self.channels, self.mean, self.std = channels, mean, std
        self.stem_kernel, self.stem_stride, self.max_pool = stem_kernel, stem_stride, max_pool
        self.hidden_size = int(widths[-1])
        norm_arg: Any = ("group", {"num_groups": 8}) if norm == "group" else norm
        self.net = ResNet("basic", DEPTHS[depth], [int(w) for w in widths], spatial_dims=spatial_dims,
                          n_input_channels=channels, conv1_t_size=stem_kernel, conv1_t_stride=stem_stride,
                          no_max_pool=not max_pool, feed_forward=False, norm=norm_arg)
        self.grid((channels, *self.image_size))

    @property
    def input_spec(self) -> dict[str, Any]:
        return {"spatial_size": self.image_size, "channels": self.channels, "mean": self.mean, "std": self.std}

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Feature-map size: stem conv (padding k//2), max pool (3, 2, 1), three stride-2 stages."""
        spatial = tuple(int(s) for s in input_shape[1:])
        if len(spatial) != self.spatial_dims:
            raise ConfigError(None, f"resnet{self.spatial_dims}d: input shape {tuple(input_shape)} has "
                                    f"{len(spatial)} spatial axes")
        k, s = self.stem_kernel, self.stem_stride
        out = []
        for n in spatial:
            n = (n + 2 * (k // 2) - k) // s + 1
            if self.max_pool:
                n = (n - 1) // 2 + 1
            for _ in range(3):
                n = (n - 1) // 2 + 1
            out.append(n)
        return tuple(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, *spatial) -> (N, T, D)
        r = self.net
        x = r.act(r.bn1(r.conv1(x)))
        if self.max_pool:
            x = r.maxpool(x)
        x = r.layer4(r.layer3(r.layer2(r.layer1(x))))  # (N, D, *grid)
        return x.flatten(2).transpose(1, 2)


@ENCODERS.register("resnet2d")
def resnet2d(image_size: int | Sequence[int] = 224, channels: int = 1, **kwargs: Any) -> MonaiResNet:
    """2D ResNet over X-rays (and natural images with ``channels: 3``)."""
    return MonaiResNet(2, image_size, channels, **kwargs)


@ENCODERS.register("resnet3d")
def resnet3d(image_size: int | Sequence[int] = (32, 128, 128), channels: int = 1, stem_kernel: int = 3,
             **kwargs: Any) -> MonaiResNet:
    """3D ResNet over CT volumes ``(C, D, H, W)``."""
    return MonaiResNet(3, image_size, channels, stem_kernel=stem_kernel, **kwargs)
