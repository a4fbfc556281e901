"""Findings-guided prompting at inference: heads -> hint text -> the user turn, recorded in predictions.

A tiny model (configs/tiny.yaml) with ``model.findings_prompt`` and findings heads of fixed random
weights, saved with ``save_pretrained``: the hint ``generate`` and ``evaluate`` write is the one the
heads give for the record's own images (numbers compared with the heads run by hand), and the
shuffled-images control gets the hint of the images it is shown.
"""

import json

import pytest
import torch

from medmllm.config import FindingsPromptConfig, load_config
from medmllm.errors import ConfigError, InputError
from medmllm.models import findings_prompt as fp

from .conftest import ROOT, write_xray

LABELS = ("normal", "consolidation:RLL", "pleural_effusion:left", "cardiomegaly", "nodule")


def test_hint_text_lists_the_findings_over_the_threshold_most_probable_first():
    cfg = FindingsPromptConfig(threshold=0.5)
    probs = torch.tensor([0.9, 0.6, 0.2, 0.95, 0.5])
    assert fp.hint_text(probs, LABELS, cfg) == (
        "Findings detected by the image classifier: cardiomegaly, right lower lobe consolidation, pulmonary nodule.")
    cfg = FindingsPromptConfig(threshold=0.55, probabilities=True, max_findings=1)
    assert fp.hint_text(probs, LABELS, cfg) == "Findings detected by the image classifier: cardiomegaly (0.95)."
    # nothing abnormal passes: the name of 'normal', whatever its own probability
    assert fp.hint_text([0.1, 0.2, 0.3, 0.4, 0.49], LABELS, FindingsPromptConfig()) == (
        "Findings detected by the image classifier: no abnormality.")
    zh = fp.hint_text(probs, LABELS, FindingsPromptConfig(threshold=0.55), "zh")
    assert zh == "图像分类器检出：心影增大、右肺下叶实变。"
    own = FindingsPromptConfig(template={"en": "Classifier: {findings}"}, threshold=0.9)
    assert fp.hint_text(probs, LABELS, own, "zh") == "Classifier: cardiomegaly"  # no zh template: English


def test_calibrated_thresholds_take_the_middle_of_the_best_f1_plateau():
    probs = [torch.tensor([0.5, p, 0.1]) for p in (0.3, 0.35, 0.1, 0.2, 0.25)]
    labels = [{"normal": 0, "consolidation:RLL": y, "cardiomegaly": 0} for y in (1, 1, 0, 0, 1)]
    out = fp.calibrate(probs, labels, ("normal", "consolidation:RLL", "cardiomegaly"))
    assert out == {"consolidation:RLL": {"threshold": 0.23, "f1": 1.0, "positives": 3}}  # 0.21 ... 0.25 all perfect
    cfg = FindingsPromptConfig(threshold=0.9)
    keys = ("normal", "consolidation:RLL", "cardiomegaly")
    assert fp.hint_text([0.5, 0.23, 0.1], keys, cfg, thresholds={"consolidation:RLL": 0.23}) == (
        "Findings detected by the image classifier: right lower lobe consolidation.")
    assert fp.hint_text([0.5, 0.23, 0.1], keys, cfg) == "Findings detected by the image classifier: no abnormality."


def test_the_hint_goes_after_the_placeholders_and_visual_tokens_can_be_left_out():
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "<xray>\n<ct>\nWrite the report."},
            {"role": "assistant", "content": "Findings: clear."}]
    out = fp.rewrite_messages(msgs, "HINT.")
    assert out[1]["content"] == "<xray>\n<ct>\nHINT.\nWrite the report." and out[2] == msgs[2]
    assert msgs[1]["content"] == "<xray>\n<ct>\nWrite the report."  # the input is not changed
    assert fp.rewrite_messages(msgs, "HINT.", visual_tokens=False)[1]["content"] == "HINT.\nWrite the report."
    assert fp.rewrite_messages([{"role": "user", "content": "<xray>\n"}], "HINT.")[0]["content"] == "<xray>\nHINT."
    with pytest.raises(InputError, match="no user turn"):
        fp.rewrite_messages([{"role": "assistant", "content": "x"}], "HINT.")
    sample = {"messages": msgs[1:2], "pixels": {"xray": [torch.zeros(1, 4, 4)]}, "image_keys": {"xray": ["k"]}}
    cfg = FindingsPromptConfig(visual_tokens=False)
    hinted = fp.apply_hint(sample, torch.tensor([0.0, 0.9, 0.0, 0.0, 0.0]), LABELS, cfg)
    assert hinted["pixels"] == {} and hinted["image_keys"] == {} and sample["pixels"]  # a copy
    assert hinted["messages"][0]["content"] == ("Findings detected by the image classifier: right lower lobe "
                                                "consolidation.\nWrite the report.")
    assert fp.apply_hint(sample, None, LABELS, cfg) is sample  # no image, no hint


def test_config_refuses_a_template_without_the_findings_and_a_zero_threshold():
    from medmllm.config import ModelConfig, from_dict

    with pytest.raises(ConfigError, match="template.en: must contain"):
        from_dict(ModelConfig, {"findings_prompt": {"template": {"en": "Look."}}})
    with pytest.raises(ConfigError, match="findings_prompt.threshold"):
        from_dict(ModelConfig, {"findings_prompt": {"threshold": 0}})
    assert from_dict(ModelConfig, {"findings_prompt": {}}).findings_prompt.threshold == 0.5


def test_a_model_without_heads_is_refused_unless_untrained_heads_are_allowed():
    from medmllm.models.mllm import build_model

    cfg = load_config(ROOT / "configs" / "tiny.yaml")["model"]
    cfg["findings_prompt"] = {}
    with pytest.raises(ConfigError, match="no findings heads"):
        build_model(cfg)
    model = build_model(cfg, untrained_heads=True)
    assert not model.findings_heads.trained and set(model.findings_heads.heads) == {"xray", "ct"}
    assert not any(p.requires_grad for p in model.findings_heads.parameters())


@pytest.fixture(scope="module")
def hint_export(tmp_path_factory):
    """The tiny model with findings heads of fixed random weights (probabilities on, every finding listed)."""
    from medmllm.models.mllm import build_model

    cfg = load_config(ROOT / "configs" / "tiny.yaml")["model"]
    cfg["findings_prompt"] = {"threshold": 0.01, "probabilities": True, "max_findings": 3}
    torch.manual_seed(0)
    model = build_model(cfg, untrained_heads=True)
    with torch.no_grad():
        for p in model.findings_heads.parameters():
            p.normal_(0, 0.3)
    out = tmp_path_factory.mktemp("hint-export") / "export"
    model.save_pretrained(out, extra={"data": {"transforms": {}}})
    return out


def hints_by_hand(export, paths):
    """The hint the export's heads give for each X-ray file, computed without the Predictor's prompt code."""
    from medmllm.config import TransformConfig
    from medmllm.data.transforms import build_pipelines
    from medmllm.models.mllm import load_model

    model = load_model(export).eval()
    pipe = build_pipelines({"xray": model.input_spec("xray")}, TransformConfig(), train=False)["xray"]
    out = {}
    with torch.no_grad():
        for path in paths:
            x = pipe.preprocess(str(path))[None]
            probs = torch.sigmoid(model.findings_heads.heads["xray"](model.encoders["xray"](x).mean(1)))[0]
            out[str(path)] = fp.hint_text(probs, model.findings_heads.labels, model.config.findings_prompt)
    return out


def test_the_export_keeps_the_heads_and_generate_records_the_prompt_with_the_hint(hint_export, cases, record, cli,
                                                                                 tmp_path):
    from medmllm.config import read_yaml

    doc = read_yaml(hint_export / "medmllm.yaml")
    assert doc["model"]["findings_prompt"]["heads"] is None and (hint_export / fp.FILE).is_file()
    images = [write_xray(cases.root / "img" / f"x{i}.png", seed=10 + i) for i in range(4)]
    manifest = cases([record(i, image=f"img/x{i}.png") for i in range(4)])
    by_hand = hints_by_hand(hint_export, images)
    assert len(set(by_hand.values())) == 4  # every image gets its own hint
    out = tmp_path / "pred.jsonl"
    r = cli("generate", "--checkpoint", hint_export, "--data", manifest, "--out", out, "--max-new-tokens", "2",
            "--quiet")
    assert r.code == 0, r
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    for i, row in enumerate(rows):
        assert row["prompt"] == ("<xray>\n" + by_hand[str(images[i])]
                                 + "\nWrite the radiology report for this chest radiograph.")
        assert row["prompt"].count("(0.") == 3  # three findings with their probabilities


@pytest.mark.slow  # evaluate with its controls and METEOR: ~15 s
def test_evaluate_records_the_prompt_and_the_shuffled_control_reads_the_shuffled_images(hint_export, cases, record,
                                                                                        cli, tmp_path):
    images = [write_xray(cases.root / "img" / f"y{i}.png", seed=20 + i) for i in range(4)]
    manifest = cases([record(i, image=f"img/y{i}.png") for i in range(4)], name="eval.jsonl")
    by_hand = hints_by_hand(hint_export, images)
    out = tmp_path / "eval"
    r = cli("evaluate", "--checkpoint", hint_export, "--benchmark", "report", "--data", manifest, "--out", out,
            "--max-new-tokens", "2", "--quiet")
    assert r.code == 0, r
    pred = {row["id"]: row for row in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}
    for i in range(4):
        assert by_hand[str(images[i])] in pred[f"r{i}"]["prompt"]
    shuffled = [json.loads(x) for x in (out / "controls" / "shuffled_images.jsonl").read_text().splitlines()]
    from medmllm.evaluation.benchmarks.runner import shuffle_images

    records = [json.loads(x) for x in manifest.read_text().splitlines()]
    donors = {r["id"]: r["meta"]["images_from"] for r in shuffle_images(records, 0)[0]}
    assert all(donors[row["id"]] != row["id"] for row in shuffled)
    for row in shuffled:  # the hint of the images shown (another patient's), not of the record's own
        assert row["prompt"] == pred[donors[row["id"]]]["prompt"] != pred[row["id"]]["prompt"]


def test_without_visual_tokens_the_llm_reads_the_hint_alone(hint_export, cases, tmp_path):
    import shutil

    from medmllm.config import dump_yaml, read_yaml
    from medmllm.inference import Predictor

    folder = tmp_path / "no-visual"
    shutil.copytree(hint_export, folder)
    doc = read_yaml(folder / "medmllm.yaml")
    doc["model"]["findings_prompt"]["visual_tokens"] = False
    dump_yaml(doc, folder / "medmllm.yaml")
    pred = Predictor.from_pretrained(folder, max_new_tokens=2)
    s = pred.prepare({"xray": str(cases.image)})
    assert s["pixels"] == {} and "<xray>" not in s["messages"][0]["content"]
    assert s["messages"][0]["content"] == (hints_by_hand(folder, [cases.image])[str(cases.image)]
                                           + "\nWrite the radiology report for this chest radiograph.")
    rows = pred.generate_rows([{"xray": str(cases.image)}])
    assert rows[0]["prompt"] == s["messages"][0]["content"] and isinstance(rows[0]["prediction"], str)


def test_the_app_backend_words_the_request_with_the_hint(hint_export, cases):
    from medmllm.app.backend import GenerationSettings, PredictorBackend, ReportRequest

    backend = PredictorBackend(hint_export)
    request = ReportRequest(xray_source=str(cases.image), context="fever",
                            settings=GenerationSettings(max_new_tokens=2))
    shown = backend.predictor.prepare(request.as_input())["messages"][0]["content"]
    hint = hints_by_hand(hint_export, [cases.image])[str(cases.image)]
    assert shown == f"<xray>\n{hint}\nClinical information:\nfever\n\nWrite the radiology report for this chest radiograph."
    assert isinstance("".join(backend.stream(request)), str)
