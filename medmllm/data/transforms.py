"""MONAI dictionary transforms that turn one image file into the tensor an encoder wants.

Built per modality from the encoder's ``input_spec`` (``spatial_size``, ``channels``, ``mean``,
``std``) and :class:`medmllm.config.TransformConfig`:

- ``xray`` slot (X-rays and photos): load -> channels (grayscale repeated to 3 when the encoder
  wants RGB, RGB to luminance when it wants 1) -> resize keeping the aspect ratio and pad, or
  AnyRes (a global view plus tiles) -> the encoder's normalisation. Output ``(C, H, W)``, or
  ``(1 + tiles, C, H, W)`` with AnyRes.
- ``ct`` slot: load (HU) -> resample to the target spacing -> crop/pad (with air) or resize to the
  encoder's shape -> HU windows stacked as channels, each scaled to [0, 1] -> normalisation.
  Output ``(C, D, H, W)``.
- ``video`` slot (cine DICOM, video files): load the encoder's ``T`` frames, sampled uniformly or
  at a fixed rate (:class:`~medmllm.config.VideoTransformConfig`, :mod:`medmllm.io.frames`) ->
  channels -> each frame resized keeping the aspect ratio and padded -> normalisation. Output
  ``(C, T, H, W)``: time stands where a CT has depth.

The deterministic part (:attr:`ImagePipeline.preprocess`) is what the cache stores; training
augmentation (light affine + intensity, no flips) runs after it and only when ``train=True``. The
affine is 2D: X-ray views, and every axial slice of a CT, get the same in-plane rotation, scale and
shift (a 3D resampling costs about 4x more on a CPU, and the slice axis is never rotated or shifted);
so does every frame of a clip.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator

import numpy as np
import torch
from monai.data import MetaTensor, get_track_meta, set_track_meta
from monai.transforms import (Compose, MapTransform, NormalizeIntensityd, RandAdjustContrastd, RandAffined,
                              RandScaleIntensityd, RepeatChanneld, Resized, ResizeWithPadOrCropd,
                              ScaleIntensityRange)

from medmllm.config import TransformConfig, config_hash, to_plain
from medmllm.data.anyres import AnyResd, ResizeKeepAspectd
from medmllm.errors import ConfigError, InputError, MedmllmError

log = logging.getLogger(__name__)

KEY = "image"
HU_WINDOWS: dict[str, tuple[float, float]] = {"lung": (1500.0, -600.0), "mediastinum": (400.0, 40.0),
                                              "bone": (2000.0, 300.0)}  # name -> (width, level)
AIR_HU = -1024.0
PIPELINE_VERSION = 2  # bump when the deterministic output of the same config changes (2: CT resampling by Resize)


def _load_image(source: Any, **kwargs: Any):
    """``medmllm.io.load_image``, looked up at call time (tests count the decodes through it)."""
    import medmllm.io as mio

    return mio.load_image(source, **kwargs)


class LoadVideod(MapTransform):
    """Load ``data[key]`` (a path, or ``{"path", ...}``) as ``num_frames`` frames with ``medmllm.io.load_video``.

    Produces a float32 :class:`MetaTensor` ``(C, T, H, W)`` in [0, 1] (``C`` 3 for colour, 1 for
    grayscale cine) whose affine scales rows and columns by the pixel spacing.
    """

    def __init__(self, keys: Any, num_frames: int, sampling: str = "uniform", fps: float | None = None,
                 allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.num_frames, self.sampling, self.fps = int(num_frames), sampling, fps

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        import medmllm.io as mio

        d = dict(data)
        for key in self.key_iterator(d):
            item = d[key]
            path = item.get("path") if isinstance(item, dict) else item
            img = mio.load_video(path, num_frames=self.num_frames, sampling=self.sampling, fps=self.fps)
            arr = np.moveaxis(np.asarray(img.array, dtype=np.float32), -1, 0)  # (T, H, W, C) -> (C, T, H, W)
            affine = np.diag([1.0, *(img.spacing or (1.0, 1.0)), 1.0])
            d[key] = MetaTensor(torch.from_numpy(np.ascontiguousarray(arr)), affine=torch.as_tensor(affine))
        return d


class LoadMedicalImaged(MapTransform):
    """Load ``data[key]`` (a path, or ``{"path", "series", "spacing", "rescale"}``: an image entry's
    load fields, see :func:`medmllm.data.schema.image_source`) with ``medmllm.io.load_image``.

    Produces a channel-first float32 :class:`MetaTensor`: ``(1, H, W)`` for X-rays, ``(3, H, W)``
    for colour images, ``(1, D, H, W)`` in HU for CT, with an affine that scales voxels by the
    spacing (so the resampling to ``data.transforms.ct.spacing`` scales along the same axes).

    Args:
        keys: the keys to load.
        modality: ``xray`` (accepts kinds ``xray`` and ``image``) or ``ct``.
        min_slices: CT only: reject volumes with fewer slices.
    """

    def __init__(self, keys: Any, modality: str, min_slices: int = 1, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.modality = modality
        self.min_slices = min_slices

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            item = d[key]
            path, extra = (item["path"], {k: v for k, v in item.items() if k != "path" and v is not None}) \
                if isinstance(item, dict) else (item, {})
            img = _load_image(path, **extra)  # kind from the content: an X-ray is never read as CT
            arr = np.asarray(img.array, dtype=np.float32)
            if self.modality == "ct":
                if img.kind != "ct" or arr.ndim != 3:
                    raise InputError(path, f"expected a CT volume, got a {img.kind} image of shape {arr.shape}")
                if arr.shape[0] < self.min_slices:
                    raise InputError(path, f"{arr.shape[0]} slice(s); this CT pipeline needs at least "
                                           f"{self.min_slices}")
                spacing = tuple(float(s) for s in (img.spacing or (1.0, 1.0, 1.0)))
                if img.spacing is None:
                    log.warning("%s: no voxel spacing; assuming 1 mm", path)
                arr = arr[None]  # (1, D, H, W)
            else:
                if img.kind not in ("xray", "image"):
                    raise InputError(path, f"expected a 2D image for the xray slot, got a {img.kind} image")
                arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)  # (C, H, W)
                spacing = tuple(float(s) for s in (img.spacing or (1.0, 1.0)))
            affine = np.diag([*spacing, 1.0])
            d[key] = MetaTensor(torch.from_numpy(np.ascontiguousarray(arr)), affine=torch.as_tensor(affine))
        return d


class Channelsd(MapTransform):
    """Make ``channels`` channels: repeat grayscale, or RGB -> luminance (ITU-R BT.601)."""

    def __init__(self, keys: Any, channels: int, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.channels = channels
        self._repeat = RepeatChanneld(keys, repeats=channels) if channels > 1 else None

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            c = d[key].shape[0]
            if c == self.channels:
                continue
            if c == 3 and self.channels == 1:
                w = torch.tensor([0.299, 0.587, 0.114], dtype=d[key].dtype).view(3, *[1] * (d[key].dim() - 1))
                d[key] = (d[key] * w).sum(0, keepdim=True)
            elif c == 1 and self._repeat is not None:
                d[key] = self._repeat({key: d[key]})[key]
            else:
                raise InputError(None, f"cannot turn a {c}-channel image into {self.channels} channels")
        return d


class ResampleToSpacingd(MapTransform):
    """Resample a volume in the canonical axes to ``pixdim`` mm with MONAI's ``Resize`` (trilinear).

    The loaders put every volume in the same axis-aligned orientation, so reaching a voxel size is a
    scaling per axis: ``Resize`` does it with one interpolation into the output, where ``Spacingd``
    builds a sampling grid and keeps more copies (peak memory about 1.8x of the input against about
    1.1x here, ``benchmarks/io_memory_bench.py --pipeline``). The new shape keeps the physical extent:
    ``round(size * spacing / pixdim)`` voxels per axis (at least 1).
    """

    def __init__(self, keys: Any, pixdim: list[float], allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.pixdim = [float(p) for p in pixdim]

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        from monai.transforms import Resize

        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]  # (C, D, H, W) MetaTensor with a diagonal affine
            spacing = [float(abs(img.affine[i, i])) for i in range(3)]
            size = [max(1, int(round(n * s / t))) for n, s, t in zip(img.shape[1:], spacing, self.pixdim)]
            if size == list(img.shape[1:]):
                continue
            out = Resize(size, mode="trilinear")(img)
            del img
            out.affine = torch.as_tensor(np.diag([*self.pixdim, 1.0]))
            d[key] = out
        return d


class HUWindowsd(MapTransform):
    """``(1, D, H, W)`` HU -> ``(len(windows), D, H, W)``, each window scaled to [0, 1] and clipped."""

    def __init__(self, keys: Any, windows: list[tuple[float, float]], allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.scalers = [ScaleIntensityRange(level - width / 2, level + width / 2, 0.0, 1.0, clip=True)
                        for width, level in windows]

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = torch.cat([s(d[key]) for s in self.scalers], dim=0)
        return d


def resolve_windows(windows: list[Any] | None, channels: int) -> list[tuple[float, float]]:
    """Window names / ``[width, level]`` pairs -> ``(width, level)`` list, one per encoder channel."""
    if windows is None:
        names = list(HU_WINDOWS)
        if channels > len(names):
            raise ConfigError(None, f"data.transforms.ct.windows: the CT encoder wants {channels} channels; "
                                    "name that many windows")
        windows = names[:channels]
    out = []
    for w in windows:
        if isinstance(w, str):
            if w not in HU_WINDOWS:
                raise ConfigError(None, f"data.transforms.ct.windows: unknown window '{w}'; valid: "
                                        f"{', '.join(HU_WINDOWS)} or [width, level]")
            out.append(HU_WINDOWS[w])
        elif isinstance(w, (list, tuple)) and len(w) == 2 and float(w[0]) > 0:
            out.append((float(w[0]), float(w[1])))
        else:
            raise ConfigError(None, f"data.transforms.ct.windows: {w!r} is not a name or [width, level]")
    if len(out) != channels:
        raise ConfigError(None, f"data.transforms.ct.windows: {len(out)} window(s) but the CT encoder wants "
                                f"{channels} channel(s)")
    return out


class ImagePipeline:
    """The transforms of one modality slot.

    Args:
        modality: ``xray``, ``ct`` or ``video``.
        input_spec: the encoder's ``{"spatial_size", "channels", "mean", "std"}`` (a video encoder's
            ``spatial_size`` is ``(T, H, W)``: ``T`` frames are loaded).
        cfg: the transform config.
        train: add the random augmentation after the deterministic part.

    Attributes:
        config_hash: hash of everything that decides the deterministic output (cache key part).
    """

    def __init__(self, modality: str, input_spec: dict[str, Any], cfg: TransformConfig | None = None, *,
                 train: bool = False):
        if modality not in _STEPS:
            raise ConfigError(None, f"unknown modality '{modality}'; valid: {', '.join(sorted(_STEPS))}")
        self.modality = modality
        self.cfg = cfg or TransformConfig()
        self.spec = {"spatial_size": tuple(int(s) for s in input_spec["spatial_size"]),
                     "channels": int(input_spec["channels"]), "mean": input_spec.get("mean"),
                     "std": input_spec.get("std")}
        sub = getattr(self.cfg, modality)
        self.config_hash = config_hash({"v": PIPELINE_VERSION, "modality": modality, "spec": self.spec,
                                        "cfg": to_plain(sub)})
        self.preprocess_transform = Compose(_STEPS[modality](self.spec, sub))
        aug = self.cfg.augment
        self.augment_transform = Compose(_augment_steps(self.spec["spatial_size"][-2:], aug)) \
            if train and aug.enabled and aug.prob > 0 else None

    def preprocess(self, source: Any) -> torch.Tensor:
        """Deterministic output for a path (or ``{"path", "series", ...}``): a plain float32 tensor."""
        try:
            out = self.preprocess_transform({KEY: source})[KEY]
        except RuntimeError as e:
            raise _own_error(e) from None
        return _plain(out)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Training augmentation of a preprocessed tensor (identity when ``train`` is False)."""
        if self.augment_transform is None:
            return x
        flat = x.reshape(-1, *x.shape[-2:])  # (V, C, H, W) AnyRes, (C, D, H, W) CT or (C, T, H, W) clip -> (N, H, W)
        with _untracked():
            out = _plain(self.augment_transform({KEY: flat})[KEY])
        return out.reshape(x.shape)

    def __call__(self, source: Any) -> torch.Tensor:
        return self.augment(self.preprocess(source))


@contextlib.contextmanager
def _untracked() -> Iterator[None]:
    """MONAI without metadata tracking (augmentation needs none; about 1.6x faster). The switch is
    process-wide: augmentation runs in the DataLoader's process, never beside a preprocessing thread."""
    prev = get_track_meta()
    set_track_meta(False)
    try:
        yield
    finally:
        set_track_meta(prev)


def _plain(x: Any) -> torch.Tensor:
    """A plain contiguous float32 tensor (MONAI's MetaTensor and its metadata dropped)."""
    if isinstance(x, MetaTensor):
        x = x.as_tensor()
    return torch.as_tensor(x).float().contiguous()


def _own_error(e: BaseException) -> BaseException:
    """MONAI wraps errors raised inside transforms in RuntimeError: give back medmllm's own error."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, MedmllmError):
            return cause
        cause = cause.__cause__
    return e


def _normalise(spec: dict[str, Any]) -> list[Callable]:
    if spec["mean"] is None or spec["std"] is None:
        return []
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return [NormalizeIntensityd(KEY, subtrahend=mean, divisor=std, channel_wise=mean.size > 1)]


def _xray_steps(spec: dict[str, Any], cfg: Any) -> list[Callable]:
    size = spec["spatial_size"]
    if len(size) != 2:
        raise ConfigError(None, f"the xray encoder's spatial_size must be (H, W), got {size}")
    if cfg.mode not in ("resize_pad", "anyres"):
        raise ConfigError(None, f"data.transforms.xray.mode: '{cfg.mode}' is not resize_pad or anyres")
    steps: list[Callable] = [LoadMedicalImaged(KEY, "xray"), Channelsd(KEY, spec["channels"])]
    if cfg.mode == "anyres":
        steps.append(AnyResd(KEY, size, max_tiles=cfg.max_tiles, mode=cfg.interpolation))
    else:
        steps += [ResizeKeepAspectd(KEY, size, mode=cfg.interpolation), ResizeWithPadOrCropd(KEY, size)]
    return steps + _normalise(spec)


def _ct_steps(spec: dict[str, Any], cfg: Any) -> list[Callable]:
    size = spec["spatial_size"]
    if len(size) != 3:
        raise ConfigError(None, f"the ct encoder's spatial_size must be (D, H, W), got {size}")
    if cfg.fit not in ("crop_pad", "resize"):
        raise ConfigError(None, f"data.transforms.ct.fit: '{cfg.fit}' is not crop_pad or resize")
    windows = resolve_windows(cfg.windows, spec["channels"])
    steps: list[Callable] = [LoadMedicalImaged(KEY, "ct", min_slices=cfg.min_slices)]
    if cfg.spacing is not None:
        steps.append(ResampleToSpacingd(KEY, pixdim=cfg.spacing))
    if cfg.fit == "crop_pad":
        steps.append(ResizeWithPadOrCropd(KEY, size, mode="constant", value=AIR_HU))
    else:
        steps.append(Resized(KEY, size, mode="trilinear"))
    return steps + [HUWindowsd(KEY, windows)] + _normalise(spec)


def _video_steps(spec: dict[str, Any], cfg: Any) -> list[Callable]:
    size = spec["spatial_size"]
    if len(size) != 3:
        raise ConfigError(None, f"the video encoder's spatial_size must be (T, H, W), got {size}")
    frames, hw = size[0], size[1:]
    return [LoadVideod(KEY, frames, cfg.sampling, cfg.fps), Channelsd(KEY, spec["channels"]),
            ResizeKeepAspectd(KEY, hw, mode=cfg.interpolation), ResizeWithPadOrCropd(KEY, (frames, *hw))] \
        + _normalise(spec)


_STEPS: dict[str, Callable[[dict[str, Any], Any], list[Callable]]] = {
    "xray": _xray_steps, "ct": _ct_steps, "video": _video_steps}


def _augment_steps(size: tuple[int, ...], aug: Any) -> list[Callable]:
    """In-plane augmentation of ``(N, H, W)``: the N planes (views, channels, CT slices) move together."""
    rot = float(np.deg2rad(aug.rotate_deg))
    shift = [aug.translate * s for s in size]  # pixels
    return [
        RandAffined(KEY, prob=aug.prob, rotate_range=(rot,), scale_range=(aug.scale,) * 2,
                    translate_range=shift, padding_mode="border", mode="bilinear"),
        RandScaleIntensityd(KEY, factors=aug.intensity, prob=aug.prob),
        RandAdjustContrastd(KEY, prob=aug.prob, gamma=tuple(aug.gamma), retain_stats=True),
    ]


def build_pipelines(input_specs: dict[str, dict[str, Any]], cfg: TransformConfig | None = None, *,
                    train: bool = False) -> dict[str, ImagePipeline]:
    """One :class:`ImagePipeline` per modality in ``input_specs`` (e.g. from ``model.input_spec(m)``)."""
    return {m: ImagePipeline(m, spec, cfg, train=train) for m, spec in input_specs.items()}


__all__ = ["HU_WINDOWS", "ImagePipeline", "LoadMedicalImaged", "LoadVideod", "HUWindowsd", "Channelsd",
           "build_pipelines", "resolve_windows"]
