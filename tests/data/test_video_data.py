"""The video slot's data path: manifest records with <video>, the clip transforms, dataset and collator."""

import json

import numpy as np
import pytest
import torch

from medmllm.config import TransformConfig, from_dict
from medmllm.data.collate import Collator
from medmllm.data.dataset import ManifestDataset
from medmllm.data.schema import validate_record, write_manifest
from medmllm.data.transforms import ImagePipeline
from medmllm.io.video_writers import write_cine_dicom, write_video_file

SPEC = {"spatial_size": (4, 16, 24), "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def _ramp_clip(t=12, h=20, w=30):
    """Frame k is uniformly k / (t - 1): the frame a pipeline picked can be read off its value."""
    return np.broadcast_to(np.linspace(0, 1, t)[:, None, None], (t, h, w)).copy()


def test_clip_pipeline_samples_resizes_and_normalises(tmp_path):
    path = write_cine_dicom(_ramp_clip(), tmp_path / "us.dcm", modality="US", frame_time_ms=100)
    pipe = ImagePipeline("video", SPEC)
    x = pipe.preprocess(str(path))
    assert x.shape == (3, 4, 16, 24) and x.dtype == torch.float32  # grayscale repeated to the encoder's 3 channels
    picked = np.rint(((x[0, :, 8, 12] * 0.25 + 0.5).numpy()) * 11).astype(int)  # un-normalised centre pixel
    assert picked.tolist() == [1, 4, 7, 10]  # uniform: centres of 4 segments of 12 frames
    # 30 x 20 frames letterboxed into 24 x 16: 24 x 16 exactly (same aspect ratio), no padding
    fps = ImagePipeline("video", SPEC, from_dict(TransformConfig, {"video": {"sampling": "fps", "fps": 5}}))
    y = fps.preprocess(str(path))
    picked = np.rint(((y[0, :, 8, 12] * 0.25 + 0.5).numpy()) * 11).astype(int)
    assert picked.tolist() == [0, 4, 6, 10]  # every 0.2 s over 1.1 s: 6 times, thinned to the 1st, 3rd, 4th, 6th
    assert pipe.config_hash != fps.config_hash


def test_letterbox_pads_frames_and_augmentation_moves_every_frame_alike(tmp_path):
    frames = np.zeros((6, 32, 32, 3))
    frames[:, 8:24, 8:24] = 1.0
    path = write_video_file(frames, tmp_path / "c.mp4", fps=10)
    spec = {"spatial_size": (6, 16, 32), "channels": 1, "mean": None, "std": None}
    pipe = ImagePipeline("video", spec, from_dict(TransformConfig, {"augment": {"prob": 1.0, "rotate_deg": 20}}),
                         train=True)
    x = pipe.preprocess(str(path))
    assert x.shape == (1, 6, 16, 32)  # RGB -> luminance for a one-channel encoder
    assert float(x[..., :8].abs().max()) == 0.0 and float(x[..., 24:].abs().max()) == 0.0  # padded sides
    torch.manual_seed(0)
    aug = pipe.augment(x)
    assert aug.shape == x.shape and not torch.allclose(aug, x)
    assert torch.allclose(aug[0, 0], aug[0, 5], atol=1e-5)  # the same transform on every frame


def test_records_with_video_validate_load_and_collate(tmp_path, three_slot_tokenizer_model):
    model = three_slot_tokenizer_model
    clip = write_cine_dicom(_ramp_clip(8, 32, 32), tmp_path / "cases" / "a.dcm", modality="XA", frame_time_ms=50)
    rec = {"schema_version": 1, "id": "c1", "split": "train", "task": "vqa",
           "images": [{"modality": "video", "path": "cases/a.dcm"}],
           "messages": [{"role": "user", "content": "<video>\nIs the flow antegrade?"},
                        {"role": "assistant", "content": "Yes."}]}
    assert validate_record(rec) == []
    bad = {**rec, "messages": [{"role": "user", "content": "Is the flow antegrade?"}, rec["messages"][1]]}
    assert "messages: 0 <video> placeholder(s) but 1 video image(s)" in validate_record(bad)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [rec])
    pipes = {m: ImagePipeline(m, model.input_spec(m)) for m in model.encoders}
    ds = ManifestDataset.from_manifest(manifest, pipes)
    sample = ds[0]
    assert sample["pixels"]["video"][0].shape == (1, 8, 32, 32) and clip.exists()
    batch = Collator(model.tokenizer, model.num_image_tokens, 256)([sample, sample])
    assert batch["pixel_values"]["video"].shape == (2, 1, 8, 32, 32)
    assert batch["image_sample_index"]["video"].tolist() == [0, 1]
    assert int((batch["input_ids"] == model.placeholder_ids["video"]).sum()) == 2 * model.num_image_tokens(
        "video", (1, 8, 32, 32))
    keys = ("input_ids", "attention_mask", "labels", "pixel_values", "image_sample_index")
    out = model(**{k: batch[k] for k in keys})
    assert torch.isfinite(out.loss)


@pytest.fixture(scope="module")
def three_slot_tokenizer_model():
    from medmllm.models.mllm import MedMLLM

    torch.manual_seed(0)
    vit = {"name": "vit2d", "image_size": 32, "patch_size": 8, "channels": 1, "hidden_size": 32, "num_layers": 1,
           "num_heads": 2}
    cfg = {"modalities": {"xray": {"encoder": vit},
                          "video": {"encoder": {"name": "frames2d", "num_frames": 8, "encoder": vit},
                                    "connector": {"name": "temporal_attn", "grid": 2, "heads": 2}}},
           "llm": {"name": "tiny", "hidden_size": 64, "num_layers": 1, "num_heads": 4, "vocab_size": 512}}
    return MedMLLM.build(cfg)


def test_plain_inference_input_takes_a_video(tmp_path):
    from medmllm.inference import normalise_input

    item = normalise_input({"video": str(tmp_path / "a.mp4"), "xray": str(tmp_path / "b.png"), "prompt": "Describe."})
    assert item["images"] == {"xray": [str(tmp_path / "b.png")], "video": [str(tmp_path / "a.mp4")]}
    assert item["messages"][0]["content"].startswith("<xray>\n<video>\n")
    json.dumps(item)
