"""Configs: YAML in, dotted overrides, strict dataclasses, resolved YAML out.

Generic helpers live here; the dataclasses of each part (model, data, training) are defined
below them. ``load_config(path, overrides)`` returns a plain nested dict; ``from_dict`` turns a
dict into a dataclass and rejects unknown keys with the dotted path of the key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

from annotated_types import Ge, Gt, Le

from medmllm.errors import ConfigError

# Value types of config fields: pydantic checks them when a config is loaded (``from_dict``).
PosInt = Annotated[int, Ge(1)]
NonNegInt = Annotated[int, Ge(0)]
PosFloat = Annotated[float, Gt(0)]
NonNegFloat = Annotated[float, Ge(0)]
Fraction = Annotated[float, Ge(0), Le(1)]
Precision = Literal["auto", "32-true", "32", "bf16-mixed", "bf16-true", "bf16", "16-mixed", "16-true", "16",
                    "64-true", "64", "transformer-engine"]
# Every config dataclass refuses keys it does not declare.
STRICT = {"extra": "forbid"}


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


def split_overrides(args: Iterable[str]) -> tuple[list[str], list[str]]:
    """Separate dotted overrides from other command-line words.

    ``--a.b=1``, ``--a.b 1`` and ``--key=value`` are overrides (returned as ``--a.b=1``); anything
    else is returned in the second list, in order, for the caller to refuse.
    """
    words = list(args)
    dotted, rest = [], []
    i = 0
    while i < len(words):
        a = words[i]
        key = a[2:].split("=", 1)[0] if a.startswith("--") else ""
        if key and not key.startswith(".") and ("." in key or "=" in a):
            if "=" in a:
                dotted.append(a)
            elif i + 1 < len(words) and not words[i + 1].startswith("--"):
                dotted.append(f"{a}={words[i + 1]}")
                i += 1
            else:
                rest.append(a)
        else:
            rest.append(a)
        i += 1
    return dotted, rest


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
    """Build dataclass ``cls`` from ``data``, every value checked against its declared type.

    Validation is pydantic's (lax mode: ``"3"`` is read as 3 for an int, ``"1e-3"`` as a float);
    unknown keys, wrong types, values outside a ``Literal`` or a bound raise one
    :class:`ConfigError` line with the dotted key, the value and what is allowed. Nested
    dataclasses (also in ``dict[str, X]`` / ``list[X]``) are built too.
    """
    from pydantic import ValidationError

    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(None, f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as e:
        raise ConfigError(None, describe_validation_error(e, cls, where)) from None


@functools.lru_cache(maxsize=None)
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def _strip(tp: Any) -> Any:
    """``tp`` without ``Annotated`` metadata and without ``None`` in an optional."""
    while True:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Annotated:
            tp = args[0]
        elif (origin is typing.Union or str(origin) == "<class 'types.UnionType'>") and \
                len([a for a in args if a is not type(None)]) == 1:
            tp = next(a for a in args if a is not type(None))
        else:
            return tp


def _field_at(cls: Any, loc: tuple[Any, ...]) -> Any:
    """The declared type (``Annotated`` kept) reached from dataclass ``cls`` by ``loc``; None if unknown."""
    tp: Any = cls
    for part in loc:
        base = _strip(tp)
        if dataclasses.is_dataclass(base) and isinstance(part, str):
            hints = typing.get_type_hints(base, include_extras=True)
            if part not in hints:
                return None
            tp = hints[part]
        elif typing.get_origin(base) is list and typing.get_args(base):
            tp = typing.get_args(base)[0]
        elif typing.get_origin(base) is dict and len(typing.get_args(base)) == 2:
            tp = typing.get_args(base)[1]
        else:
            return None
    return tp


def describe_type(tp: Any) -> str:
    """What a field takes, in words: ``a whole number >= 1``, ``one of min, max``, ``a number or null``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        bounds = [f"{sym} {getattr(m, attr)}" for m in args[1:]
                  for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<=")) if getattr(m, attr, None) is not None]
        return describe_type(args[0]) + (" " + " and ".join(bounds) if bounds else "")
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " or ".join(describe_type(a) for a in args)
    if origin is list:
        return f"a list ({describe_type(args[0])} each)" if args else "a list"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "null"}
    return names.get(tp, "any value" if tp is Any else getattr(tp, "__name__", str(tp)))


def describe_validation_error(e: Any, cls: type, where: str = "") -> str:
    """One line for the first problem of a pydantic ``ValidationError``: key, what is allowed, the value."""
    err = e.errors(include_url=False)[0]
    # drop pydantic's own location parts (union branches such as ``int`` or ``list[...]``, validators)
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and (
        x.startswith("function-") or "[" in x or x in ("int", "float", "str", "bool", "dict", "list", "none"))))
    key = ".".join(([where] if where else []) + [str(x) for x in loc])
    value = err.get("input")
    if err["type"] == "unexpected_keyword_argument":
        parent = _strip(_field_at(cls, loc[:-1]))
        valid = ", ".join(f.name for f in dataclasses.fields(parent)) if dataclasses.is_dataclass(parent) else ""
        return f"unknown config key {key}" + (f"; valid: {valid}" if valid else "")
    if err["type"] in ("missing_argument", "missing"):
        parent = ".".join(([where] if where else []) + [str(x) for x in loc[:-1]]) or cls.__name__
        return f"{parent}: missing required key '{loc[-1]}'"
    tp = _field_at(cls, loc)
    allowed = describe_type(tp) if tp is not None else err["msg"][0].lower() + err["msg"][1:]
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{key}: expected {allowed}, got {shown}"






@dataclasses.dataclass
class ModalityConfig:
    """One modality slot: ``encoder: {name, ...kwargs, init_from}``, ``connector: {name, ...kwargs}``."""

    __pydantic_config__ = STRICT

    encoder: dict[str, Any]
    connector: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "mlp2x_gelu"})

    def __post_init__(self) -> None:
        for part in ("encoder", "connector"):
            spec = getattr(self, part)
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ConfigError(None, f"model.modalities.*.{part}: expected a mapping with a 'name'")


@dataclasses.dataclass
class LoraSpec:
    """``model.llm.lora``: a PEFT LoRA adapter on the LLM (``alpha`` defaults to ``2 * r``)."""

    __pydantic_config__ = STRICT

    r: PosInt = 16
    alpha: PosFloat | None = None
    dropout: Annotated[float, Ge(0), Le(1)] = 0.0
    target_modules: str | list[str] = "all-linear"
    modules_to_save: list[str] | None = None


@dataclasses.dataclass
class FindingsPromptConfig:
    """``model.findings_prompt``: findings-guided prompting (the image encoders' multi-label heads
    write the findings they see into the user turn, see :mod:`medmllm.models.findings_prompt`).

    ``heads``: an ``encoder``-stage export whose pretraining heads are used (null: the previous
    ``encoder`` stage of the pipeline, else the heads stored in the ``init_from`` export). Each
    image's head gives a probability per finding key; the probabilities of the images a request
    shows are merged (``combine``: mean or max) and the findings at or above ``threshold`` (at most
    ``max_findings``, most probable first) are written by ``template`` (per language; ``{findings}``
    is the list, ``normal``'s name when none passes) after the image placeholders. ``calibrate``: a
    threshold per finding instead, the one that maximises F1 on the training records' labels
    (computed before the first stage that trains with the prompt, stored with the heads in its
    export). ``probabilities``: each finding with its probability. ``visual_tokens``: false leaves
    the images out of the LLM's input (the hint alone; the heads still read the images).
    """

    __pydantic_config__ = STRICT

    heads: str | None = None
    threshold: Annotated[float, Gt(0), Le(1)] = 0.5
    calibrate: bool = False
    probabilities: bool = False
    visual_tokens: bool = True
    combine: Literal["mean", "max"] = "mean"
    max_findings: PosInt = 8
    template: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "en": "Findings detected by the image classifier: {findings}.",
        "zh": "图像分类器检出：{findings}。"})

    def __post_init__(self) -> None:
        for lang, text in self.template.items():
            if "{findings}" not in text:
                raise ConfigError(None, f"model.findings_prompt.template.{lang}: must contain {{findings}}")


@dataclasses.dataclass
class ModelConfig:
    """The composite model: modality slots, the LLM (``{name, ...kwargs, lora}``), whole-model
    ``init_from`` (an export folder), the token budget of a sample and the optional findings-guided
    prompt (``findings_prompt``, :class:`FindingsPromptConfig`)."""

    __pydantic_config__ = STRICT

    modalities: dict[str, ModalityConfig] = dataclasses.field(default_factory=dict)
    llm: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "tiny"})
    init_from: str | None = None
    max_length: PosInt = 2048
    system_prompt: str | None = None
    findings_prompt: FindingsPromptConfig | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.llm, dict) or not isinstance(self.llm.get("name"), str):
            raise ConfigError(None, "model.llm: expected a mapping with a 'name'")
        if self.llm.get("lora"):
            self.llm["lora"] = to_plain(from_dict(LoraSpec, self.llm["lora"], "model.llm.lora"))
        for m in self.modalities:
            if m not in ("xray", "ct", "video"):
                raise ConfigError(None, f"model.modalities.{m}: unknown modality slot; valid: ct, video, xray")




@dataclasses.dataclass
class OptimConfig:
    """``train.optim``: optimiser, per-part learning rates, schedule, clipping, accumulation.

    ``lr_encoders`` / ``lr_connectors`` / ``lr_llm`` default to ``lr``. Unset keys take the stage's
    defaults (``align`` uses lr 1e-3, ``report`` and ``instruct`` 2e-4, ``clinical`` 1e-4).
    """

    __pydantic_config__ = STRICT

    name: Literal["adamw", "sgd"] = "adamw"
    lr: PosFloat = 1e-4
    lr_encoders: PosFloat | None = None
    lr_connectors: PosFloat | None = None
    lr_llm: PosFloat | None = None
    weight_decay: NonNegFloat = 0.0
    betas: list[Fraction] = dataclasses.field(default_factory=lambda: [0.9, 0.999])
    eps: PosFloat = 1e-8
    momentum: Fraction = 0.9
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: NonNegInt = 0
    warmup_ratio: Fraction = 0.0
    min_lr_ratio: Fraction = 0.0
    grad_clip: PosFloat | None = 1.0
    accumulate: PosInt = 1


@dataclasses.dataclass
class TrainableConfig:
    """``train.trainable``: override the stage's freeze policy (null keeps the stage default)."""

    __pydantic_config__ = STRICT

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

    __pydantic_config__ = STRICT

    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    save_top_k: Annotated[int, Ge(-1)] = 1
    save_last: bool = True
    every_n_steps: PosInt | None = None
    trainable_only: bool = True
    export: Literal["last", "best"] = "last"


@dataclasses.dataclass
class StrategyConfig:
    """``train.strategy``: ``auto``, ``ddp``, ``fsdp``, ``deepspeed_stage_2``, ``deepspeed_stage_3``.

    FSDP wraps each LLM decoder layer and each encoder block (``auto_wrap``); DeepSpeed takes extra
    keys of its JSON config in ``deepspeed``.
    """

    __pydantic_config__ = STRICT

    name: Literal["auto", "single", "ddp", "fsdp", "deepspeed_stage_2", "deepspeed_stage_3"] = "auto"
    sharding_strategy: Literal["FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD"] = "FULL_SHARD"
    auto_wrap: bool = True
    activation_checkpointing: bool = False
    cpu_offload: bool = False
    state_dict_type: Literal["full", "sharded"] = "full"
    find_unused_parameters: bool = False
    process_group_backend: str | None = None
    deepspeed: dict[str, Any] | None = None


@dataclasses.dataclass
class TrainEvalConfig:
    """``train.eval``: generated sample reports and clinical macro-F1 at each validation."""

    __pydantic_config__ = STRICT

    num_samples: NonNegInt = 2
    clinical_subset: NonNegInt = 16
    max_new_tokens: PosInt = 128
    batch_size: PosInt = 8


@dataclasses.dataclass
class FeatureCacheConfig:
    """``train.feature_cache``: reuse the outputs of frozen, non-augmented encoders."""

    __pydantic_config__ = STRICT

    enabled: bool = True
    max_gb: NonNegFloat = 4.0
    dtype: Literal["float32", "bfloat16", "float16"] | None = None


@dataclasses.dataclass
class TrainConfig:
    """``train``: one stage (``pipeline`` entries override it per stage).

    Steps are optimiser steps. ``val_every_n_steps`` null validates once per epoch.
    ``precision`` is Lightning's (``bf16-mixed`` on CPU and recent GPUs, ``32-true`` for exact
    reproducibility). ``run_dir`` null puts runs in ``output_dir/<config name>-<time>``.
    """

    __pydantic_config__ = STRICT

    stage: str = "instruct"
    seed: NonNegInt = 0
    max_steps: Annotated[int, Ge(-1)] = 100
    max_epochs: Annotated[int, Ge(-1)] = -1
    val_every_n_steps: PosInt | None = 50
    limit_val_batches: NonNegFloat = 1.0
    log_every_n_steps: PosInt = 10
    precision: Precision = "auto"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"] = "auto"
    devices: Any = 1
    num_nodes: PosInt = 1
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




@dataclasses.dataclass
class XrayTransformConfig:
    """``data.transforms.xray``: how 2D images (X-rays and photos) are sized for the encoder.

    ``mode``: ``resize_pad`` (keep the aspect ratio, pad to the encoder's size) or ``anyres`` (a
    global view plus the tiles of the grid, with at most ``max_tiles`` tiles, that best fits the
    image's aspect ratio; each view has the encoder's size). ``interpolation`` is MONAI's resize mode.
    """

    __pydantic_config__ = STRICT

    mode: Literal["resize_pad", "anyres"] = "resize_pad"
    max_tiles: PosInt = 4
    interpolation: Literal["area", "bilinear", "bicubic", "nearest", "nearest-exact"] = "area"


@dataclasses.dataclass
class CTTransformConfig:
    """``data.transforms.ct``: resampling, HU windows and fitting to the encoder's shape.

    ``spacing``: target ``(d, h, w)`` mm (null keeps the scan's spacing). ``windows``: names
    (``lung`` W1500/L-600, ``mediastinum`` W400/L40, ``bone`` W2000/L300) or ``[width, level]``
    pairs, one per encoder channel (null: the first C of lung, mediastinum, bone). ``fit``:
    ``crop_pad`` (centre crop / pad with air) or ``resize``. Scans with fewer than ``min_slices``
    slices are rejected.
    """

    __pydantic_config__ = STRICT

    spacing: list[float] | None = dataclasses.field(default_factory=lambda: [2.0, 1.5, 1.5])
    windows: list[Any] | None = None
    fit: Literal["crop_pad", "resize"] = "crop_pad"
    min_slices: PosInt = 1


@dataclasses.dataclass
class VideoTransformConfig:
    """``data.transforms.video``: which frames of a clip the video encoder sees, and how they are sized.

    The encoder fixes the frame count ``N`` (its ``spatial_size[0]``). ``sampling``: ``uniform`` (the
    centres of ``N`` equal segments; one frame is the middle one) or ``fps`` (one frame every
    ``1 / fps`` seconds from the start, the same time scale for every clip: a longer clip is thinned
    to ``N`` frames, a shorter one padded with its last frame; clips without timing fall back to
    uniform). Frames are resized keeping their aspect ratio and padded (``interpolation`` as for X-rays).
    """

    __pydantic_config__ = STRICT

    sampling: Literal["uniform", "fps"] = "uniform"
    fps: PosFloat = 2.0
    interpolation: Literal["area", "bilinear", "bicubic", "nearest", "nearest-exact"] = "area"


@dataclasses.dataclass
class AugmentConfig:
    """``data.transforms.augment``: light training-only augmentation (evaluation is deterministic).

    Each of affine (rotation up to ``rotate_deg``, scale ``1 +- scale``, shift ``+- translate`` of
    the size) and intensity (scale ``1 +- intensity``, gamma in ``gamma``) is applied with
    probability ``prob``. The affine is in-plane: a CT gets the same rotation, scale and shift on every
    axial slice, a clip on every frame. No flips: left and right are findings.
    """

    __pydantic_config__ = STRICT

    enabled: bool = True
    prob: Fraction = 0.5
    rotate_deg: NonNegFloat = 5.0
    scale: Fraction = 0.05
    translate: Fraction = 0.03
    intensity: Fraction = 0.1
    gamma: list[float] = dataclasses.field(default_factory=lambda: [0.8, 1.25])


@dataclasses.dataclass
class TransformConfig:
    """``data.transforms``: per-modality preprocessing (sizes, frame counts and normalisation come from the
    encoder)."""

    __pydantic_config__ = STRICT

    xray: XrayTransformConfig = dataclasses.field(default_factory=XrayTransformConfig)
    ct: CTTransformConfig = dataclasses.field(default_factory=CTTransformConfig)
    video: VideoTransformConfig = dataclasses.field(default_factory=VideoTransformConfig)
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

    __pydantic_config__ = STRICT

    cases: PosInt
    seed: NonNegInt = 0
    cache_dir: str | None = None
    workers: PosInt | None = None
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

    __pydantic_config__ = STRICT

    path: str | None = None
    weight: PosFloat = 1.0
    tasks: list[str] | None = None
    variants: list[str] | None = None
    split: Literal["train", "val", "test", "any"] | None = None
    storage_options: dict[str, Any] | None = None
    synthetic: SyntheticSourceConfig | None = None

    def __post_init__(self) -> None:
        if self.path is None and self.synthetic is None:
            raise ConfigError(None, "data source: give 'path' (a manifest or chunk folder) or 'synthetic' "
                                    "(generator settings)")
        if self.path is not None and self.synthetic is not None:
            raise ConfigError(None, f"data source {self.path}: give 'path' or 'synthetic', not both")


@dataclasses.dataclass
class ReplayConfig:
    """``data.replay``: every ``data.train`` source once more, with these filters, as extra sources.

    For a stage that mixes tasks but must keep one of them strong, without restating the sources: e.g. the
    quickstart's clinical stage trains on every task and replays the image-only reports
    (``replay: {variants: [report-xray, report-ct, report-both]}``). ``tasks`` / ``variants``: the
    replayed sources' filters (null: the source's own); ``weight``: multiplies each source's weight.
    An override of ``data.train.N`` reaches its replay too.
    """

    __pydantic_config__ = STRICT

    tasks: list[str] | None = None
    variants: list[str] | None = None
    weight: PosFloat = 1.0


@dataclasses.dataclass
class DataConfig:
    """``data``: sources, batching, workers, caching and transforms.

    ``replay``: the training sources again with other filters (:class:`ReplayConfig`); once built,
    ``train`` holds them and ``replay`` is null.
    ``samples_per_epoch``: draws per epoch from the weighted mixture (default: the total size).
    ``group_by_length``: batch samples of similar token length together (less padding).
    ``cache_dir``: on-disk cache of preprocessed tensors (null: no cache). ``memory_cache_gb``:
    preprocessed tensors also kept in memory, at most this much in all (split between DataLoader
    workers; 0: off). ``answer_as_target``: records without an assistant turn but with an
    ``answer`` (benchmark-style) are trained on it.
    """

    __pydantic_config__ = STRICT

    train: list[DataSourceConfig] = dataclasses.field(default_factory=list)
    val: list[DataSourceConfig] = dataclasses.field(default_factory=list)
    tasks: list[str] | None = None
    variants: list[str] | None = None
    batch_size: PosInt = 4
    eval_batch_size: PosInt | None = None
    num_workers: NonNegInt = 2
    group_by_length: bool = False
    samples_per_epoch: PosInt | None = None
    cache_dir: str | None = None
    memory_cache_gb: NonNegFloat = 2.0
    answer_as_target: bool = True
    seed: NonNegInt = 0
    transforms: TransformConfig = dataclasses.field(default_factory=TransformConfig)
    replay: ReplayConfig | None = None

    def __post_init__(self) -> None:
        if self.replay is not None:  # expanded once: a config rebuilt from this one does not replay twice
            r = self.replay
            self.train = [*self.train, *(dataclasses.replace(
                src, tasks=src.tasks if r.tasks is None else r.tasks,
                variants=src.variants if r.variants is None else r.variants, weight=src.weight * r.weight)
                for src in self.train)]
            self.replay = None


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

    __pydantic_config__ = STRICT

    text: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "small"})
    embed_dim: PosInt = 128
    labels: list[str] | None = None
    label_weight: NonNegFloat = 1.0
    contrastive_weight: NonNegFloat = 1.0
    label_aware: bool = True
    temperature: PosFloat = 0.07
    max_text_length: PosInt = 192
    dedupe: bool = True
    gather: bool = True


def reference_markdown() -> str:
    """Markdown reference of every config key: one table per block (key, type, default) under its docstring.

    ``docs/config-reference.md`` is this text (``python scripts/config_reference.py`` writes it; a
    test checks that it is up to date).
    """
    blocks = [("model", ModelConfig), ("model.llm.lora", LoraSpec), ("model.modalities.<slot>", ModalityConfig),
              ("model.findings_prompt", FindingsPromptConfig),
              ("data", DataConfig), ("data.train.<i> / data.val.<i>", DataSourceConfig),
              ("data.train.<i>.synthetic", SyntheticSourceConfig), ("data.replay", ReplayConfig),
              ("data.transforms", TransformConfig),
              ("data.transforms.xray", XrayTransformConfig), ("data.transforms.ct", CTTransformConfig),
              ("data.transforms.video", VideoTransformConfig), ("data.transforms.augment", AugmentConfig),
              ("train", TrainConfig), ("train.optim", OptimConfig),
              ("train.trainable", TrainableConfig), ("train.checkpoint", CheckpointConfig),
              ("train.strategy", StrategyConfig), ("train.eval", TrainEvalConfig),
              ("train.feature_cache", FeatureCacheConfig), ("train.pretrain", EncoderPretrainConfig)]
    out = ["# Config keys", "",
           "Every key a training config takes, generated from the dataclasses of `medmllm/config.py` (types are",
           "checked when a config loads; a wrong value is one `error:` line naming the key). A config holds",
           "`model`, `data` and `train`, or those plus `pipeline` (a list of `{name, model, data, train}`",
           "entries merged over them). `medmllm train --config FILE --print-config` prints a config resolved.", ""]
    for where, cls in blocks:
        doc = " ".join(line.strip() for line in (cls.__doc__ or "").strip().splitlines())
        out += [f"## `{where}`", "", doc, "", "| key | type | default |", "|---|---|---|"]
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = None
            shown = ("required" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                     else "block below" if dataclasses.is_dataclass(default) else f"`{json.dumps(to_plain(default))}`")
            out.append(f"| `{f.name}` | {_type_name(hints[f.name])} | {shown} |")
        out.append("")
    return "\n".join(out)


def _type_name(tp: Any) -> str:
    """A short readable name of a field type (``int >= 1``, ``'min' | 'max'``, ``float | null``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        base, *meta = args
        bounds = []
        for m in meta:
            for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<=")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{sym} {getattr(m, attr)}")
        return _type_name(base) + (" " + ", ".join(bounds) if bounds else "")
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " \\| ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if dataclasses.is_dataclass(tp):
        return f"block `{tp.__name__}`"
    return "any" if tp is Any else getattr(tp, "__name__", str(tp))

