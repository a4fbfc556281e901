"""Fixtures of the data tests: the real DICOM assets, a tiny tokenizer, a small manifest of images."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="session")
def ct_small():
    from pydicom.data import get_testdata_file

    return get_testdata_file("CT_small.dcm")


@pytest.fixture(scope="session")
def cxr():
    from pydicom.data import get_testdata_file

    return get_testdata_file("RG1_UNCR.dcm")


@pytest.fixture(scope="session")
def tokenizer():
    """A BPE tokenizer trained in-process (ChatML template) with the placeholder tokens added."""
    from medmllm.models.llm import train_tokenizer

    tok = train_tokenizer(["Findings: the lungs are clear. Impression: normal chest.",
                           "Write the radiology report.", "What is shown? Yes No A B C D"], vocab_size=300)
    tok.add_tokens(["<xray>", "<ct>"], special_tokens=True)
    return tok


def tokens_per_image(modality, shape):
    """A stand-in for ``model.num_image_tokens``: 4 tokens per X-ray view, 6 per CT."""
    return 4 if modality == "xray" else 6


@pytest.fixture
def token_fn():
    return tokens_per_image


@pytest.fixture
def specs():
    """Encoder input specs: 1-channel 32x32 X-rays (normalised), 2-window 4x16x16 CT."""
    return {"xray": {"spatial_size": (32, 32), "channels": 1, "mean": [0.5], "std": [0.25]},
            "ct": {"spatial_size": (4, 16, 16), "channels": 2, "mean": None, "std": None}}


@pytest.fixture
def image_manifest(tmp_path):
    """A manifest of 6 samples (X-ray PNGs, one CT series, text-only) with its image files."""
    from medmllm.data.schema import new_record, write_manifest
    from medmllm.io.writers import write_ct_series, write_png

    rng = np.random.default_rng(0)
    recs = []
    for i in range(4):
        write_png(rng.random((40 + 8 * i, 36)), tmp_path / "img" / f"x{i}.png")
        recs.append(new_record(id=f"x{i}", split="train" if i < 3 else "val", task="report",
                               images=[{"modality": "xray", "path": f"img/x{i}.png"}],
                               messages=[{"role": "user", "content": "<xray>\nWrite the radiology report."},
                                         {"role": "assistant", "content": "Findings: the lungs are clear." * (i + 1)}]))
    vol = np.linspace(-1000, 1000, 6 * 20 * 20).reshape(6, 20, 20)
    write_ct_series(vol, (2.0, 1.0, 1.0), tmp_path / "ct" / "c0", series_uid="1.2.826.0.1.1")
    recs.append(new_record(id="c0", split="train", task="report",
                           images=[{"modality": "ct", "path": "ct/c0/", "format": "dicom-series"},
                                   {"modality": "xray", "path": "img/x0.png"}],
                           messages=[{"role": "user", "content": "<xray>\n<ct>\nWrite the radiology report."},
                                     {"role": "assistant", "content": "Impression: normal chest."}]))
    recs.append(new_record(id="mcq0", split="train", task="mcq", choices=["a", "b"], answer="B",
                           messages=[{"role": "user", "content": "What is shown?\nA. a\nB. b"}]))
    path = tmp_path / "m.jsonl"
    write_manifest(path, recs)
    return path


@pytest.fixture
def count_decodes(monkeypatch):
    """Counts medmllm.io.load_image calls (a cache hit decodes nothing)."""
    import medmllm.io

    calls = []
    real = medmllm.io.load_image

    def counting(source, **kw):
        calls.append(str(source))
        return real(source, **kw)

    monkeypatch.setattr(medmllm.io, "load_image", counting)
    return calls
