"""From a config to a plan of stages: resolved per-stage configs, run folder layout, resume state.

A config holds ``model``, ``data`` and ``train`` (one stage), or those plus ``pipeline``: a list
of entries ``{name, model, data, train}`` each merged over the top-level blocks, run in order.
Stage ``i > 0`` starts from stage ``i - 1``'s export (the previous stage decides how: whole-model
``model.init_from`` by default, encoder-only for the ``encoder`` stage) unless its entry sets
``model.init_from`` itself.

Run folder::

    RUN_DIR/config.yaml                resolved config of the whole run + provenance
    RUN_DIR/NN-<name>/checkpoints/     Lightning .ckpt (last, best-*, step-*)
    RUN_DIR/NN-<name>/logs/            CSV metrics;  samples.jsonl: generated validation reports
    RUN_DIR/NN-<name>/export/          the stage's export (COMPLETE marker when whole)
    RUN_DIR/export -> NN-<last>/export the final export
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Any

from medmllm.config import DataConfig, TrainConfig, deep_merge, from_dict, to_plain
from medmllm.errors import ConfigError
from medmllm.files import is_complete
from medmllm.training.stages import Stage, get_stage

TOP_KEYS = ("model", "data", "train", "pipeline", "name")
ENTRY_KEYS = ("name", "model", "data", "train")
RUN_DIR_ENV = "MEDMLLM_RUN_DIR"


@dataclasses.dataclass
class StageContext:
    """Everything one stage needs: its resolved config, stage object and folders."""

    index: int
    name: str
    stage: Stage
    config: dict[str, Any]  # {"model", "data", "train"} of this stage, resolved
    train: TrainConfig
    data: DataConfig  # ``config["data"]`` checked and built once, by build_plan
    run_dir: Path
    quiet: bool = False
    datamodule: Any = None
    val_samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    augmented: dict[str, bool] = dataclasses.field(default_factory=dict)
    extra_callbacks: list[Any] = dataclasses.field(default_factory=list)
    precision: str | None = None  # the Lightning precision in use (``train.precision`` resolved for this machine)
    validating: bool = False  # built by ``medmllm validate`` (earlier stages' exports do not exist)

    @property
    def dir(self) -> Path:
        return self.run_dir / f"{self.index:02d}-{self.name}"

    @property
    def ckpt_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def export_dir(self) -> Path:
        return self.dir / "export"

    @property
    def last_ckpt(self) -> Path:
        return self.ckpt_dir / "last.ckpt"

    @property
    def done(self) -> bool:
        """The stage finished: its export is complete (or, without export, a DONE marker exists)."""
        return is_complete(self.export_dir) if self.train.export else (self.dir / "DONE").is_file()


def _check_keys(d: dict[str, Any], valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(None, f"unknown config key(s) {', '.join(f'{where}{k}' for k in unknown)}; "
                                f"valid: {', '.join(valid)}")


def stage_configs(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, {"model", "data", "train"}), ...]`` in run order, entries merged over the top level."""
    _check_keys(cfg, TOP_KEYS, "")
    base = {k: cfg.get(k) or {} for k in ("model", "data", "train")}
    pipeline = cfg.get("pipeline")
    if pipeline is None:
        return [(str(cfg.get("name") or base["train"].get("stage", "instruct")), base)]
    if not isinstance(pipeline, list) or not pipeline:
        raise ConfigError(None, "pipeline: expected a non-empty list of stages")
    out, names = [], set()
    for i, entry in enumerate(pipeline):
        if not isinstance(entry, dict):
            raise ConfigError(None, f"pipeline.{i}: expected a mapping with name/model/data/train")
        _check_keys(entry, ENTRY_KEYS, f"pipeline.{i}.")
        merged = deep_merge(base, {k: entry[k] for k in ("model", "data", "train") if entry.get(k) is not None})
        name = str(entry.get("name") or merged["train"].get("stage", "instruct"))
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in names:
            raise ConfigError(None, f"pipeline.{i}.name '{name}': must be unique and use letters, digits, _ . -")
        names.add(name)
        out.append((name, merged))
    return out


def train_config(stage: Stage, train: dict[str, Any], where: str) -> TrainConfig:
    """``train`` block -> TrainConfig, with the stage's optimiser defaults under the config's keys."""
    t = dict(train or {})
    t["optim"] = {**stage.optim_defaults(), **(t.get("optim") or {})}
    return from_dict(TrainConfig, t, where)


def build_plan(cfg: dict[str, Any], run_dir: Path, *, quiet: bool = False) -> list[StageContext]:
    """Stage contexts of a config (validated: unknown keys and stage names raise)."""
    plan = []
    multi = cfg.get("pipeline") is not None
    if multi and cfg.get("train"):  # errors in the shared block name the key the user wrote
        top = cfg["train"]
        train_config(get_stage(str(top.get("stage", "instruct"))), top, "train")
    if multi and cfg.get("data"):
        from_dict(DataConfig, cfg["data"], "data")
    for i, (name, c) in enumerate(stage_configs(cfg)):
        prefix = f"pipeline.{i}." if multi else ""
        stage = get_stage(str((c.get("train") or {}).get("stage", "instruct")))
        tc = train_config(stage, c.get("train") or {}, prefix + "train")
        dc = from_dict(DataConfig, c.get("data") or {}, prefix + "data")  # checked before any stage is built
        plan.append(StageContext(i, name, stage, c, tc, dc, run_dir, quiet=quiet))
    return plan


def default_run_dir(cfg: dict[str, Any], config_path: str | os.PathLike | None) -> Path:
    """``train.run_dir``, else ``$MEDMLLM_RUN_DIR`` (set for DDP children), else a timestamped folder."""
    explicit = (cfg.get("train") or {}).get("run_dir")
    if explicit:
        return Path(explicit)
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    out = Path((cfg.get("train") or {}).get("output_dir") or "runs")
    stem = Path(config_path).stem if config_path else "run"
    return out / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def resolved_document(cfg: dict[str, Any], plan: list[StageContext]) -> dict[str, Any]:
    """The run's ``config.yaml``: the config as given plus each stage's resolved train block."""
    doc = to_plain(cfg)
    doc["resolved_stages"] = [{"name": c.name, "stage": c.stage.name, "train": to_plain(c.train)} for c in plan]
    return doc
