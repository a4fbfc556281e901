"""Image encoders: pixels -> a sequence of feature tokens.

Registered names: ``vit2d`` / ``vit3d`` (MONAI ViT, any image and patch size), ``hf_vision`` (a
Hugging Face CLIP / SigLIP / DINOv2 vision tower from a folder or hub id) and ``slices2d`` (2.5D:
a 2D encoder over CT slices or slabs, tokens pooled across depth). Every encoder reports its
token grid, token count and width for an input shape (which excludes the batch dimension) and the
``input_spec`` the data transforms use to size and normalise its inputs.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medmllm.errors import ConfigError, InputError
from medmllm.registry import ENCODERS

log = logging.getLogger(__name__)


def _tuple(v: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    t = (int(v),) * n if isinstance(v, int) else tuple(int(x) for x in v)
    if len(t) != n:
        raise ConfigError(None, f"encoder {what}: expected {n} values, got {list(t)}")
    return t


class Encoder(nn.Module):
    """Base class. Subclasses set ``hidden_size``, ``spatial_dims``, ``num_prefix_tokens``."""

    hidden_size: int
    spatial_dims: int
    num_prefix_tokens: int = 0

    @property
    def input_spec(self) -> dict[str, Any]:
        """``{"spatial_size": tuple, "channels": int, "mean": list|None, "std": list|None}``."""
        raise NotImplementedError

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...] | None:
        """Token grid of the patch tokens for ``input_shape`` (C, *spatial), or None if not a grid."""
        raise NotImplementedError

    def num_tokens(self, input_shape: Sequence[int]) -> int:
        """Number of output tokens for one input of ``input_shape`` (C, *spatial)."""
        return self.num_prefix_tokens + math.prod(self.grid(input_shape))

    def _check_shape(self, input_shape: Sequence[int], patch: tuple[int, ...]) -> tuple[int, ...]:
        spatial = tuple(input_shape[1:])
        if len(spatial) != self.spatial_dims or any(s % p for s, p in zip(spatial, patch)):
            raise InputError(None, f"{type(self).__name__}: input shape {tuple(input_shape)} does not fit "
                                   f"patch size {patch} ({self.spatial_dims}D)")
        return tuple(s // p for s, p in zip(spatial, patch))


class MonaiViT(Encoder):
    """MONAI's ViT without a class token: ``(N, C, *spatial)`` -> ``(N, prod(grid), hidden)``."""

    def __init__(self, spatial_dims: int, image_size: int | Sequence[int], patch_size: int | Sequence[int],
                 channels: int, hidden_size: int = 128, mlp_dim: int | None = None, num_layers: int = 2,
                 num_heads: int = 4, dropout: float = 0.0, layer: int = -1,
                 mean: list[float] | None = None, std: list[float] | None = None):
        super().__init__()
        from monai.networks.nets import ViT

        self.spatial_dims = spatial_dims
        self.image_size = _tuple(image_size, spatial_dims, "image_size")
        self.patch_size = _tuple(patch_size, spatial_dims, "patch_size")
        if any(s % p for s, p in zip(self.image_size, self.patch_size)):
            raise ConfigError(None, f"encoder image_size {list(self.image_size)} is not a multiple of "
                                    f"patch_size {list(self.patch_size)}")
        self.channels, self.hidden_size, self.layer = channels, hidden_size, layer
        self.mean, self.std = mean, std
        self.vit = ViT(in_channels=channels, img_size=self.image_size, patch_size=self.patch_size,
                       hidden_size=hidden_size, mlp_dim=mlp_dim or 4 * hidden_size, num_layers=num_layers,
                       num_heads=num_heads, dropout_rate=dropout, spatial_dims=spatial_dims, classification=False)

    @property
    def input_spec(self) -> dict[str, Any]:
        return {"spatial_size": self.image_size, "channels": self.channels, "mean": self.mean, "std": self.std}

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return self._check_shape(input_shape, self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, *spatial) -> (N, T, D)
        out, hidden = self.vit(x)
        return out if self.layer == -1 else hidden[self.layer]


@ENCODERS.register("vit2d")
def vit2d(image_size: int | Sequence[int] = 224, patch_size: int | Sequence[int] = 16, channels: int = 3,
          **kwargs: Any) -> MonaiViT:
    """2D ViT trained from scratch (or loaded via ``init_from``)."""
    return MonaiViT(2, image_size, patch_size, channels, **kwargs)


@ENCODERS.register("vit3d")
def vit3d(image_size: int | Sequence[int] = (32, 256, 256), patch_size: int | Sequence[int] = (4, 16, 16),
          channels: int = 1, **kwargs: Any) -> MonaiViT:
    """3D ViT over CT volumes ``(C, D, H, W)``."""
    return MonaiViT(3, image_size, patch_size, channels, **kwargs)


VISION_CLASSES = {"clip": "CLIPVisionModel", "clip_vision_model": "CLIPVisionModel",
                  "siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel",
                  "dinov2": "Dinov2Model", "dinov2_with_registers": "Dinov2WithRegistersModel"}


def read_preprocessor_spec(path: str) -> dict[str, Any]:
    """Resize / crop / mean / std of a tower, from its ``preprocessor_config.json`` (folder or hub)."""
    from transformers.utils import cached_file

    f = cached_file(path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    if f is None:
        return {}
    try:
        with open(f, encoding="utf-8") as fh:
            pp = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f, f"unreadable preprocessor config: {e}") from None

    def hw(v: Any) -> tuple[int, int] | int | None:
        if isinstance(v, int):
            return (v, v)
        if isinstance(v, dict) and "height" in v:
            return (int(v["height"]), int(v["width"]))
        if isinstance(v, dict) and "shortest_edge" in v:
            return int(v["shortest_edge"])
        return None

    resize = hw(pp.get("size")) if pp.get("do_resize", True) else None
    crop = hw(pp.get("crop_size")) if pp.get("do_center_crop") else None
    return {"resize": resize, "crop": crop, "mean": pp.get("image_mean"), "std": pp.get("image_std")}


class HFVision(Encoder):
    """A Hugging Face vision tower; hidden layer ``layer``; prefix (CLS/register) tokens kept or dropped."""

    spatial_dims = 2

    def __init__(self, path: str, layer: int = -1, drop_cls: bool = True, load_weights: bool = True,
                 dtype: str = "float32", trust_remote_code: bool = False):
        super().__init__()
        import transformers
        from transformers import AutoConfig

        from medmllm.models.llm import resolve_dtype

        try:
            cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as e:
            raise InputError(path, f"cannot load the vision tower config: {str(e).splitlines()[0]}") from None
        if cfg.model_type not in VISION_CLASSES:
            raise ConfigError(None, f"hf_vision: model type '{cfg.model_type}' is not supported; "
                                    f"supported: {', '.join(sorted(VISION_CLASSES))}")
        cls = getattr(transformers, VISION_CLASSES[cfg.model_type])
        vcfg = cls.config_class.from_pretrained(path)
        if load_weights:
            self.tower = cls.from_pretrained(path, dtype=resolve_dtype(dtype))
        else:
            self.tower = cls(vcfg).to(resolve_dtype(dtype))
        self.path, self.layer, self.drop_cls = path, layer, drop_cls
        self.patch_size = (vcfg.patch_size,) * 2
        self.hidden_size = vcfg.hidden_size
        self.channels = getattr(vcfg, "num_channels", 3)
        prefix = 0 if "siglip" in cfg.model_type else 1
        prefix += int(getattr(vcfg, "num_register_tokens", 0) or 0)
        self._tower_prefix = prefix
        self.num_prefix_tokens = 0 if drop_cls else prefix
        self.preprocess_spec = read_preprocessor_spec(path)
        size = self.preprocess_spec.get("crop") or self.preprocess_spec.get("resize")
        self.image_size = size if isinstance(size, tuple) else _tuple(getattr(vcfg, "image_size", 224), 2, "image_size")
        self.config_dict = vcfg.to_dict()

    @property
    def input_spec(self) -> dict[str, Any]:
        pp = self.preprocess_spec
        return {"spatial_size": self.image_size, "channels": self.channels, "mean": pp.get("mean"), "std": pp.get("std")}

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return self._check_shape(input_shape, self.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, T, D)
        kw = {"interpolate_pos_encoding": True} if "Dinov2" not in type(self.tower).__name__ else {}
        out = self.tower(pixel_values=x.to(self.tower.dtype), output_hidden_states=True, **kw)
        h = out.hidden_states[self.layer]
        return h[:, self._tower_prefix:] if self.drop_cls else h


@ENCODERS.register("hf_vision")
def hf_vision(path: str, **kwargs: Any) -> HFVision:
    """CLIP / SigLIP / DINOv2 vision tower from a local folder or hub id."""
    return HFVision(path, **kwargs)


class Slices2D(Encoder):
    """2.5D: a 2D encoder over CT slices (or slabs of ``slab`` averaged slices); tokens pooled over
    depth into ``depth_groups`` groups: ``(N, C, D, H, W)`` -> ``(N, G * T2d, D)``."""

    spatial_dims = 3

    def __init__(self, encoder: dict[str, Any], num_slices: int = 32, slab: int = 1, depth_groups: int = 1,
                 chunk: int = 64):
        super().__init__()
        if not isinstance(encoder, dict) or "name" not in encoder:
            raise ConfigError(None, "slices2d.encoder: expected a mapping with a 'name'")
        inner = dict(encoder)
        inner.pop("init_from", None)
        self.inner = ENCODERS.build(inner.pop("name"), **inner)
        if self.inner.spatial_dims != 2:
            raise ConfigError(None, "slices2d.encoder must be a 2D encoder")
        if num_slices < slab * depth_groups:
            raise ConfigError(None, f"slices2d: num_slices {num_slices} < slab {slab} x depth_groups {depth_groups}")
        self.num_slices, self.slab, self.depth_groups, self.chunk = num_slices, slab, depth_groups, chunk
        self.hidden_size = self.inner.hidden_size
        self.num_prefix_tokens = 0

    @property
    def input_spec(self) -> dict[str, Any]:
        spec = dict(self.inner.input_spec)
        spec["spatial_size"] = (self.num_slices, *spec["spatial_size"])
        return spec

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...] | None:
        c, d, h, w = input_shape
        if d // self.slab < self.depth_groups:
            raise InputError(None, f"slices2d: {d} slices give fewer than {self.depth_groups} depth groups")
        g2 = self.inner.grid((self.inner.channels, h, w))
        return None if self.inner.num_prefix_tokens else (self.depth_groups, *g2)

    def num_tokens(self, input_shape: Sequence[int]) -> int:
        self.grid(input_shape)
        return self.depth_groups * self.inner.num_tokens((self.inner.channels, *input_shape[2:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, D, H, W) -> (N, G*T, E)
        n, c = x.shape[:2]
        if self.slab > 1:
            x = F.avg_pool3d(x, (self.slab, 1, 1), (self.slab, 1, 1))  # (N, C, D', H, W)
        d = x.shape[2]
        if c == 1 and self.inner.channels == 3:
            x = x.expand(-1, 3, -1, -1, -1)
        flat = x.transpose(1, 2).reshape(n * d, x.shape[1], *x.shape[3:])  # (N*D', C, H, W)
        feats = torch.cat([self.inner(flat[i:i + self.chunk]) for i in range(0, n * d, self.chunk)])
        t, e = feats.shape[1:]
        feats = feats.reshape(n, d, t * e).transpose(1, 2)  # (N, T*E, D')
        pooled = F.adaptive_avg_pool1d(feats, self.depth_groups)  # (N, T*E, G)
        return pooled.transpose(1, 2).reshape(n, self.depth_groups * t, e)  # (N, G*T, E)


@ENCODERS.register("slices2d")
def slices2d(encoder: dict[str, Any], **kwargs: Any) -> Slices2D:
    """2.5D CT encoder wrapping any registered 2D encoder (e.g. ``hf_vision`` CLIP)."""
    return Slices2D(encoder, **kwargs)
