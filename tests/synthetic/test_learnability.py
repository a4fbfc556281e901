"""Findings are learnable from pixels: a small CNN trained for about a minute on 900 synthetic
radiographs (64 x 64, half the default size) separates every finding key on held-out cases.

This is the property the quickstart relies on (it trains a tiny model from scratch on these cases):
if a change to the phantom made a finding invisible, too faint or too rare to learn, this fails.
"""

import numpy as np
import pytest

from medmllm.data.synthetic import SynthConfig, render_case
from medmllm.findings import FINDING_KEYS

N_CASES, N_TRAIN, EPOCHS, WIDTH = 1200, 900, 40, 24


def _dataset():
    cfg = SynthConfig(xray_size=(64, 64), xray_depth=16, prevalence="balanced", langs=("en",), tasks=(),
                      render_ct=False)
    images, labels = [], []
    for i in range(N_CASES):
        case = render_case(101, i, cfg)
        images.append(case.xray)
        labels.append([case.labels[k] for k in FINDING_KEYS])
    return np.stack(images)[:, None], np.asarray(labels, dtype=np.float32)  # (N, 1, 64, 64), (N, K)


def _net(torch, width: int, n_out: int):
    nn = torch.nn

    def block(a, b, **kw):
        return [nn.Conv2d(a, b, kw.pop("k", 3), padding=kw.pop("p", 1), bias=False, **kw), nn.BatchNorm2d(b), nn.ReLU()]

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(1, width, k=5, p=2, stride=2), nn.MaxPool2d(2),
                                          *block(width, width), *block(width, width))  # (B, W, 16, 16)
            self.head = nn.Linear(width * 17, n_out)

        def forward(self, x):
            h = self.features(x)
            pooled = torch.cat([nn.functional.adaptive_max_pool2d(h, 4).flatten(1), h.mean((2, 3))], 1)
            return self.head(pooled)  # (B, K)

    return Probe()


@pytest.mark.slow
def test_every_finding_is_learnable_from_the_radiograph():
    torch = pytest.importorskip("torch")
    from sklearn.metrics import roc_auc_score

    x, y = _dataset()
    assert y[:N_TRAIN].sum(0).min() >= 40  # every key has enough positives to learn from (balanced profile)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        data = torch.from_numpy((x - x[:N_TRAIN].mean()) / x[:N_TRAIN].std())
        target = torch.from_numpy(y)
        prevalence = target[:N_TRAIN].mean(0).clamp(min=1e-3)
        pos_weight = ((1 - prevalence) / prevalence).sqrt()
        model = _net(torch, WIDTH, len(FINDING_KEYS))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        batch = 64
        steps = EPOCHS * ((N_TRAIN + batch - 1) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        for _ in range(EPOCHS):
            model.train()
            perm = torch.randperm(N_TRAIN)
            for b in range(0, N_TRAIN, batch):
                idx = perm[b:b + batch]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(data[idx]), target[idx],
                                                                            pos_weight=pos_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            scores = model(data[N_TRAIN:]).numpy()
    finally:
        torch.set_num_threads(threads)
    auroc = {k: roc_auc_score(y[N_TRAIN:, j], scores[:, j]) for j, k in enumerate(FINDING_KEYS)}
    weak = {k: round(v, 3) for k, v in auroc.items() if v < 0.9}
    assert not weak, f"held-out AUROC below 0.9: {weak} (all: { {k: round(v, 3) for k, v in auroc.items()} })"
