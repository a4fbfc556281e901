"""EncoderPretrainer: samples without reports, validation features, heads saved and loaded with an export."""

import pytest
import torch

from medmllm.config import load_config
from medmllm.errors import InputError
from medmllm.pretraining.heads import HEADS_FILE, build_pretrainer, has_heads, load_pretrainer, save_heads
from medmllm.pretraining.objective import gather_rows, info_nce

SMALL = {"text": {"name": "small", "width": 32, "layers": 1, "heads": 2}, "embed_dim": 16,
         "labels": ["normal", "nodule", "cardiomegaly"]}


@pytest.fixture(scope="module")
def pre():
    from medmllm.models.mllm import MedMLLM

    torch.manual_seed(0)
    return build_pretrainer(MedMLLM.build(load_config("configs/tiny.yaml")["model"]), SMALL)


def test_samples_without_report_only_enter_the_bce_term(pre):
    torch.manual_seed(1)
    pix = {"xray": torch.randn(3, 1, 32, 32)}
    index = {"xray": torch.arange(3)}
    labels = [{"normal": 1}, {"nodule": 1}, {"cardiomegaly": 1, "normal": 0}]
    feats = {}
    out = pre(pix, index, ["clear lungs", None, "big heart"], labels, features=feats)
    pre.eval()
    with torch.no_grad():
        img = pre.image_embedding("xray", pix["xray"])
        txt = pre.text_embedding(["clear lungs", "big heart"])
    pre.train()
    # the contrastive term covers samples 0 and 2 only (label-aware targets: different findings -> identity)
    expected = info_nce(pre.image_proj["xray"](pre.pooled("xray", pix["xray"]))[[0, 2]], txt, pre.logit_scale)
    assert out["xray/contrastive"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert feats["xray"]["samples"].tolist() == [0, 1, 2] and feats["xray"]["head"].shape == (3, 3)
    assert torch.allclose(feats["text"][[0, 2]], txt, atol=1e-5) and feats["text"][1].abs().sum() == 0
    assert torch.allclose(feats["xray"]["image"].norm(dim=-1), torch.ones(3), atol=1e-5)
    assert img.shape == (3, 16)
    # one report in the batch: nothing to contrast, only the BCE
    out = pre(pix, index, [None, "x", None], labels)
    assert set(out) == {"loss", "xray/bce"}


def test_gather_rows_is_the_identity_in_one_process():
    x = torch.randn(4, 3, requires_grad=True)
    assert gather_rows(x) is x


def test_heads_round_trip_with_the_export(pre, tmp_path):
    pre.model.save_pretrained(tmp_path / "export")
    assert not has_heads(tmp_path / "export")
    with pytest.raises(InputError, match="no pretraining heads"):
        load_pretrainer(tmp_path / "export")
    save_heads(pre, tmp_path / "export", SMALL)
    assert has_heads(tmp_path / "export")
    loaded = load_pretrainer(tmp_path / "export")
    assert loaded.label_keys == ("normal", "nodule", "cardiomegaly")
    pre.eval()
    x = torch.randn(2, 1, 32, 32)
    texts = ["right lower lobe consolidation", "no consolidation"]
    with torch.no_grad():
        assert torch.allclose(loaded.image_embedding("xray", x), pre.image_embedding("xray", x), atol=1e-6)
        assert torch.allclose(loaded.text_embedding(texts), pre.text_embedding(texts), atol=1e-6)
        assert torch.allclose(loaded.predict_labels("xray", x), pre.predict_labels("xray", x), atol=1e-6)
    assert loaded.logit_scale.item() == pytest.approx(pre.logit_scale.item())
    pre.train()
    # heads of another size are refused with the file named
    other = build_pretrainer(pre.model, {**SMALL, "embed_dim": 8})
    save_heads(other, tmp_path / "export", SMALL)  # config says 16, weights are 8 wide
    with pytest.raises(InputError, match="head shapes do not match"):
        load_pretrainer(tmp_path / "export")
    (tmp_path / "export" / HEADS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="unreadable safetensors"):
        load_pretrainer(tmp_path / "export")
