"""The learning-curve benchmark's two variants are the shipped quickstart's stages, as documented."""

import json
from pathlib import Path

import pytest

from medmllm.config import load_config
from medmllm.training.plan import build_plan
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def curve_module():
    return load_script("benchmarks/quickstart_curve.py")


def test_variants_are_the_quickstart_stages(tmp_path):
    curve = curve_module()
    base = load_config(ROOT / "configs" / "quickstart.yaml")
    shipped = {s["name"]: s for s in base["pipeline"]}
    pre = curve.variant_config(base, "pretrained", 120)
    scratch = curve.variant_config(base, "scratch", 120)
    assert [s["name"] for s in pre["pipeline"]] == ["encoder", "report"]
    assert [s["name"] for s in scratch["pipeline"]] == ["report"]
    assert pre["pipeline"][0] == shipped["encoder"]  # the encoder stage as shipped
    for cfg in (pre, scratch):
        report = cfg["pipeline"][-1]["train"]
        assert report["max_steps"] == 120 and report["val_every_n_steps"] == 120
        assert report["stage"] == shipped["report"]["train"]["stage"]
        assert report["optim"]["lr"] == shipped["report"]["train"]["optim"]["lr"]
    assert pre["pipeline"][1]["train"]["trainable"]["encoders"] is False
    assert scratch["pipeline"][0]["train"]["trainable"]["encoders"] is True
    assert scratch["pipeline"][0]["train"]["optim"]["lr_encoders"] == 3.0e-3
    assert base["pipeline"][1]["train"]["max_steps"] == shipped["report"]["train"]["max_steps"]  # base untouched
    for cfg in (pre, scratch):  # both are valid configs
        plan = build_plan(cfg, tmp_path)
        assert plan[-1].train.max_steps == 120


def test_heldout_set_filters_report_both(tmp_path):
    curve = curve_module()
    rows = [{"id": f"c{i}-{v}", "meta": {"variant": v}} for i in range(3) for v in ("report-xray", "report-both")]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    keep = curve.heldout_set(tmp_path, 3)
    kept = [json.loads(x) for x in keep.read_text().splitlines()]
    assert [r["id"] for r in kept] == ["c0-report-both", "c1-report-both", "c2-report-both"]
    (tmp_path / "manifest.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(SystemExit, match="no report-both records"):
        curve.heldout_set(tmp_path, 3)
