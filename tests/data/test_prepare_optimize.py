"""`medmllm prepare ... --optimize` with the tiny model config, then the DataModule built from the model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medmllm.io.writers import write_ct_series, write_png

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def _use_torch_thread_pool():
    """Run parallel ops first, as a real session does: a forked litdata worker deadlocked after this."""
    torch.set_num_threads(2)
    theta = torch.eye(3, 4).repeat(4, 1, 1)
    grid = torch.nn.functional.affine_grid(theta, (4, 1, 16, 32, 32), align_corners=False)
    assert grid.shape == (4, 16, 32, 32, 3)
    assert float((torch.ones(256, 256) @ torch.ones(256, 256))[0, 0]) == 256.0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_prepare_optimize_and_datamodule_from_model(tmp_path, cli):
    _use_torch_thread_pool()
    src = tmp_path / "export"
    for i in range(3):
        case = src / f"case_{i}"
        write_png(np.full((40, 30), 0.2 * (i + 1)), case / "xray" / "cxr_pa.png")
        write_ct_series(np.full((6, 24, 24), -700.0 + 100 * i), (2.0, 1.0, 1.0), case / "ct")
        (case / "report.txt").write_text(f"Findings: finding {i}.\nImpression: impression {i}.")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"base: {TINY}\ndata:\n  transforms:\n    ct: {{spacing: [2.0, 2.0, 2.0]}}\n")
    out = tmp_path / "cases.jsonl"
    r = cli("prepare", "p2med-dir", src, "--out", out, "--split", "train", "--optimize", tmp_path / "chunks",
            "--config", cfg)
    assert r.code == 0, r
    assert "converted 3, skipped 0" in r.out
    assert f"wrote 3 preprocessed sample(s) as litdata chunks to {tmp_path / 'chunks'}" in r.out
    r = cli("prepare", "p2med-dir", src, "--out", out, "--optimize", tmp_path / "chunks2")
    assert r.code == 2 and "--optimize needs --config" in r.err

    from medmllm.config import DataConfig, from_dict, load_config
    from medmllm.data.datamodule import MedDataModule
    from medmllm.models.mllm import MedMLLM

    conf = load_config(cfg)
    model = MedMLLM.build(conf["model"])
    data = dict(conf["data"], train=[{"path": str(tmp_path / "chunks")}], val=[{"path": str(out), "split": "train"}],
                batch_size=3, num_workers=0)
    dm = MedDataModule.from_model(from_dict(DataConfig, data, "data"), model)
    train = next(iter(dm.train_dataloader()))
    val = next(iter(dm.val_dataloader()))
    assert train["pixel_values"]["xray"].shape == (3, 1, 32, 32)
    assert train["pixel_values"]["ct"].shape == (3, 1, 8, 32, 32)
    assert sorted(train["ids"]) == sorted(val["ids"]) == ["case_0", "case_1", "case_2"]
    order = [val["ids"].index(i) for i in train["ids"]]
    # augmentation is on for training, so only the tokens are compared
    assert torch.equal(train["input_ids"], val["input_ids"][order])
    with torch.no_grad():
        loss = model(input_ids=val["input_ids"], attention_mask=val["attention_mask"], labels=val["labels"],
                     pixel_values=val["pixel_values"], image_sample_index=val["image_sample_index"]).loss
    assert torch.isfinite(loss)
    assert json.loads((tmp_path / "chunks" / "index.json").read_text())["chunks"]
