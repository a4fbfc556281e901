"""Configs: YAML in, dotted overrides, strict dataclasses, resolved YAML out.

Generic helpers live here; the dataclasses of each part (model, data, training) are defined
below them. ``load_config(path, overrides)`` returns a plain nested dict; ``from_dict`` turns a
dict into a dataclass and rejects unknown keys with the dotted path of the key.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import typing
from pathlib import Path
from typing import Any, Iterable

from medmllm.errors import ConfigError


def _yaml():
    import yaml

    return yaml


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; errors name the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(p, "config file not found")
    try:
        data = _yaml().safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(p, "not a text file") from None
    except Exception as e:  # yaml.YAMLError
        msg = str(e).replace("\n", " ")
        raise ConfigError(p, f"invalid YAML: {msg}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(p, f"expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_value(text: str) -> Any:
    """Parse an override value as YAML (``3``, ``1e-3``, ``true``, ``[1, 2]``, ``null``, strings).

    YAML 1.1 reads ``1e-3`` (no dot) as a string; such scientific numbers are made floats here.
    """
    try:
        value = _yaml().safe_load(text)
    except Exception:
        return text
    if isinstance(value, str) and _SCI.fullmatch(value.strip()):
        return float(value)
    return value


_SCI = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def set_dotted(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set ``cfg['a']['b']['c'] = value`` for ``key='a.b.c'``, creating mappings as needed.

    A numeric part indexes a list (``pipeline.1.max_steps``).
    """
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(None, f"override '{key}': '{'.'.join(parts[:i + 1])}' is not a valid list index")
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(None, f"override '{key}': '{'.'.join(parts[:i])}' is not a mapping")
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(None, f"override '{key}': '{last}' is not a valid list index")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(None, f"override '{key}': parent is not a mapping")


def get_dotted(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """``['--a.b=1', 'c.d=x']`` -> ``[('a.b', 1), ('c.d', 'x')]``."""
    out = []
    for item in items:
        s = item[2:] if item.startswith("--") else item
        if "=" not in s:
            raise ConfigError(None, f"override '{item}': expected --key.path=value")
        k, v = s.split("=", 1)
        if not k:
            raise ConfigError(None, f"override '{item}': empty key")
        out.append((k, parse_value(v)))
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge; ``extra`` wins; neither input is modified."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read a YAML config, follow ``base: other.yaml`` (relative to the file), apply overrides."""
    p = Path(path)
    cfg = read_yaml(p)
    base = cfg.pop("base", None)
    if base is not None:
        parent = load_config(p.parent / base)
        cfg = deep_merge(parent, cfg)
    for k, v in parse_overrides(overrides):
        set_dotted(cfg, k, v)
    return cfg


def dump_yaml(cfg: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a resolved config atomically."""
    from medmllm.files import atomic_write_text

    atomic_write_text(path, _yaml().safe_dump(to_plain(cfg), sort_keys=False, allow_unicode=True))


def to_plain(obj: Any) -> Any:
    """Dataclasses, tuples and paths -> plain YAML/JSON-able values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(cfg: Any) -> str:
    """Stable short hash of a config (key order does not matter)."""
    blob = json.dumps(to_plain(cfg), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise with their dotted path.

    Nested dataclass fields (also ``dict[str, Dataclass]`` and ``list[Dataclass]``) are converted.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(None, f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        pre = f"{where}." if where else ""
        raise ConfigError(None, f"unknown config key(s) {', '.join(pre + u for u in unknown)}; "
                          f"valid: {', '.join(sorted(names))}")
    kwargs = {}
    for k, v in data.items():
        kwargs[k] = _convert(hints[k], v, f"{where}.{k}" if where else k)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(None, f"{where or cls.__name__}: {e}") from None


def _convert(tp: Any, v: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if v is None:
        return None
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, v, where)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        for a in args:
            if a is type(None):
                continue
            if dataclasses.is_dataclass(a) and isinstance(v, dict):
                return from_dict(a, v, where)
        return v
    if origin is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
        if not isinstance(v, dict):
            raise ConfigError(None, f"{where}: expected a mapping")
        return {k: from_dict(args[1], x, f"{where}.{k}") for k, x in v.items()}
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(v, list):
            raise ConfigError(None, f"{where}: expected a list")
        return [from_dict(args[0], x, f"{where}.{i}") for i, x in enumerate(v)]
    return v


# ----------------------------------------------------------------------------------------------
# Dataclasses of the parts are added below by their owners (model, data, training).


# --- model (owner: model engineer) ------------------------------------------------------------


@dataclasses.dataclass
class ModalityConfig:
    """One modality slot: ``encoder: {name, ...kwargs, init_from}``, ``connector: {name, ...kwargs}``."""

    encoder: dict[str, Any]
    connector: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "mlp2x_gelu"})

    def __post_init__(self) -> None:
        for part in ("encoder", "connector"):
            spec = getattr(self, part)
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ConfigError(None, f"model.modalities.*.{part}: expected a mapping with a 'name'")


@dataclasses.dataclass
class ModelConfig:
    """The composite model: modality slots, the LLM (``{name, ...kwargs, lora}``), whole-model
    ``init_from`` (an export folder) and the token budget of a sample."""

    modalities: dict[str, ModalityConfig] = dataclasses.field(default_factory=dict)
    llm: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "tiny"})
    init_from: str | None = None
    max_length: int = 2048
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.llm, dict) or not isinstance(self.llm.get("name"), str):
            raise ConfigError(None, "model.llm: expected a mapping with a 'name'")
        for m in self.modalities:
            if m not in ("xray", "ct"):
                raise ConfigError(None, f"model.modalities.{m}: unknown modality slot; valid: ct, xray")


# --- training (owner: training engineer; used by medmllm.training) ----------------------------


@dataclasses.dataclass
class OptimConfig:
    """``train.optim``: optimiser, per-part learning rates, schedule, clipping, accumulation.

    ``lr_encoders`` / ``lr_connectors`` / ``lr_llm`` default to ``lr``. Unset keys take the stage's
    defaults (``align`` uses lr 1e-3, ``instruct`` 2e-4, ``clinical`` 1e-4).
    """

    name: str = "adamw"
    lr: float = 1e-4
    lr_encoders: float | None = None
    lr_connectors: float | None = None
    lr_llm: float | None = None
    weight_decay: float = 0.0
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    accumulate: int = 1

    def __post_init__(self) -> None:
        # YAML reads "1e-4" (no dot) as a string: accept it for every number here.
        for f in ("lr", "lr_encoders", "lr_connectors", "lr_llm", "weight_decay", "eps", "momentum",
                  "warmup_ratio", "min_lr_ratio", "grad_clip"):
            v = getattr(self, f)
            if isinstance(v, str):
                try:
                    setattr(self, f, float(v))
                except ValueError:
                    raise ConfigError(None, f"train.optim.{f}: expected a number, got '{v}'") from None
        self.betas = [float(b) for b in self.betas]


@dataclasses.dataclass
class TrainableConfig:
    """``train.trainable``: override the stage's freeze policy (null keeps the stage default)."""

    encoders: Any = None
    connectors: Any = None
    llm: Any = None


@dataclasses.dataclass
class CheckpointConfig:
    """``train.checkpoint``: best (on ``monitor``), last, and every ``every_n_steps`` steps.

    ``trainable_only`` stores only the trained weights in ``.ckpt`` files (the frozen ones are
    rebuilt from the config on resume and checked against a fingerprint). ``export``: which weights
    the stage exports, ``last`` or ``best``.
    """

    monitor: str = "val/loss"
    mode: str = "min"
    save_top_k: int = 1
    save_last: bool = True
    every_n_steps: int | None = None
    trainable_only: bool = True
    export: str = "last"


@dataclasses.dataclass
class StrategyConfig:
    """``train.strategy``: ``auto``, ``ddp``, ``fsdp``, ``deepspeed_stage_2``, ``deepspeed_stage_3``.

    FSDP wraps each LLM decoder layer and each encoder block (``auto_wrap``); DeepSpeed takes extra
    keys of its JSON config in ``deepspeed``.
    """

    name: str = "auto"
    sharding_strategy: str = "FULL_SHARD"
    auto_wrap: bool = True
    activation_checkpointing: bool = False
    cpu_offload: bool = False
    state_dict_type: str = "full"
    find_unused_parameters: bool = False
    process_group_backend: str | None = None
    deepspeed: dict[str, Any] | None = None


@dataclasses.dataclass
class TrainEvalConfig:
    """``train.eval``: generated sample reports and clinical macro-F1 at each validation."""

    num_samples: int = 2
    clinical_subset: int = 16
    max_new_tokens: int = 128
    batch_size: int = 8


@dataclasses.dataclass
class FeatureCacheConfig:
    """``train.feature_cache``: reuse the outputs of frozen, non-augmented encoders."""

    enabled: bool = True
    max_gb: float = 4.0
    dtype: str | None = None


@dataclasses.dataclass
class TrainConfig:
    """``train``: one stage (``pipeline`` entries override it per stage).

    Steps are optimiser steps. ``val_every_n_steps`` null validates once per epoch.
    ``precision`` is Lightning's (``bf16-mixed`` on CPU and recent GPUs, ``32-true`` for exact
    reproducibility). ``run_dir`` null puts runs in ``output_dir/<config name>-<time>``.
    """

    stage: str = "instruct"
    seed: int = 0
    max_steps: int = 100
    max_epochs: int = -1
    val_every_n_steps: int | None = 50
    limit_val_batches: float = 1.0
    log_every_n_steps: int = 10
    precision: str = "bf16-mixed"
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    deterministic: bool = False
    gradient_checkpointing: bool = False
    output_dir: str = "runs"
    run_dir: str | None = None
    export: bool = True
    trainable: TrainableConfig = dataclasses.field(default_factory=TrainableConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    eval: TrainEvalConfig = dataclasses.field(default_factory=TrainEvalConfig)
    feature_cache: FeatureCacheConfig = dataclasses.field(default_factory=FeatureCacheConfig)
    # settings of the ``encoder`` pretraining stage (EncoderPretrainConfig, defined at the end of this file)
    pretrain: EncoderPretrainConfig = dataclasses.field(default_factory=lambda: EncoderPretrainConfig())


# --- data (owner: data-pipeline engineer; used by medmllm.data) --------------------------------


@dataclasses.dataclass
class XrayTransformConfig:
    """``data.transforms.xray``: how 2D images (X-rays and photos) are sized for the encoder.

    ``mode``: ``resize_pad`` (keep the aspect ratio, pad to the encoder's size) or ``anyres`` (a
    global view plus the tiles of the grid, with at most ``max_tiles`` tiles, that best fits the
    image's aspect ratio; each view has the encoder's size). ``interpolation`` is MONAI's resize mode.
    """

    mode: str = "resize_pad"
    max_tiles: int = 4
    interpolation: str = "area"


@dataclasses.dataclass
class CTTransformConfig:
    """``data.transforms.ct``: resampling, HU windows and fitting to the encoder's shape.

    ``spacing``: target ``(d, h, w)`` mm (null keeps the scan's spacing). ``windows``: names
    (``lung`` W1500/L-600, ``mediastinum`` W400/L40, ``bone`` W2000/L300) or ``[width, level]``
    pairs, one per encoder channel (null: the first C of lung, mediastinum, bone). ``fit``:
    ``crop_pad`` (centre crop / pad with air) or ``resize``. Scans with fewer than ``min_slices``
    slices are rejected.
    """

    spacing: list[float] | None = dataclasses.field(default_factory=lambda: [2.0, 1.5, 1.5])
    windows: list[Any] | None = None
    fit: str = "crop_pad"
    min_slices: int = 1


@dataclasses.dataclass
class AugmentConfig:
    """``data.transforms.augment``: light training-only augmentation (evaluation is deterministic).

    Each of affine (rotation up to ``rotate_deg``, scale ``1 +- scale``, shift ``+- translate`` of
    the size) and intensity (scale ``1 +- intensity``, gamma in ``gamma``) is applied with
    probability ``prob``. The affine is in-plane: a CT gets the same rotation, scale and shift on every
    axial slice. No flips: left and right are findings.
    """

    enabled: bool = True
    prob: float = 0.5
    rotate_deg: float = 5.0
    scale: float = 0.05
    translate: float = 0.03
    intensity: float = 0.1
    gamma: list[float] = dataclasses.field(default_factory=lambda: [0.8, 1.25])


@dataclasses.dataclass
class TransformConfig:
    """``data.transforms``: per-modality preprocessing (sizes and normalisation come from the encoder)."""

    xray: XrayTransformConfig = dataclasses.field(default_factory=XrayTransformConfig)
    ct: CTTransformConfig = dataclasses.field(default_factory=CTTransformConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)


@dataclasses.dataclass
class SyntheticSourceConfig:
    """``synthetic:`` in a data source: cases made by ``medmllm.data.synthetic`` instead of a manifest.

    ``cases`` cases of data-set seed ``seed`` are generated once (``workers`` processes) into
    ``cache_dir/<settings hash>`` (default ``$MEDMLLM_CACHE/synthetic``, else
    ``~/.cache/medmllm/synthetic``) and reused by every later run with the same settings. Train,
    validation and test sets must use different seeds (a case is a function of ``(seed, index)``).
    The other keys are :class:`medmllm.data.synthetic.SynthConfig`'s (null: the generator's default),
    except ``nifti_share``, which defaults to 1.0 here (one NIfTI file per CT: about 3x faster to
    write and 7x faster to read than a 32-file DICOM series).
    """

    cases: int
    seed: int = 0
    cache_dir: str | None = None
    workers: int | None = None
    xray_size: list[int] | None = None
    ct_shape: list[int] | None = None
    xray_depth: int | None = None
    langs: list[str] | None = None
    prevalence: str | None = None
    max_findings: int | None = None
    tasks: list[str] | None = None
    vqa_per_case: int | None = None
    png_share: float | None = None
    mono1_share: float | None = None
    nifti_share: float | None = 1.0
    render_xray: bool | None = None
    render_ct: bool | None = None
    noise: bool | None = None


@dataclasses.dataclass
class DataSourceConfig:
    """One entry of ``data.train`` / ``data.val``.

    ``path``: a JSONL manifest, or a folder / object-store URL (``s3://...``) of litdata chunks
    written by ``medmllm prepare --optimize``. ``weight``: relative sampling weight when several
    training sources are mixed. ``tasks``: keep only these tasks; ``variants``: only records whose
    ``meta.variant`` is listed (manifest sources; e.g. synthetic ``report-both``). ``split``: records of this split
    (default ``train`` for training sources, ``val`` for validation sources; ``any`` keeps all).
    ``storage_options``: object-store client options for chunk URLs (e.g. ``endpoint_url``).
    ``synthetic``: instead of ``path``, generator settings (:class:`SyntheticSourceConfig`): the
    cases are written once into a cache folder and then read like any manifest; all of them are in
    the source's ``split`` (train for ``data.train``, val for ``data.val``).
    """

    path: str | None = None
    weight: float = 1.0
    tasks: list[str] | None = None
    variants: list[str] | None = None
    split: str | None = None
    storage_options: dict[str, Any] | None = None
    synthetic: SyntheticSourceConfig | None = None

    def __post_init__(self) -> None:
        if self.path is None and self.synthetic is None:
            raise ConfigError(None, "data source: give 'path' (a manifest or chunk folder) or 'synthetic' "
                                    "(generator settings)")
        if self.path is not None and self.synthetic is not None:
            raise ConfigError(None, f"data source {self.path}: give 'path' or 'synthetic', not both")


@dataclasses.dataclass
class DataConfig:
    """``data``: sources, batching, workers, caching and transforms.

    ``samples_per_epoch``: draws per epoch from the weighted mixture (default: the total size).
    ``group_by_length``: batch samples of similar token length together (less padding).
    ``cache_dir``: on-disk cache of preprocessed tensors (null: no cache). ``memory_cache_gb``:
    preprocessed tensors also kept in memory, at most this much in all (split between DataLoader
    workers; 0: off). ``answer_as_target``: records without an assistant turn but with an
    ``answer`` (benchmark-style) are trained on it.
    """

    train: list[DataSourceConfig] = dataclasses.field(default_factory=list)
    val: list[DataSourceConfig] = dataclasses.field(default_factory=list)
    tasks: list[str] | None = None
    variants: list[str] | None = None
    batch_size: int = 4
    eval_batch_size: int | None = None
    num_workers: int = 2
    group_by_length: bool = False
    samples_per_epoch: int | None = None
    cache_dir: str | None = None
    memory_cache_gb: float = 2.0
    answer_as_target: bool = True
    seed: int = 0
    transforms: TransformConfig = dataclasses.field(default_factory=TransformConfig)


# --- encoder pretraining (owner: encoder-pretraining engineer; used by medmllm.training.encoder_stage)


@dataclasses.dataclass
class EncoderPretrainConfig:
    """``train.pretrain``: the objective of the ``encoder`` stage (ignored by the other stages).

    ``text``: the report encoder, ``{name: small, width, layers, heads}`` (a small transformer over
    the LLM tokenizer, trained with the images), ``{name: llm_embeddings, width}`` (the LLM's frozen
    input embeddings, mean-pooled, then a trained MLP) or ``{name: hf, path, trainable}`` (any
    Hugging Face text encoder from a folder). ``labels``: finding keys of the multi-label head (null:
    every key of ``medmllm.findings.FINDING_KEYS``). ``label_weight`` / ``contrastive_weight``: weights
    of the BCE and InfoNCE terms (0 turns one off). ``label_aware``: cases with the same findings count
    as matches in the contrastive targets. ``temperature``: initial (learned) temperature.
    ``dedupe``: one training sample per distinct (images, report) pair of a manifest (the report
    variants of a synthetic case share both). ``gather``: all-gather embeddings across processes, so
    every GPU contrasts against the whole global batch.
    """

    text: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "small"})
    embed_dim: int = 128
    labels: list[str] | None = None
    label_weight: float = 1.0
    contrastive_weight: float = 1.0
    label_aware: bool = True
    temperature: float = 0.07
    max_text_length: int = 192
    dedupe: bool = True
    gather: bool = True
