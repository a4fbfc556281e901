"""Fixtures of the inference tests: copies of the tiny export, images, manifests, a guard that no model loads."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def export_copy(tiny_export, tmp_path):
    """A copy of the tiny export to damage: ``export_copy(edit)`` with ``edit(folder, doc)`` changing files / yaml."""
    from medmllm.config import dump_yaml, read_yaml

    def make(edit=None, name="export"):
        folder = tmp_path / name
        shutil.copytree(tiny_export, folder)
        if edit is not None:
            doc = read_yaml(folder / "medmllm.yaml")
            edit(folder, doc)
            dump_yaml(doc, folder / "medmllm.yaml")
        return folder

    return make


def write_xray(path, seed=0):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 255, (32, 32), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def cases(tmp_path):
    """``cases(records)`` writes a manifest of report records over two PNG X-rays; ``cases.image``."""

    class Cases:
        root = tmp_path / "data"
        image = write_xray(tmp_path / "data" / "img" / "a.png")
        write_xray(tmp_path / "data" / "img" / "b.png", 1)

        def __call__(self, records, name="m.jsonl"):
            path = self.root / name
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            return path

    return Cases()


def _record(i, *, image="img/a.png", reference="Findings: Clear lungs. Impression: Normal.", **kw):
    """A report record; ``reference=None``: prompt-only (the user turn alone)."""
    msgs = [{"role": "user", "content": "<xray>\nWrite the radiology report for this chest radiograph."}]
    if reference is not None:
        msgs.append({"role": "assistant", "content": reference})
    rec = {"id": f"r{i}", "patient_id": f"p{i}", "split": "test", "task": "report",
           "images": [{"modality": "xray", "path": image}], "messages": msgs, "meta": {"lang": "en"}}
    rec.update(kw)
    return rec


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a model's weights start loading (inputs must be refused before)."""
    from medmllm.models.mllm import MedMLLM

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the input was refused")

    monkeypatch.setattr(MedMLLM, "from_pretrained", classmethod(refuse))


def _one_line(r, *needles, alone=True):
    """A refusal: exit 2, ``error: ...`` as the last line of stderr, starting its own line (never glued to a
    progress bar); with ``alone`` it is all stderr holds."""
    assert r.code == 2, r
    last = r.err.splitlines()[-1]
    assert last.startswith("error: ") and r.err.endswith("\n") and r.err.count("error:") == 1, r.err
    if alone:
        assert r.err.count("\n") == 1, r.err
    for n in needles:
        assert n in last, (n, r.err)
    return last


@pytest.fixture
def record():
    return _record


@pytest.fixture
def one_line():
    return _one_line
