"""Streaming from an S3-compatible object store: a local moto server (no network)."""

import pytest
import torch

from medmllm.config import DataConfig, from_dict
from medmllm.data.collate import Collator
from medmllm.data.datamodule import MedDataModule
from medmllm.data.dataset import ManifestDataset
from medmllm.data.streaming import optimize_dataset
from medmllm.data.transforms import build_pipelines
from medmllm.errors import InputError


@pytest.fixture
def s3_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="medmllm-test")
    yield url
    server.stop()


def test_optimize_to_s3_and_stream_back(image_manifest, tmp_path, tokenizer, specs, token_fn, s3_endpoint):
    opts = {"endpoint_url": s3_endpoint}
    pipes = build_pipelines(specs)
    ds = ManifestDataset.from_manifest(image_manifest, pipes, split="train")
    col = Collator(tokenizer, token_fn, max_length=256)
    url = "s3://medmllm-test/chunks/v1"
    assert optimize_dataset(ds, url, collator=col, storage_options=opts) == 5
    with pytest.raises(InputError, match="already holds chunks"):
        optimize_dataset(ds, url, collator=col, storage_options=opts)
    cfg = from_dict(DataConfig, {"train": [{"path": url, "storage_options": opts}], "batch_size": 5,
                                 "num_workers": 0, "transforms": {"augment": {"enabled": False}}}, "data")
    dm = MedDataModule(cfg, tokenizer=tokenizer, num_image_tokens=token_fn, input_specs=specs, max_length=256)
    batch = next(iter(dm.train_dataloader()))
    assert sorted(batch["ids"]) == ["c0", "mcq0", "x0", "x1", "x2"]
    k = batch["ids"].index("c0")
    want = col([ds[3]])
    n = int(want["attention_mask"].sum())
    assert torch.equal(batch["input_ids"][k, :n], want["input_ids"][0, :n])
    ct_row = batch["image_sample_index"]["ct"].tolist().index(k)
    assert torch.equal(batch["pixel_values"]["ct"][ct_row], want["pixel_values"]["ct"][0])
    assert type(batch["pixel_values"]["ct"]) is torch.Tensor  # plain tensors, no MONAI metadata
