"""Every shipped config parses and builds (tiny model and data overrides), and the CLI's errors."""

import copy

import pytest

from tests.training.conftest import CONFIGS

ALL_CONFIGS = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))


def tiny_overrides(cfg, tiny, manifest):
    """Same stages, strategies and connectors; the tiny LLM/encoders and the synthetic manifest."""
    cfg = copy.deepcopy(cfg)
    model = cfg.setdefault("model", {})
    lora = (model.get("llm") or {}).get("lora")
    model["llm"] = dict(tiny["model"]["llm"], **({"lora": lora} if lora else {}))
    for m, spec in (model.get("modalities") or {}).items():
        spec["encoder"] = copy.deepcopy(tiny["model"]["modalities"][m]["encoder"])
    model["max_length"] = 512
    blocks = [cfg.setdefault("data", {})] + [e["data"] for e in cfg.get("pipeline") or [] if e.get("data")]
    for data in blocks:
        for key in ("train", "val"):
            if key in data or data is cfg["data"]:
                data[key] = [{"path": str(manifest)}]
        data.update(num_workers=0, cache_dir=None, tasks=["report"], batch_size=2)
        data.pop("transforms", None)
    cfg["train"]["devices"] = 1 if cfg["train"].get("strategy", {}).get("name", "auto") in ("auto", "ddp") \
        else cfg["train"].get("devices", 1)
    return cfg


@pytest.mark.parametrize("name", ALL_CONFIGS)
def test_every_config_parses_and_builds(name, tiny_base, synth_manifest):
    from medmllm.config import load_config
    from medmllm.training.plan import build_plan
    from medmllm.training.validate import validate_config

    cfg = load_config(CONFIGS / name)
    plan = build_plan(cfg, CONFIGS)  # the config as shipped: keys, stage names, optimiser blocks
    assert plan and all(c.train.max_steps > 0 for c in plan)
    report = validate_config(tiny_overrides(cfg, tiny_base, synth_manifest))
    assert len(report.stages) == len(plan)
    for facts, ctx in zip(report.stages, plan):
        assert facts["stage"] == ctx.stage.name and 0 < facts["trainable"] < facts["total"]
        assert facts["batch_loss"] > 0
        strategy = ctx.train.strategy.name
        if strategy == "fsdp":
            assert type(facts["strategy"]).__name__ == "FSDPStrategy"
            assert {"LlamaDecoderLayer", "TransformerBlock"} <= set(facts["strategy"].medmllm_wrap_classes)
        elif strategy.startswith("deepspeed"):
            stage = int(strategy[-1])
            assert facts["strategy"].config["zero_optimization"]["stage"] == stage
    if any(c.train.strategy.name in ("fsdp", "deepspeed_stage_2", "deepspeed_stage_3") for c in plan):
        assert any("needs CUDA GPUs" in line for line in report.lines)


def test_validate_cli_prints_summary(cli, synth_manifest):
    r = cli("validate", "--config", CONFIGS / "tiny.yaml", f"--data.train=[{{path: {synth_manifest}}}]",
            f"--data.val=[{{path: {synth_manifest}}}]", "--pipeline.1.train.optim.lr=3e-4")
    assert r.code == 0, r
    assert "align [align] -> instruct [instruct]" in r.out and "ok:" in r.out
    assert "lr 3.00e-04" in r.out and "first batch of 4: loss" in r.out


def test_cli_config_errors_are_one_line(cli, tmp_path, synth_manifest):
    r = cli("validate", "--config", CONFIGS / "tiny.yaml", "--train.optimizer.lr=1")
    assert r.code == 2 and "train.optimizer" in r.err and len(r.err.strip().splitlines()) == 1
    r = cli("train", "--config", CONFIGS / "tiny.yaml", "--pipeline.0.train.stage=pretrain",
            f"--train.run_dir={tmp_path / 'r'}")
    assert r.code == 2 and "unknown stage 'pretrain'" in r.err
    r = cli("train", "--config", CONFIGS / "tiny.yaml", "--pipeline=null", "--train.strategy.name=fsdp",
            "--train.accelerator=cpu", f"--data.train=[{{path: {synth_manifest}}}]", f"--train.run_dir={tmp_path / 'f'}")
    assert r.code == 2 and "needs CUDA GPUs" in r.err
    r = cli("train", "--resume", tmp_path)
    assert r.code == 2 and "not a medmllm run folder" in r.err
    r = cli("train")
    assert r.code == 2 and "--config" in r.err


@pytest.mark.parametrize("override, message", [
    ("--train.max_steps=abc", "train.max_steps: expected a whole number >= -1, got 'abc'"),
    ("--data.batch_size=two", "data.batch_size: expected a whole number >= 1, got 'two'"),
    ("--data.batch_size=0", "data.batch_size: expected a whole number >= 1, got 0"),
    ("--pipeline.1.train.optim.lr=-0.001", "pipeline.1.train.optim.lr: expected a number > 0, got -0.001"),
    # a stage's data block: named with its stage, and checked before any stage is built (or a manifest read)
    ("--pipeline.1.data.batch_size=0", "pipeline.1.data.batch_size: expected a whole number >= 1, got 0"),
    ("--pipeline.1.data.replay.weight=0", "pipeline.1.data.replay.weight: expected a number > 0, got 0"),
    ("--train.precision=bf17", "train.precision: expected one of auto, 32-true, 32, bf16-mixed"),
    ("--train.checkpoint.mode=maximum", "train.checkpoint.mode: expected one of min, max, got 'maximum'"),
])
def test_typed_config_errors_name_key_value_and_allowed(cli, override, message):
    r = cli("validate", "--config", CONFIGS / "tiny.yaml", override)
    assert r.code == 2, r
    line = r.err.strip()
    assert len(line.splitlines()) == 1 and "internal" not in line and "Traceback" not in line
    assert line.startswith("error: ") and message in line


def test_lora_keys_are_checked(cli):
    r = cli("validate", "--config", CONFIGS / "tiny.yaml", "--model.llm.lora.rank=8")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "unknown config key model.llm.lora.rank; valid: r, alpha, dropout" in r.err
    from medmllm.config import ModelConfig, from_dict

    cfg = from_dict(ModelConfig, {"llm": {"name": "tiny", "lora": {"r": "8"}}}, "model")
    assert cfg.llm["lora"]["r"] == 8 and cfg.llm["lora"]["target_modules"] == "all-linear"


def test_numbers_as_strings_are_read_leniently():
    from medmllm.config import TrainConfig, from_dict

    t = from_dict(TrainConfig, {"max_steps": "5", "optim": {"lr": "1e-3", "betas": ["0.9", 0.95]}}, "train")
    assert t.max_steps == 5 and t.optim.lr == pytest.approx(1e-3) and t.optim.betas == [0.9, 0.95]
    assert t.precision == "auto"


def test_every_shipped_config_leaves_precision_to_the_hardware():
    """No shipped config forces bf16 (80x slower on AVX2-only CPUs); fp32 is allowed where chosen."""
    from medmllm.config import load_config

    for name in ALL_CONFIGS:
        cfg = load_config(CONFIGS / name)
        blocks = [cfg.get("train") or {}] + [e.get("train") or {} for e in cfg.get("pipeline") or []]
        for block in blocks:
            assert block.get("precision", "auto") in ("auto", "32-true"), (name, block.get("precision"))


def test_trainer_and_validate_use_the_resolved_precision(cli, monkeypatch, synth_manifest, tmp_path):
    from medmllm import hardware
    from medmllm.config import load_config
    from medmllm.training.builders import build_trainer
    from medmllm.training.plan import build_plan

    monkeypatch.setattr(hardware, "bf16_native", lambda accelerator="cpu": (False, "test CPU without bf16"))
    cfg = load_config(CONFIGS / "tiny.yaml", [f"--data.train=[{{path: {synth_manifest}}}]", "--data.val=[]",
                                              "--train.precision=auto", "--pipeline=null"])
    ctx = build_plan(cfg, tmp_path / "run")[0]
    trainer = build_trainer(ctx, None, has_val=False)
    assert ctx.precision == "32-true" and trainer.precision == "32-true"
    r = cli("validate", "--config", CONFIGS / "tiny.yaml", f"--data.train=[{{path: {synth_manifest}}}]",
            f"--data.val=[{{path: {synth_manifest}}}]", "--train.precision=bf16-mixed",
            "--pipeline.0.train.precision=auto")
    assert r.code == 0, r
    assert "precision auto (here: 32-true)" in r.out
