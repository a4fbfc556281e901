"""Fixtures of the training tests: synthetic cases made once, the tiny config pointed at them."""

import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


@pytest.fixture(scope="session")
def synth_manifest(tmp_path_factory):
    """16 synthetic cases (32x32 X-ray, 8x32x32 CT), report tasks in English: 72 train / 12 val records."""
    from medmllm.cli import main

    out = tmp_path_factory.mktemp("synth") / "tiny"
    code = main(["synth", "--out", str(out), "--cases", "16", "--xray-size", "32", "--ct-shape", "8,32,32",
                 "--tasks", "report", "--lang", "en", "--quiet"])
    assert code == 0
    return out / "manifest.jsonl"


@pytest.fixture(scope="session")
def tiny_base():
    from medmllm.config import load_config

    return load_config(CONFIGS / "tiny.yaml")


@pytest.fixture(scope="session")
def tensor_cache(tmp_path_factory):
    """One preprocessed-tensor cache for every training test (decoding DICOM once)."""
    return tmp_path_factory.mktemp("tensor-cache")


@pytest.fixture
def tiny_cfg(tiny_base, synth_manifest, tensor_cache, tmp_path):
    """The tiny config as one stage (``pipeline`` removed) on the synthetic cases, run in tmp_path."""

    def make(stage="align", pipeline=False, **train):
        cfg = copy.deepcopy(tiny_base)
        cfg["data"]["train"] = [{"path": str(synth_manifest)}]
        cfg["data"]["val"] = [{"path": str(synth_manifest)}]
        cfg["data"]["cache_dir"] = str(tensor_cache)
        if not pipeline:
            cfg.pop("pipeline")
            cfg["train"]["stage"] = stage
        cfg["train"]["run_dir"] = str(tmp_path / "run")
        cfg["train"].update(train)
        return cfg

    return make
