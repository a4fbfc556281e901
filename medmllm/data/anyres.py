"""Aspect-preserving resizes for 2D images: letterbox to one size, or AnyRes (global view + tiles).

AnyRes handles high-resolution radiographs without squashing them into one small square: the image
is letterboxed onto a canvas of ``rows x cols`` encoder-sized tiles (the grid, among those with at
most ``max_tiles`` tiles, that keeps the most of the image's pixels and then wastes the least
canvas), cut into those tiles, and preceded by a global view of the whole image at the encoder's
size. The result is ``(1 + rows * cols, C, H, W)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from monai.transforms import MapTransform, Resize, ResizeWithPadOrCrop


def fit_size(shape: Sequence[int], target: Sequence[int]) -> tuple[int, int]:
    """The largest ``(h, w)`` with the aspect ratio of ``shape`` that fits in ``target``."""
    h, w = shape
    scale = min(target[0] / h, target[1] / w)
    return max(1, min(target[0], round(h * scale))), max(1, min(target[1], round(w * scale)))


def letterbox(img: torch.Tensor, target: Sequence[int], mode: str = "area") -> torch.Tensor:
    """``(C, h, w)`` -> ``(C, *target)``: resize keeping the aspect ratio, then centre-pad with zeros."""
    size = fit_size(img.shape[-2:], target)
    out = Resize(size, mode=mode, anti_aliasing=mode != "area")(img) if tuple(img.shape[-2:]) != size else img
    return ResizeWithPadOrCrop(tuple(target))(out)


def best_grid(shape: Sequence[int], tile: Sequence[int], max_tiles: int) -> tuple[int, int]:
    """``(rows, cols)`` with ``rows * cols <= max_tiles`` that keeps the most pixels, then wastes the least."""
    h, w = shape
    best, best_key = (1, 1), None
    for rows in range(1, max_tiles + 1):
        for cols in range(1, max_tiles // rows + 1):
            fh, fw = fit_size((h, w), (rows * tile[0], cols * tile[1]))
            kept = min(fh * fw, h * w)
            waste = rows * tile[0] * cols * tile[1] - kept
            key = (kept, -waste)
            if best_key is None or key > best_key:
                best, best_key = (rows, cols), key
    return best


def anyres_views(img: torch.Tensor, tile: Sequence[int], max_tiles: int, mode: str = "area") -> torch.Tensor:
    """``(C, h, w)`` -> ``(1 + rows * cols, C, *tile)``: the global view then the tiles, row by row."""
    rows, cols = best_grid(img.shape[-2:], tile, max_tiles)
    views = [letterbox(img, tile, mode)]
    if rows * cols > 1:
        canvas = letterbox(img, (rows * tile[0], cols * tile[1]), mode)  # (C, rows*H, cols*W)
        for r in range(rows):
            for c in range(cols):
                views.append(canvas[:, r * tile[0]:(r + 1) * tile[0], c * tile[1]:(c + 1) * tile[1]])
    return torch.stack([torch.as_tensor(v) for v in views])


class ResizeKeepAspectd(MapTransform):
    """Resize ``(C, h, w)`` so it fits in ``spatial_size`` keeping its aspect ratio (pad afterwards).

    A clip ``(C, T, h, w)`` has each frame resized the same way (time untouched)."""

    def __init__(self, keys: Any, spatial_size: Sequence[int], mode: str = "area", allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.size = tuple(spatial_size)
        self.mode = mode

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            x = d[key]
            size = fit_size(x.shape[-2:], self.size)
            if tuple(x.shape[-2:]) != size:
                flat = x.reshape(-1, *x.shape[-2:]) if x.dim() > 3 else x  # (C*T, h, w): frames as channels
                out = Resize(size, mode=self.mode, anti_aliasing=self.mode != "area")(flat)
                d[key] = out.reshape(*x.shape[:-2], *size) if x.dim() > 3 else out
        return d


class AnyResd(MapTransform):
    """AnyRes views of ``(C, h, w)``: ``(1 + tiles, C, H, W)`` (see :func:`anyres_views`)."""

    def __init__(self, keys: Any, spatial_size: Sequence[int], max_tiles: int = 4, mode: str = "area",
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.size, self.max_tiles, self.mode = tuple(spatial_size), int(max_tiles), mode

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = anyres_views(d[key], self.size, self.max_tiles, self.mode)
        return d
