"""Every encoder x connector: builds, and its token count equals the count computed here from the
image size, patch size and connector settings (not from the modules' own reports)."""

import math

import numpy as np
import pytest
import torch

from medmllm.errors import ConfigError
from medmllm.registry import CONNECTORS, ENCODERS

OUT = 24  # LLM width


def encoders(assets):
    """name -> (config, input shape, patch grid, prefix tokens), all computed by hand."""
    vit = dict(hidden_size=16, num_layers=1, num_heads=2)
    return {
        "vit2d": ({"name": "vit2d", "image_size": 32, "patch_size": 8, "channels": 1, **vit}, (1, 32, 32), (4, 4), 0),
        "vit2d_rect": ({"name": "vit2d", "image_size": [48, 32], "patch_size": [16, 8], "channels": 3, **vit},
                       (3, 48, 32), (3, 4), 0),
        "vit3d": ({"name": "vit3d", "image_size": [8, 32, 32], "patch_size": [4, 8, 8], **vit}, (1, 8, 32, 32),
                  (2, 4, 4), 0),
        "clip": ({"name": "hf_vision", "path": str(assets / "clip"), "layer": -2}, (3, 32, 32), (4, 4), 0),
        "clip_cls": ({"name": "hf_vision", "path": str(assets / "clip"), "drop_cls": False}, (3, 32, 32), (4, 4), 1),
        "siglip": ({"name": "hf_vision", "path": str(assets / "siglip")}, (3, 32, 32), (4, 4), 0),
        "dinov2": ({"name": "hf_vision", "path": str(assets / "dinov2")}, (3, 28, 28), (4, 4), 0),
        # 2.5D: 12 slices, slabs of 2 -> 6 slab images, pooled into 3 depth groups of a 4x4 grid
        "slices2d": ({"name": "slices2d", "num_slices": 12, "slab": 2, "depth_groups": 3,
                      "encoder": {"name": "vit2d", "image_size": 32, "patch_size": 8, "channels": 1, **vit}},
                     (1, 12, 32, 32), (3, 4, 4), 0),
        "slices2d_clip": ({"name": "slices2d", "num_slices": 4, "depth_groups": 2,
                           "encoder": {"name": "hf_vision", "path": str(assets / "clip")}},
                          (1, 4, 32, 32), (2, 4, 4), 0),
    }


CONNECTOR_CASES = {
    "linear": ({"name": "linear"}, lambda n, grid: n),
    "mlp2x_gelu": ({"name": "mlp2x_gelu"}, lambda n, grid: n),
    "mlp3x_gelu": ({"name": "mlp3x_gelu"}, lambda n, grid: n),
    "spatial_pool": ({"name": "spatial_pool", "grid": 2}, lambda n, grid: n - math.prod(grid) + 2 ** len(grid)),
    "perceiver": ({"name": "perceiver", "num_latents": 5, "depth": 2, "heads": 2}, lambda n, grid: 5),
    "attn_pool": ({"name": "attn_pool", "num_queries": 3, "heads": 2}, lambda n, grid: 3),
}


@pytest.fixture(scope="module")
def built(hf_assets):
    out = {}
    for key, (cfg, shape, grid, prefix) in encoders(hf_assets).items():
        kw = {k: v for k, v in cfg.items() if k != "name"}
        out[key] = (ENCODERS.build(cfg["name"], **kw), shape, grid, prefix)
    return out


@pytest.mark.parametrize("enc_key", ["vit2d", "vit2d_rect", "vit3d", "clip", "clip_cls", "siglip", "dinov2",
                                     "slices2d", "slices2d_clip"])
@pytest.mark.parametrize("con_key", list(CONNECTOR_CASES))
def test_token_counts(built, enc_key, con_key):
    enc, shape, grid, prefix = built[enc_key]
    con_cfg, expect = CONNECTOR_CASES[con_key]
    n_enc = prefix + math.prod(grid)
    want = expect(n_enc, grid)
    kw = {k: v for k, v in con_cfg.items() if k != "name"}
    con = CONNECTORS.build(con_cfg["name"], in_dim=enc.hidden_size, out_dim=OUT, **kw)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        feats = enc(x)
        assert feats.shape == (2, n_enc, enc.hidden_size)
        out = con(feats, enc.grid(shape))
    assert out.shape == (2, want, OUT)
    assert enc.num_tokens(shape) == n_enc
    assert con.num_tokens(enc.num_tokens(shape), enc.grid(shape)) == want


def test_hf_vision_reads_tower_and_preprocessor(hf_assets, built):
    clip, siglip, dino = built["clip"][0], built["siglip"][0], built["dinov2"][0]
    assert clip.input_spec == {"spatial_size": (32, 32), "channels": 3, "mean": [0.48, 0.46, 0.41],
                               "std": [0.27, 0.26, 0.28]}
    assert dino.input_spec["spatial_size"] == (28, 28)  # the crop, not the resize
    assert siglip.input_spec["mean"] == [0.5, 0.5, 0.5]
    # the chosen hidden layer: layer -2 of CLIP equals the tower's own hidden_states[-2] without CLS
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = clip.tower(pixel_values=x, output_hidden_states=True).hidden_states[-2][:, 1:]
        assert torch.equal(clip(x), ref)


def test_hf_vision_preprocessor_values_reach_the_data_pipeline(built, tmp_path):
    """Images for a tower are sized and normalised by the data pipeline with the tower's own values."""
    from medmllm.data.transforms import ImagePipeline
    from medmllm.io.writers import write_png

    dino = built["dinov2"][0]
    write_png(np.full((40, 60), 0.5), tmp_path / "gray.png")  # grayscale, repeated to RGB
    spec = dino.input_spec
    out = ImagePipeline("xray", spec).preprocess(str(tmp_path / "gray.png"))
    assert out.shape == (3, 28, 28)  # the tower's crop size
    plain = ImagePipeline("xray", {**spec, "mean": None, "std": None}).preprocess(str(tmp_path / "gray.png"))
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(out, (plain - mean.view(3, 1, 1)) / std.view(3, 1, 1), atol=1e-5)


def test_bad_configs_raise():
    with pytest.raises(ConfigError, match="unknown encoder 'vit4d'.*vit2d"):
        ENCODERS.build("vit4d")
    with pytest.raises(ConfigError, match="patch"):
        ENCODERS.build("vit2d", image_size=30, patch_size=8)
    with pytest.raises(ConfigError, match="spatial_pool grid"):
        con = CONNECTORS.build("spatial_pool", in_dim=4, out_dim=4, grid=8)
        con.num_tokens(16, (4, 4))
    with pytest.raises(ConfigError, match="connector 'perceiver'"):
        CONNECTORS.build("perceiver", in_dim=4, out_dim=4, latents=3)
