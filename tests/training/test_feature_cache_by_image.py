"""The feature cache keys images by identity, so the records of one study (report variants,
questions) share one encoder pass."""

import torch

from medmllm.data.collate import Collator
from medmllm.training.feature_cache import FeatureCache


def test_collator_image_keys_follow_pixel_rows():
    x1, x2, c1 = torch.zeros(1, 4, 4), torch.ones(1, 4, 4), torch.zeros(1, 2, 4, 4)
    samples = [{"pixels": {"xray": [x1, x2]}, "image_keys": {"xray": ["a", "b"]}},
               {"pixels": {"xray": [x1], "ct": [c1]}, "image_keys": {"xray": ["a"], "ct": ["c"]}}]
    pix, index, keys = Collator._pixels(samples)
    assert index["xray"].tolist() == [0, 0, 1] and keys["xray"] == [("a", 0), ("b", 0), ("a", 0)]
    assert keys["ct"] == [("c", 0)]
    _, _, none = Collator._pixels([{"pixels": {"xray": [x1]}}])
    assert none is None


def test_feature_cache_shares_features_across_records_of_one_image():
    calls = []

    class Enc(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x.flatten(1)[:, None, :]  # (N, 1, D)

    enc = Enc().eval()
    cache = FeatureCache(max_gb=0.1)
    cache.attach("xray", enc)
    a, b = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    batch1 = {"ids": ["r1", "r2"], "image_sample_index": {"xray": torch.tensor([0, 1])},
              "image_keys": {"xray": [("img-a", 0), ("img-b", 0)]}}
    cache.set_keys(batch1)
    out1 = enc(torch.stack([a, b]))
    # other records (other ids) of the same two images: no new encoder call, same features
    batch2 = {"ids": ["r3", "r4"], "image_sample_index": {"xray": torch.tensor([0, 1])},
              "image_keys": {"xray": [("img-b", 0), ("img-a", 0)]}}
    cache.set_keys(batch2)
    out2 = enc(torch.stack([b, a]))
    assert calls == [2]
    assert torch.equal(out2[0], out1[1]) and torch.equal(out2[1], out1[0])
    assert cache.hits == 2 and cache.misses == 2
