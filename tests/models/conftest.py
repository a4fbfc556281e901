"""Fixtures for model tests: the tiny model, tiny Hugging Face towers/LLMs saved locally, batches."""

import json
from pathlib import Path

import pytest
import torch

TINY_YAML = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
XRAY_SHAPE = (1, 32, 32)
CT_SHAPE = (1, 8, 32, 32)


def tiny_model_config(**llm):
    from medmllm.config import load_config

    cfg = load_config(TINY_YAML)["model"]
    cfg["llm"].update(llm)
    return cfg


@pytest.fixture(scope="session")
def tiny_model():
    from medmllm.models.mllm import MedMLLM

    torch.manual_seed(0)
    model = MedMLLM.build(tiny_model_config())
    return model.eval()


def make_batch(model, samples, *, generation=False, max_length=None):
    """A right-padded batch like the data collator's: samples are (messages, {modality: [tensor]})."""
    from medmllm.data.conversation import encode_conversation

    encs, pix, idx = [], {}, {}
    for i, (messages, images) in enumerate(samples):
        counts = {m: [model.num_image_tokens(m, tuple(t.shape)) for t in ts] for m, ts in images.items()}
        encs.append(encode_conversation(messages, model.tokenizer, counts, sample_id=f"s{i}",
                                        add_generation_prompt=generation, max_length=max_length))
        for m, ts in images.items():
            pix.setdefault(m, []).extend(ts)
            idx.setdefault(m, []).extend([i] * len(ts))
    n = max(len(e.input_ids) for e in encs)
    pad = model.tokenizer.pad_token_id
    ids = torch.full((len(encs), n), pad)
    mask = torch.zeros((len(encs), n), dtype=torch.long)
    labels = torch.full((len(encs), n), -100)
    for i, e in enumerate(encs):
        k = len(e.input_ids)
        ids[i, :k], mask[i, :k], labels[i, :k] = torch.tensor(e.input_ids), 1, torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "pixel_values": {m: torch.stack(ts) for m, ts in pix.items()},
            "image_sample_index": {m: torch.tensor(v) for m, v in idx.items()}}


def mixed_samples(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = lambda: torch.randn(XRAY_SHAPE, generator=g)  # noqa: E731
    c = lambda: torch.randn(CT_SHAPE, generator=g)  # noqa: E731
    ans = {"role": "assistant", "content": "The lungs are clear."}
    return [
        ([{"role": "user", "content": "<xray>\nWrite the report."}, ans], {"xray": [x()]}),
        ([{"role": "user", "content": "<ct>\nFindings?"}, {"role": "assistant", "content": "Consolidation."}],
         {"ct": [c()]}),
        ([{"role": "user", "content": "<xray> <xray>\n<ct>\nCompare."}, ans], {"xray": [x(), x()], "ct": [c()]}),
        ([{"role": "user", "content": "What is a lobe?"}, {"role": "assistant", "content": "A part of a lung."}], {}),
    ]


@pytest.fixture(scope="session")
def hf_assets(tmp_path_factory):
    """Tiny CLIP (full model), SigLIP and DINOv2 towers and a Qwen2 LLM saved with save_pretrained."""
    from transformers import (CLIPConfig, CLIPModel, Dinov2Config, Dinov2Model, Qwen2Config, Qwen2ForCausalLM,
                              SiglipVisionConfig, SiglipVisionModel)

    from medmllm.models.llm import train_tokenizer

    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    vis = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    clip = CLIPModel(CLIPConfig(text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                 num_attention_heads=2, vocab_size=99),
                                vision_config=dict(image_size=32, patch_size=8, **vis), projection_dim=16))
    clip.save_pretrained(root / "clip")
    SiglipVisionModel(SiglipVisionConfig(image_size=32, patch_size=8, **vis)).save_pretrained(root / "siglip")
    Dinov2Model(Dinov2Config(image_size=28, patch_size=7, **vis)).save_pretrained(root / "dinov2")
    pp = {
        "clip": {"do_resize": True, "size": {"shortest_edge": 32}, "do_center_crop": True,
                 "crop_size": {"height": 32, "width": 32}, "image_mean": [0.48, 0.46, 0.41],
                 "image_std": [0.27, 0.26, 0.28]},
        "siglip": {"do_resize": True, "size": {"height": 32, "width": 32}, "image_mean": [0.5, 0.5, 0.5],
                   "image_std": [0.5, 0.5, 0.5]},
        "dinov2": {"do_resize": True, "size": {"shortest_edge": 32}, "do_center_crop": True,
                   "crop_size": {"height": 28, "width": 28}, "image_mean": [0.485, 0.456, 0.406],
                   "image_std": [0.229, 0.224, 0.225]},
    }
    for name, spec in pp.items():
        (root / name / "preprocessor_config.json").write_text(json.dumps(spec))
    tok = train_tokenizer(["the lungs are clear", "write the report"], 300)
    qwen = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True))
    qwen.save_pretrained(root / "qwen2")
    tok.save_pretrained(root / "qwen2")
    return root
