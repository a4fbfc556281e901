"""Tensor cache (hit path proven by counting decodes), dataset samples, collation."""

import os

import pytest
import torch

from medmllm.data.cache import TensorCache
from medmllm.data.collate import Collator
from medmllm.data.conversation import IGNORE_INDEX
from medmllm.data.dataset import ManifestDataset
from medmllm.data.transforms import build_pipelines
from medmllm.errors import InputError


def test_second_pass_decodes_nothing(image_manifest, tmp_path, count_decodes, specs):
    pipes = build_pipelines(specs)
    cache = TensorCache(tmp_path / "cache")
    ds = ManifestDataset.from_manifest(image_manifest, pipes, split="any", cache=cache)
    first = [ds[i] for i in range(len(ds))]
    # 4 X-ray files + 1 CT series; x0.png is used twice and decoded once
    assert len(count_decodes) == 5 and cache.misses == 5 and cache.hits == 1
    count_decodes.clear()
    second = [ds[i] for i in range(len(ds))]
    assert count_decodes == [] and cache.hits == 7
    for a, b in zip(first, second):
        for m in a["pixels"]:
            assert all(torch.equal(x, y) for x, y in zip(a["pixels"][m], b["pixels"][m]))
    # a new process (fresh cache object) also hits: the content hashes are remembered on disk
    fresh = ManifestDataset.from_manifest(image_manifest, pipes, split="any", cache=TensorCache(tmp_path / "cache"))
    fresh[4]
    assert count_decodes == [] and fresh.cache.hits == 2


def test_stale_entries_are_never_used(image_manifest, tmp_path, count_decodes, specs):
    from medmllm.config import TransformConfig
    from medmllm.io.writers import write_png

    cache = TensorCache(tmp_path / "cache")
    ds = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="any", cache=cache)
    before = ds[0]["pixels"]["xray"][0]
    # changed file content -> a new key -> decoded again, new values
    write_png(torch.ones(40, 36).numpy(), image_manifest.parent / "img" / "x0.png")
    count_decodes.clear()
    after = ds[0]["pixels"]["xray"][0]
    assert len(count_decodes) == 1 and not torch.equal(before, after)
    # changed transform config -> decoded again
    cfg = TransformConfig()
    cfg.xray.interpolation = "bilinear"
    ds2 = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs, cfg), split="any", cache=cache)
    count_decodes.clear()
    ds2[0]
    assert len(count_decodes) == 1
    # a damaged entry is recomputed, not trusted
    for root, _, files in os.walk(tmp_path / "cache" / "tensors"):
        for f in files:
            open(os.path.join(root, f), "wb").write(b"garbage")
    count_decodes.clear()
    again = ds[0]["pixels"]["xray"][0]
    assert len(count_decodes) == 1 and torch.equal(again, after)
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # no temporary file left behind


def test_samples_and_answer_target(image_manifest, specs):
    ds = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="train")
    assert [r["id"] for r in ds.records] == ["x0", "x1", "x2", "c0", "mcq0"]
    s = ds[3]
    assert s["pixels"]["xray"][0].shape == (1, 32, 32) and s["pixels"]["ct"][0].shape == (2, 4, 16, 16)
    mcq = ds[4]
    assert mcq["pixels"] == {} and mcq["messages"][-1] == {"role": "assistant", "content": "B"}
    only_mcq = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="any", tasks=["mcq"])
    assert len(only_mcq) == 1
    xray_only = ManifestDataset.from_manifest(image_manifest, build_pipelines({"xray": specs["xray"]}), split="any")
    assert len(xray_only) == 5 and xray_only.skipped == {"needs a ct encoder the model does not have": 1}
    with pytest.raises(InputError, match="no record with split val, task in \\['mcq'\\] and variant in any"):
        ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="val", tasks=["mcq"])


def test_collator_batch(image_manifest, tokenizer, specs, token_fn):
    ds = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="train")
    col = Collator(tokenizer, token_fn, max_length=256)
    batch = col([ds[0], ds[3], ds[4]])
    assert batch["ids"] == ["x0", "c0", "mcq0"]
    b, t = batch["input_ids"].shape
    assert b == 3 and batch["labels"].shape == (3, t) and batch["attention_mask"].shape == (3, t)
    assert batch["pixel_values"]["xray"].shape == (2, 1, 32, 32)
    assert batch["pixel_values"]["ct"].shape == (1, 2, 4, 16, 16)
    assert batch["image_sample_index"]["xray"].tolist() == [0, 1]
    assert batch["image_sample_index"]["ct"].tolist() == [1]
    xray_id, ct_id = tokenizer.convert_tokens_to_ids(["<xray>", "<ct>"])
    assert (batch["input_ids"] == xray_id).sum(1).tolist() == [4, 4, 0]
    assert (batch["input_ids"] == ct_id).sum(1).tolist() == [0, 6, 0]
    # right padding: attention ends where padding starts; padded labels are ignored
    lengths = batch["attention_mask"].sum(1)
    for i, n in enumerate(lengths.tolist()):
        assert batch["attention_mask"][i, :n].all() and not batch["attention_mask"][i, n:].any()
        assert (batch["labels"][i, n:] == IGNORE_INDEX).all()
    # only the assistant turn is supervised: the mcq answer "B" is among the labels
    sup = batch["labels"][2][batch["labels"][2] != IGNORE_INDEX].tolist()
    assert tokenizer.decode(sup).startswith("B")
    left = Collator(tokenizer, token_fn, max_length=256, padding_side="left", add_generation_prompt=True)
    lb = left([ds[0], ds[4]])
    assert lb["attention_mask"][:, -1].all() and (lb["labels"] == IGNORE_INDEX).all()


def test_collator_anyres_and_too_long(image_manifest, tokenizer, specs, token_fn):
    col = Collator(tokenizer, token_fn, max_length=256)
    views = torch.zeros(5, 1, 32, 32)  # AnyRes: global view + 4 tiles
    s = {"id": "a", "messages": [{"role": "user", "content": "<xray>\nHi"}, {"role": "assistant", "content": "Yes"}],
         "pixels": {"xray": [views]}}
    batch = col([s])
    assert batch["pixel_values"]["xray"].shape == (5, 1, 32, 32)
    assert batch["image_sample_index"]["xray"].tolist() == [0] * 5
    assert (batch["input_ids"] == tokenizer.convert_tokens_to_ids("<xray>")).sum() == 20
    short = Collator(tokenizer, token_fn, max_length=8)
    with pytest.raises(InputError, match="every sample of a batch is longer than max_length 8"):
        short([s])
    assert short.dropped == 1
