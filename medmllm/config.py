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
    """Parse an override value as YAML (``3``, ``1e-3``, ``true``, ``[1, 2]``, ``null``, strings)."""
    try:
        return _yaml().safe_load(text)
    except Exception:
        return text


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
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(_yaml().safe_dump(to_plain(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, p)


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
