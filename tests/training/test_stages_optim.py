"""Freeze policies of the stages and the optimiser groups / schedule they lead to."""

import math

import pytest

from medmllm.config import OptimConfig, from_dict
from medmllm.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_model_cfg():
    from medmllm.config import load_config
    from tests.training.conftest import CONFIGS

    return load_config(CONFIGS / "tiny.yaml")["model"]


def build(model_cfg, lora=None):
    import copy

    from medmllm.models.mllm import MedMLLM

    cfg = copy.deepcopy(model_cfg)
    if lora:
        cfg["llm"]["lora"] = lora
    return MedMLLM.build(cfg)


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_align_trains_connectors_only(tiny_model_cfg):
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg)
    summary = get_stage("align").apply(model)
    names = trainable_names(model)
    assert names and all(n.startswith("connectors.") for n in names)
    expected = sum(p.numel() for p in model.connectors.parameters())
    assert summary.trainable == {"encoders": 0, "connectors": expected, "llm": 0}
    assert summary.num_total == sum(p.numel() for p in model.parameters())


def test_instruct_trains_lora_and_connectors(tiny_model_cfg):
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg, lora={"r": 2})
    summary = get_stage("instruct").apply(model)
    names = trainable_names(model)
    llm_names = {n for n in names if n.startswith("llm.")}
    assert llm_names and all("lora_" in n for n in llm_names)
    assert {n for n in names if not n.startswith("llm.")} == {n for n, _ in model.named_parameters()
                                                               if n.startswith("connectors.")}
    lora = sum(p.numel() for n, p in model.llm.named_parameters() if "lora_" in n)
    assert summary.trainable["llm"] == lora and summary.trainable["encoders"] == 0


def test_instruct_without_lora_trains_full_llm_and_optional_encoder(tiny_model_cfg):
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg)
    get_stage("instruct").apply(model, {"encoders": ["xray"]})
    names = trainable_names(model)
    assert all(p.requires_grad for p in model.llm.parameters())
    assert any(n.startswith("encoders.xray.") for n in names)
    assert not any(n.startswith("encoders.ct.") for n in names)
    frozen = get_stage("clinical").frozen_modules(model)
    assert frozen == [model.encoders["ct"]]


def test_report_stage_trains_connectors_and_the_llm(tiny_model_cfg):
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg)
    summary = get_stage("report").apply(model)
    names = trainable_names(model)
    assert all(p.requires_grad for p in model.llm.parameters())
    assert not any(n.startswith("encoders.") for n in names)
    assert summary.trainable["connectors"] == sum(p.numel() for p in model.connectors.parameters())
    assert summary.trainable["llm"] == sum(p.numel() for p in model.llm.parameters())
    lora = build(tiny_model_cfg, lora={"r": 2})
    get_stage("report").apply(lora)
    assert {n for n in trainable_names(lora) if n.startswith("llm.")} == {n for n, _ in lora.named_parameters()
                                                                          if "lora_" in n}


def test_stages_are_presets_looked_up_by_name():
    from medmllm.registry import STAGES
    from medmllm.training.stages import PRESETS, Stage, get_stage

    assert set(PRESETS) | {"encoder"} == set(STAGES.names())
    for name, preset in PRESETS.items():
        stage = get_stage(name)
        assert type(stage) is Stage and stage.name == name  # data, not a subclass
        assert stage.trainable == preset["trainable"] and stage.optim_defaults() == preset["optim"]
    assert get_stage("report").trainable == get_stage("instruct").trainable
    assert [get_stage(n).optim["lr"] for n in ("align", "report", "instruct", "clinical")] == [1e-3, 2e-4, 2e-4, 1e-4]
    assert type(get_stage("encoder")).__name__ == "EncoderStage"  # the one stage with its own hooks


@pytest.mark.parametrize("config, old", [("quickstart.yaml", "align"), ("smollm2-quickstart.yaml", "instruct")])
def test_quickstart_report_step_uses_the_report_stage_with_unchanged_settings(config, old, tmp_path):
    """The shipped report steps were renamed to ``stage: report``; what they train and how is unchanged."""
    import copy
    import dataclasses

    from medmllm.config import load_config
    from medmllm.training.plan import build_plan
    from tests.training.conftest import CONFIGS

    cfg = load_config(CONFIGS / config)
    step = build_plan(cfg, tmp_path)[1]
    assert step.name == "report" and step.stage.name == "report"
    before = copy.deepcopy(cfg)
    before["pipeline"][1]["train"]["stage"] = old
    assert build_plan(before, tmp_path)[1].train == dataclasses.replace(step.train, stage=old)


def test_quickstart_clinical_stage_replays_the_image_only_reports_of_the_same_cases(tmp_path):
    """Every task of the training cases plus, at equal weight, their image-only reports (without the replay the
    clinical stage cost the image-only reports 0.08 held-out macro-F1, see configs/quickstart.yaml); a
    command-line override of data.train.0 reaches the replay."""
    from medmllm.config import DataConfig, from_dict, load_config
    from medmllm.training.plan import build_plan
    from tests.training.conftest import CONFIGS

    cfg = load_config(CONFIGS / "quickstart.yaml", ["--data.train.0.synthetic.cases=48"])
    clinical = build_plan(cfg, tmp_path)[2]
    assert clinical.name == "clinical"
    data = from_dict(DataConfig, clinical.config["data"], "data")
    assert [s.synthetic.cases for s in data.train] == [48, 48]
    assert [s.synthetic.seed for s in data.train] == [cfg["data"]["train"][0]["synthetic"]["seed"]] * 2
    assert [s.variants for s in data.train] == [None, ["report-xray", "report-ct", "report-both"]]
    assert [s.weight for s in data.train] == [1.0, 1.0]
    assert data.tasks is None and data.variants is None and data.replay is None
    report = from_dict(DataConfig, build_plan(cfg, tmp_path)[1].config["data"], "data")
    assert len(report.train) == 1  # only the stage that asks replays


def test_replay_adds_each_source_once_with_its_filters_and_weight():
    from medmllm.config import DataConfig, from_dict, to_plain

    raw = {"train": [{"path": "a.jsonl", "weight": 2.0, "tasks": ["vqa"]}, {"path": "b.jsonl"}],
           "replay": {"variants": ["report-both"], "weight": 0.5}}
    data = from_dict(DataConfig, raw, "data")
    assert [(s.path, s.weight, s.tasks, s.variants) for s in data.train] == [
        ("a.jsonl", 2.0, ["vqa"], None), ("b.jsonl", 1.0, None, None),
        ("a.jsonl", 1.0, ["vqa"], ["report-both"]), ("b.jsonl", 0.5, None, ["report-both"])]
    again = from_dict(DataConfig, to_plain(data), "data")  # an export's data block, read back: no second replay
    assert again == data
    with pytest.raises(ConfigError, match="data.replay"):
        from_dict(DataConfig, {**raw, "replay": {"variant": ["report-both"]}}, "data")


def test_bad_trainable_settings_raise(tiny_model_cfg):
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg)
    with pytest.raises(ConfigError, match="no LoRA adapter"):
        get_stage("clinical").apply(model, {"llm": "lora"})
    with pytest.raises(ConfigError, match="unknown modality slot"):
        get_stage("align").apply(model, {"encoders": ["mri"]})
    with pytest.raises(ConfigError, match="unknown stage 'pretrain'; valid: align, clinical, ") as e:
        get_stage("pretrain")
    assert "instruct" in str(e.value)


def test_lr_schedule_warmup_then_cosine():
    from medmllm.training.optim import lr_lambda

    kw = {"total_steps": 110, "warmup_steps": 10, "min_lr_ratio": 0.1}
    assert lr_lambda(0, **kw) == pytest.approx(1 / 11)
    assert lr_lambda(9, **kw) == pytest.approx(10 / 11)
    assert lr_lambda(10, **kw) == pytest.approx(1.0)
    assert lr_lambda(60, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_lambda(110, **kw) == pytest.approx(0.1)
    assert lr_lambda(50, schedule="linear", total_steps=100, warmup_steps=0) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="schedule"):
        lr_lambda(0, schedule="step", total_steps=10, warmup_steps=0)


def test_param_groups_per_part_lr_and_decay_split(tiny_model_cfg):
    from medmllm.training.freeze import named_part_parameters
    from medmllm.training.optim import configure
    from medmllm.training.stages import get_stage

    model = build(tiny_model_cfg)
    get_stage("instruct").apply(model, {"encoders": True})
    optim = from_dict(OptimConfig, {"lr": 1e-3, "lr_llm": 1e-4, "lr_encoders": 3e-3, "weight_decay": 0.05,
                                    "warmup_steps": 2})
    out = configure(named_part_parameters(model), optim, total_steps=10)
    groups = {g["name"]: g for g in out["optimizer"].param_groups}
    assert groups["llm"]["lr"] == pytest.approx(1e-4 / 3)  # warmup step 0 of 2: lr * 1/3
    assert out["lr_scheduler"]["scheduler"].base_lrs[list(groups).index("encoders")] == pytest.approx(3e-3)
    assert groups["connectors"]["weight_decay"] == 0.05 and groups["connectors/no_decay"]["weight_decay"] == 0.0
    in_groups = [p for g in out["optimizer"].param_groups for p in g["params"]]
    assert len(in_groups) == len({id(p) for p in in_groups}) == sum(1 for p in model.parameters() if p.requires_grad)
    emb = model.llm.get_input_embeddings().weight
    assert any(p is emb for p in groups["llm/no_decay"]["params"])  # embeddings: no weight decay
    biases = {id(p) for n, p in model.named_parameters() if n.endswith(".bias") and p.requires_grad}
    assert biases and biases <= {id(p) for g in out["optimizer"].param_groups if g["name"].endswith("no_decay")
                                 for p in g["params"]}


def test_nothing_to_train_raises():
    from medmllm.training.optim import build_optimizer

    with pytest.raises(ConfigError, match="nothing to train"):
        build_optimizer([], from_dict(OptimConfig, {}))
