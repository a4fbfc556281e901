"""The fast path of warm epochs: in-memory tensors, remembered tokenisation, in-plane augmentation."""

import pickle

import numpy as np
import torch

from medmllm.data.cache import MemoryCache, TensorCache
from medmllm.data.collate import Collator
from medmllm.data.dataset import ManifestDataset
from medmllm.data.transforms import ImagePipeline, build_pipelines


def test_memory_cache_budget_lru_and_stamps():
    mem = MemoryCache(3 * 400)  # room for three 100-float tensors
    xs = {k: torch.full((100,), float(k)) for k in range(4)}
    for k in range(3):
        mem.put(k, ("s", k), xs[k])
    assert mem.bytes == 1200 and len(mem) == 3
    assert mem.get(0, ("s", 0)) is xs[0]  # 0 is now the most recently used
    mem.put(3, ("s", 3), xs[3])  # evicts 1, the least recently used
    assert mem.get(1, ("s", 1)) is None and mem.get(0, ("s", 0)) is xs[0] and mem.get(3, ("s", 3)) is xs[3]
    assert mem.get(2, ("changed", 2)) is None  # another stamp (the file changed): not returned
    mem.put(9, "s", torch.zeros(1000))  # larger than the whole budget: not kept, nothing evicted
    assert len(mem) == 3 and mem.bytes == 1200
    assert (mem.hits, mem.misses) == (3, 2)
    clone = pickle.loads(pickle.dumps(mem))  # what a DataLoader worker gets: same budget, empty
    assert clone.max_bytes == 1200 and len(clone) == 0 and clone.bytes == 0


def test_warm_epoch_neither_decodes_nor_hashes(image_manifest, tmp_path, count_decodes, specs, monkeypatch):
    from medmllm.io.writers import write_png

    hashed = []
    real_hash = TensorCache.content_hash
    monkeypatch.setattr(TensorCache, "content_hash", lambda self, p: hashed.append(p) or real_hash(self, p))
    mem = MemoryCache(2**24)
    ds = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="any",
                                       cache=TensorCache(tmp_path / "cache"), memory=mem)
    first = [ds[i] for i in range(len(ds))]
    assert len(count_decodes) == 5 and len(hashed) == 5 and len(mem) == 5  # x0.png is shared: one entry
    count_decodes.clear(), hashed.clear()
    second = [ds[i] for i in range(len(ds))]
    assert count_decodes == [] and hashed == [] and mem.hits == 1 + 6
    for a, b in zip(first, second):
        for m in a["pixels"]:
            assert all(torch.equal(x, y) for x, y in zip(a["pixels"][m], b["pixels"][m]))
    # a replaced file (the writers rename into place) is read again, not served from memory
    write_png(np.ones((40, 36)), image_manifest.parent / "img" / "x0.png")
    after = ds[0]["pixels"]["xray"][0]
    assert len(count_decodes) == 1 and not torch.equal(after, first[0]["pixels"]["xray"][0])
    # the same as the uncached path
    plain = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="any")
    assert torch.equal(plain[0]["pixels"]["xray"][0], after)
    assert torch.equal(plain[4]["pixels"]["ct"][0], second[4]["pixels"]["ct"][0])


def test_collator_remembers_encodings(image_manifest, tokenizer, token_fn, specs, monkeypatch):
    import medmllm.data.collate as collate

    calls = []
    real = collate.encode_conversation
    monkeypatch.setattr(collate, "encode_conversation", lambda *a, **k: calls.append(k["sample_id"]) or real(*a, **k))
    ds = ManifestDataset.from_manifest(image_manifest, build_pipelines(specs), split="any")
    samples = [ds[i] for i in range(len(ds))]
    memo, plain = Collator(tokenizer, token_fn, 256), Collator(tokenizer, token_fn, 256, memo_size=0)
    a = memo(samples)
    assert len(calls) == 6
    b = memo(samples[::-1])
    assert len(calls) == 6  # every conversation came from the memo
    c = plain(samples[::-1])
    assert len(calls) == 12
    for key in ("input_ids", "labels", "attention_mask"):
        assert torch.equal(b[key], c[key])
    assert torch.equal(a["input_ids"][0], b["input_ids"][-1])
    # other image-token counts are another entry (the key includes them)
    other = Collator(tokenizer, lambda m, s: 2, 256)
    short = other(samples[:1])
    assert len(calls) == 13 and short["attention_mask"].sum() == a["attention_mask"][0].sum() - 2  # 2 vs 4 tokens


def test_ct_augmentation_moves_every_slice_alike():
    from monai.data import get_track_meta

    from medmllm.config import TransformConfig

    cfg = TransformConfig()
    cfg.augment.prob = 1.0
    pipe = ImagePipeline("ct", {"spatial_size": (6, 24, 24), "channels": 2, "mean": None, "std": None}, cfg, train=True)
    plane = torch.zeros(24, 24)
    plane[6:18, 9:15] = 1.0
    x = plane.expand(2, 6, 24, 24).clone()  # (C, D, H, W): every slice the same
    before = x.clone()
    outs = [pipe.augment(x) for _ in range(4)]
    assert torch.equal(x, before) and get_track_meta()  # input untouched, MONAI's switch restored
    for y in outs:
        assert y.shape == x.shape and type(y) is torch.Tensor
        assert torch.allclose(y, y[:1, :1].expand_as(y), atol=1e-6)  # one in-plane transform for all slices
    assert not torch.allclose(outs[0], outs[1])  # but random from call to call


def test_stages_in_one_process_share_decoded_images(image_manifest, tokenizer, specs, token_fn, count_decodes):
    """A later stage's data module (same process, same transforms) decodes nothing the earlier one did."""
    from medmllm.config import DataConfig, from_dict
    from medmllm.data.datamodule import MedDataModule

    def module(**data):
        cfg = from_dict(DataConfig, {"train": [{"path": str(image_manifest)}], "batch_size": 2,
                                     "num_workers": 0, "transforms": {"augment": {"enabled": False}}, **data},
                        "data")
        dm = MedDataModule(cfg, tokenizer=tokenizer, num_image_tokens=token_fn, input_specs=specs,
                           max_length=256)
        dm.setup("fit")
        return dm

    first = module(memory_cache_gb=0.01)
    a = [first.train_set[i]["pixels"] for i in range(len(first.train_set))]
    decoded = len(count_decodes)
    assert decoded > 0
    second = module(memory_cache_gb=0.01)
    assert second.memory is first.memory
    b = [second.train_set[i]["pixels"] for i in range(len(second.train_set))]
    assert len(count_decodes) == decoded  # every image came from the shared cache
    assert all(torch.equal(x, y) for pa, pb in zip(a, b) for m in pa for x, y in zip(pa[m], pb[m]))
    third = module(memory_cache_gb=0.02)  # another budget: a fresh cache (the old one is let go)
    assert third.memory is not first.memory and len(third.memory) == 0
    assert module(memory_cache_gb=0).memory is None
    MemoryCache.release_shared()
    fresh = module(memory_cache_gb=0.02)
    assert fresh.memory is not third.memory and len(fresh.memory) == 0
