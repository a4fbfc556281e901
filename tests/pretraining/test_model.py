import math

import pytest
import torch
import torch.nn.functional as F

from medmllm.config import load_config
from medmllm.pretraining.model import EncoderPretrainer
from medmllm.pretraining.objective import info_nce, same_label_targets


def test_info_nce_matches_hand_computation():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    scale = torch.tensor(math.log(10.0))
    # logits = 10 * cosine: [[10, 6], [0, 8]]
    l_i2t = 0.5 * ((-10 + math.log(math.exp(10) + math.exp(6))) + (-8 + math.log(1 + math.exp(8))))
    # text->image: columns: [[10, 0], [6, 8]]
    l_t2i = 0.5 * ((-10 + math.log(math.exp(10) + 1)) + (-8 + math.log(math.exp(6) + math.exp(8))))
    assert info_nce(img, txt, scale).item() == pytest.approx(0.5 * (l_i2t + l_t2i), rel=1e-5)
    # perfectly aligned, well separated pairs: loss near zero; swapped pairs: large
    eye = torch.eye(4)
    assert info_nce(eye, eye, torch.tensor(math.log(100.0))).item() < 1e-3
    assert info_nce(eye, eye.flip(0), torch.tensor(math.log(100.0))).item() > 50


def test_same_label_targets_rows_sum_to_one():
    y = torch.tensor([[1, 0], [1, 0], [0, 1]], dtype=torch.float32)
    t = same_label_targets(y)
    assert torch.allclose(t, torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))


@pytest.fixture(scope="module")
def tiny_model():
    from medmllm.models.mllm import MedMLLM

    cfg = load_config("configs/tiny.yaml")
    torch.manual_seed(0)
    return MedMLLM.build(cfg["model"])


def test_pretrainer_loss_terms_and_gradients(tiny_model):
    pre = EncoderPretrainer(tiny_model, text={"name": "small", "width": 32, "layers": 1, "heads": 2}, embed_dim=16)
    pix = {"xray": torch.randn(3, 1, 32, 32), "ct": torch.randn(1, 1, 8, 32, 32)}
    index = {"xray": torch.tensor([0, 1, 2]), "ct": torch.tensor([1])}
    labels = [{"normal": 1, "cardiomegaly": 0}, {"normal": 0, "cardiomegaly": 1}, None]
    out = pre(pix, index, ["normal chest", "the heart is enlarged", "no effusion"], labels)
    assert set(out) == {"loss", "xray/contrastive", "xray/bce", "ct/bce"}  # ct has one sample: no contrast
    out["loss"].backward()
    enc_grads = [p.grad for p in tiny_model.encoders["xray"].parameters() if p.grad is not None]
    assert enc_grads and any(g.abs().sum() > 0 for g in enc_grads)
    assert pre.logit_scale.grad is not None
    # unknown labels are ignored: the BCE only covers the 2 known entries of the CT sample's row
    y = pre.label_matrix(labels)
    assert torch.isnan(y[2]).all() and int((~torch.isnan(y)).sum()) == 4


def test_pretraining_separates_a_visible_finding(tiny_model):
    """A few dozen steps on a toy task: bright images <-> 'opacity' reports become retrievable."""
    torch.manual_seed(0)
    pre = EncoderPretrainer(tiny_model, text={"name": "small", "width": 32, "layers": 1, "heads": 2},
                            embed_dim=16, labels=["normal", "nodule"], label_aware=True)
    opt = torch.optim.AdamW(pre.parameters(), lr=3e-3)

    def batch(n, gen):
        y = torch.randint(0, 2, (n,), generator=gen)
        x = torch.randn(n, 1, 32, 32, generator=gen) * 0.3 + y[:, None, None, None] * 1.5
        texts = ["a nodule is seen" if v else "lungs are clear" for v in y.tolist()]
        labels = [{"normal": 1 - v, "nodule": v} for v in y.tolist()]
        return x, texts, labels, y

    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        x, texts, labels, _ = batch(16, g)
        loss = pre({"xray": x}, {"xray": torch.arange(16)}, texts, labels)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, texts, labels, y = batch(32, torch.Generator().manual_seed(99))
    with torch.no_grad():
        img = pre.image_embedding("xray", x)
        txt = pre.text_embedding(["a nodule is seen", "lungs are clear"])
        pred = (img @ txt.T).argmax(1)  # 0 -> nodule prompt
        acc = ((pred == 0).long() == y).float().mean().item()
        head = pre.predict_labels("xray", x)[:, 1]
    assert acc >= 0.9
    assert ((head > 0.5).long() == y).float().mean().item() >= 0.9
