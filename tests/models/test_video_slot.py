"""The video slot: frame encoder + temporal connector, the 3D encoder over time, token budget, interleaving,
and the learnability probe (direction of motion: the video model learns it, one frame cannot)."""

import logging

import pytest
import torch

from medmllm.config import load_config
from medmllm.errors import ConfigError
from medmllm.models.mllm import MedMLLM

from .conftest import CT_SHAPE, TINY_YAML, XRAY_SHAPE, make_batch

VIDEO_SHAPE = (1, 8, 32, 32)  # (C, T, H, W)
VIT = {"name": "vit2d", "image_size": 32, "patch_size": 8, "channels": 1, "hidden_size": 32, "num_layers": 1,
       "num_heads": 2}


def _config(video: dict) -> dict:
    cfg = load_config(TINY_YAML)["model"]
    cfg["modalities"]["video"] = video
    return cfg


@pytest.fixture(scope="module")
def three_slot_model():
    torch.manual_seed(0)
    video = {"encoder": {"name": "frames2d", "num_frames": 8, "encoder": VIT},
             "connector": {"name": "temporal_attn", "grid": 2, "time_tokens": 2, "heads": 2}}
    return MedMLLM.build(_config(video)).eval()


def test_frames2d_and_temporal_attn_shapes_and_token_budget(three_slot_model, caplog):
    m = three_slot_model
    enc = m.encoders["video"]
    assert m.input_spec("video")["spatial_size"] == (8, 32, 32)
    assert enc.grid(VIDEO_SHAPE) == (8, 4, 4) and enc.num_tokens(VIDEO_SHAPE) == 8 * 16
    x = torch.randn(3, *VIDEO_SHAPE)
    with torch.no_grad():
        feats = enc(x)
        out = m.connectors["video"](feats, enc.grid(VIDEO_SHAPE))
    assert feats.shape == (3, 128, 32) and out.shape == (3, 2 * 2 * 2, 64)
    assert m.num_image_tokens("video", VIDEO_SHAPE) == 8
    assert m.token_budget("video") == ("video: clip of 8 frames of 32 x 32 (1 channel(s)) -> 128 encoder tokens -> "
                                       "8 LLM tokens per clip")
    with caplog.at_level(logging.INFO, logger="medmllm.models.mllm"):
        MedMLLM.build(_config(m.config.modalities["video"].__dict__))
    assert any("token budget: video: clip of 8 frames" in r.getMessage() for r in caplog.records)


def test_frame_order_changes_the_features(three_slot_model):
    """The time embedding and the temporal connector see order: reversed frames give other tokens."""
    m = three_slot_model
    x = torch.randn(1, *VIDEO_SHAPE)
    grid = m.encoders["video"].grid(VIDEO_SHAPE)
    with torch.no_grad():
        a = m.connectors["video"](m.encoders["video"](x), grid)
        b = m.connectors["video"](m.encoders["video"](x.flip(2)), grid)
    assert (a - b).abs().max() > 1e-3


def test_video_interleaves_with_xray_and_ct_in_one_sample(three_slot_model):
    m = three_slot_model
    torch.manual_seed(1)
    samples = [([{"role": "user", "content": "<xray>\n<video>\nCompare the clip with the radiograph and the CT.\n<ct>"},
                 {"role": "assistant", "content": "No change."}],
                {"xray": [torch.randn(XRAY_SHAPE)], "ct": [torch.randn(CT_SHAPE)],
                 "video": [torch.randn(VIDEO_SHAPE)]}),
               ([{"role": "user", "content": "<video>\n<video>\nWhich clip moves?"},
                 {"role": "assistant", "content": "The second."}],
                {"video": [torch.randn(VIDEO_SHAPE), torch.randn(VIDEO_SHAPE)]})]
    batch = make_batch(m, samples)
    ids = batch["input_ids"]
    assert (ids == m.placeholder_ids["video"]).sum(1).tolist() == [8, 16]
    with torch.no_grad():
        emb = m.embed(ids, batch["pixel_values"], batch["image_sample_index"])
        v = m.connectors["video"](m.encoders["video"](batch["pixel_values"]["video"]), (8, 4, 4))  # (3, 8, D)
    vpos = ids == m.placeholder_ids["video"]
    assert torch.allclose(emb[0][vpos[0]], v[0]) and torch.allclose(emb[1][vpos[1]], torch.cat([v[1], v[2]]))
    out = m(**batch)
    assert torch.isfinite(out.loss)


def test_vit3d_over_time_and_perceiver_over_frames():
    torch.manual_seed(0)
    tube = {"encoder": {"name": "vit3d", "image_size": [8, 32, 32], "patch_size": [2, 8, 8], "channels": 1,
                        "hidden_size": 32, "num_layers": 1, "num_heads": 2},
            "connector": {"name": "spatial_pool", "grid": [2, 2, 2]}}
    m = MedMLLM.build(_config(tube))
    assert m.num_image_tokens("video", VIDEO_SHAPE) == 8 and m.input_spec("video")["spatial_size"] == (8, 32, 32)
    grouped = {"encoder": {"name": "frames2d", "num_frames": 8, "time_groups": 4, "encoder": VIT},
               "connector": {"name": "perceiver", "num_latents": 6, "depth": 1, "heads": 2}}
    m = MedMLLM.build(_config(grouped))
    assert m.encoders["video"].grid(VIDEO_SHAPE) == (4, 4, 4) and m.num_image_tokens("video", VIDEO_SHAPE) == 6
    with torch.no_grad():
        assert m.encoders["video"](torch.randn(2, *VIDEO_SHAPE)).shape == (2, 64, 32)


def test_config_errors_name_the_problem():
    with pytest.raises(ConfigError, match="temporal_attn needs clip tokens on a"):
        MedMLLM.build(_config({"encoder": VIT, "connector": {"name": "temporal_attn"}}))
    with pytest.raises(ConfigError, match="unknown modality slot; valid: ct, video, xray"):
        MedMLLM.build({**_config({"encoder": VIT}), "modalities": {"echo": {"encoder": VIT}}})
    m = MedMLLM.build(_config({"encoder": {"name": "frames2d", "num_frames": 4, "encoder": VIT},
                               "connector": {"name": "temporal_attn", "grid": 2, "heads": 2}}))
    with pytest.raises(Exception, match="a clip of 8 frames; this encoder takes at most 4"):
        m.encoders["video"](torch.randn(1, *VIDEO_SHAPE))


@pytest.mark.slow
def test_direction_of_motion_is_learned_from_time_not_from_one_frame():
    """Held-out clips: the video model reads the direction; one frame (the middle one) is at chance, and
    so is the trained video model when each clip's frames are shuffled."""
    from medmllm.training.probes import run_probe

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        video = run_probe(num_frames=8)
        single = run_probe(num_frames=1)
    finally:
        torch.set_num_threads(threads)
    assert video["accuracy"] >= 0.9, video
    assert single["accuracy"] <= 0.65, single  # 128 held-out clips: chance is 0.5 +- 0.045
    assert video["shuffled_frames"] <= 0.7, video
