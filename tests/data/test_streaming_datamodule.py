"""litdata round trip, the DataModule (mixing, tasks, workers, length grouping), the mixture sampler."""

import json
from collections import Counter

import pytest
import torch

from medmllm.config import DataConfig, from_dict
from medmllm.data.collate import Collator
from medmllm.data.datamodule import MedDataModule
from medmllm.data.dataset import ManifestDataset
from medmllm.data.mixture import MixtureSampler
from medmllm.data.streaming import StreamingSamples, optimize_dataset
from medmllm.data.transforms import build_pipelines
from medmllm.errors import InputError


def test_streaming_round_trip(image_manifest, tmp_path, tokenizer, specs, token_fn):
    pipes = build_pipelines(specs)
    ds = ManifestDataset.from_manifest(image_manifest, pipes, split="any")
    col = Collator(tokenizer, token_fn, max_length=256)
    out = tmp_path / "chunks"
    assert optimize_dataset(ds, out, collator=col) == 6
    assert (out / "index.json").is_file()
    st = StreamingSamples(str(out), pipes, tokenizer=tokenizer, max_length=256, cache_dir=str(tmp_path / "lc"))
    assert len(st) == 6
    by_id = {st[i]["id"]: st[i] for i in range(len(st))}
    for i in range(len(ds)):
        want = ds[i]
        got = by_id[want["id"]]
        assert got["messages"] == want["messages"] and got["task"] == want["task"]
        assert set(got["pixels"]) == set(want["pixels"])
        for m in want["pixels"]:
            assert all(torch.equal(a, b) for a, b in zip(got["pixels"][m], want["pixels"][m]))
        ids, labels = col.encode(want)
        assert got["input_ids"] == ids and got["token_labels"] == labels
    # the pre-tokenised samples collate to the same batch as the originals
    a = col([ds[4], ds[5]])  # c0, mcq0
    b = col([by_id["c0"], by_id["mcq0"]])
    for k in ("input_ids", "labels", "attention_mask"):
        assert torch.equal(a[k], b[k])
    assert torch.equal(a["pixel_values"]["ct"], b["pixel_values"]["ct"])
    # chunks made for other encoder sizes are refused
    other = dict(specs, ct=dict(specs["ct"], spatial_size=(4, 8, 8)))
    with pytest.raises(InputError, match="other transforms or encoder sizes"):
        StreamingSamples(str(out), build_pipelines(other), cache_dir=str(tmp_path / "lc2"))
    with pytest.raises(InputError, match="not empty"):
        optimize_dataset(ds, out, collator=col)
    only = StreamingSamples(str(out), pipes, tokenizer=tokenizer, max_length=256, tasks=["mcq"],
                            cache_dir=str(tmp_path / "lc3"))
    assert len(only) == 1


def test_mixture_sampler_weights_and_determinism():
    s = MixtureSampler([10, 1000], [3.0, 1.0], num_samples=4000, seed=1)
    order = list(s)
    assert len(order) == 4000 and list(s) == order  # same epoch, same order
    small = sum(i < 10 for i in order) / 4000
    assert 0.72 < small < 0.78  # weight 3:1 -> 75 % from the small source (repeated)
    s.set_epoch(1)
    assert list(s) != order
    single = MixtureSampler([50], seed=0)
    assert sorted(single) == list(range(50))  # one source: a permutation
    lengths = list(range(200))
    g = MixtureSampler([200], seed=0, group_lengths=lengths, batch_size=4)
    idx = list(g)
    assert sorted(idx) == list(range(200))
    spreads = [max(idx[k:k + 4]) - min(idx[k:k + 4]) for k in range(0, 200, 4)]
    assert max(spreads) == 3  # each batch holds 4 neighbours in length
    with pytest.raises(ValueError):
        MixtureSampler([3, 0])


def make_dm(image_manifest, tokenizer, specs, token_fn, **data):
    cfg = from_dict(DataConfig, {"train": [{"path": str(image_manifest)}], "val": [{"path": str(image_manifest)}],
                                 "batch_size": 2, "num_workers": 0, **data}, "data")
    return MedDataModule(cfg, tokenizer=tokenizer, num_image_tokens=token_fn, input_specs=specs, max_length=256)


def test_datamodule_mixing_tasks_and_workers(image_manifest, tmp_path, tokenizer, specs, token_fn):
    # a second manifest of text-only mcq records, mixed 1:1 with the image manifest
    mcq = tmp_path / "mcq.jsonl"
    lines = [json.loads(x) for x in image_manifest.read_text().splitlines()]
    mcq.write_text("".join(json.dumps(dict(lines[-1], id=f"q{i}")) + "\n" for i in range(20)))
    dm = make_dm(image_manifest, tokenizer, specs, token_fn, train=[
        {"path": str(image_manifest), "weight": 1.0, "tasks": ["report"]}, {"path": str(mcq), "weight": 1.0}],
        samples_per_epoch=40, num_workers=2, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    assert len(dm.train_set) == 4 + 20 and len(dm.val_set) == 1  # 4 report samples in train; x3 is val
    loader = dm.train_dataloader()
    seen = Counter()
    batches = list(loader)
    for b in batches:
        assert b["input_ids"].shape[0] == len(b["ids"]) <= 2
        seen.update("mcq" if i.startswith("q") else "report" for i in b["ids"])
        if "xray" in b["pixel_values"]:
            assert b["pixel_values"]["xray"].shape[1:] == (1, 32, 32)
    assert sum(seen.values()) == 40 and 12 <= seen["report"] <= 28  # ~1:1 despite 4 vs 20 samples
    val = list(dm.val_dataloader())
    assert [b["ids"] for b in val] == [["x3"]]


def test_datamodule_group_by_length_and_streaming_source(image_manifest, tmp_path, tokenizer, specs, token_fn):
    dm = make_dm(image_manifest, tokenizer, specs, token_fn, group_by_length=True)
    dm.setup("fit")
    ids = [i for b in dm.train_dataloader() for i in b["ids"]]
    assert sorted(ids) == ["c0", "mcq0", "x0", "x1", "x2"]
    pipes = build_pipelines(specs)
    out = tmp_path / "chunks"
    optimize_dataset(ManifestDataset.from_manifest(image_manifest, pipes, split="train"), out,
                     collator=Collator(tokenizer, token_fn, max_length=256))
    sdm = make_dm(image_manifest, tokenizer, specs, token_fn, train=[{"path": str(out)}], val=[], num_workers=2)
    sdm.setup("fit")
    got = sorted(i for b in sdm.train_dataloader() for i in b["ids"])
    assert got == ["c0", "mcq0", "x0", "x1", "x2"]
    assert sdm.val_dataloader() == []
