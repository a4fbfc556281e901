"""Exports (full and LoRA), init_from, the hf LLM/vision path on local folders, the stages' freeze policies."""

import pytest
import torch

from medmllm.errors import ConfigError, InputError
from medmllm.models.mllm import MedMLLM

from .conftest import make_batch, mixed_samples, tiny_model_config

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}


def _logits(model, batch):
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"], None, batch["pixel_values"],
                     batch["image_sample_index"]).logits


def _perturb_lora(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.llm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_full_round_trip(tmp_path, tiny_model):
    batch = make_batch(tiny_model, mixed_samples())
    tiny_model.save_pretrained(tmp_path / "exp")
    files = sorted(p.name for p in (tmp_path / "exp").iterdir())
    assert files == ["README.md", "llm", "medmllm.yaml", "mm.safetensors", "tokenizer"]
    assert not list(tmp_path.glob(".exp*"))  # no temp folder left behind
    back = MedMLLM.from_pretrained(tmp_path / "exp").eval()
    assert torch.equal(_logits(back, batch), _logits(tiny_model, batch))
    assert back.tokenizer.get_vocab() == tiny_model.tokenizer.get_vocab()
    assert back.config == tiny_model.config
    tiny_model.save_pretrained(tmp_path / "exp")  # overwrite in place
    assert (tmp_path / "exp" / "medmllm.yaml").is_file()


def test_lora_round_trip_tiny_stores_base_and_adapter(tmp_path):
    torch.manual_seed(0)
    m = MedMLLM.build(tiny_model_config(lora=LORA)).eval()
    _perturb_lora(m)
    batch = make_batch(m, mixed_samples())
    m.save_pretrained(tmp_path / "exp")
    assert (tmp_path / "exp" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "exp" / "llm").is_dir()  # a random-init base cannot be rebuilt by reference
    back = MedMLLM.from_pretrained(tmp_path / "exp").eval()
    assert back.has_lora
    assert torch.equal(_logits(back, batch), _logits(m, batch))


def hf_config(assets, **llm):
    return {"modalities": {
        "xray": {"encoder": {"name": "hf_vision", "path": str(assets / "clip"), "layer": -2},
                 "connector": {"name": "mlp2x_gelu"}},
        "ct": {"encoder": {"name": "slices2d", "num_slices": 4, "depth_groups": 2,
                           "encoder": {"name": "hf_vision", "path": str(assets / "siglip")}},
               "connector": {"name": "spatial_pool", "grid": [1, 2, 2]}}},
        "llm": {"name": "hf", "path": str(assets / "qwen2"), **llm}}


def hf_samples():
    g = torch.Generator().manual_seed(0)
    return [([{"role": "user", "content": "<xray>\n<ct>\nReport."}, {"role": "assistant", "content": "Clear."}],
             {"xray": [torch.randn(3, 32, 32, generator=g)], "ct": [torch.randn(3, 4, 32, 32, generator=g)]}),
            ([{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."}], {})]


def test_hf_llm_and_vision_from_folders_lora_adapter_export(tmp_path, hf_assets):
    m = MedMLLM.build(hf_config(hf_assets, lora=LORA)).eval()
    assert m.num_image_tokens("xray", (3, 32, 32)) == 16 and m.num_image_tokens("ct", (3, 4, 32, 32)) == 4
    from transformers import AutoTokenizer

    base = AutoTokenizer.from_pretrained(str(hf_assets / "qwen2"))
    assert len(m.tokenizer) == len(base) + 2  # placeholders added, embeddings resized to cover them
    assert m.llm.get_input_embeddings().weight.shape[0] >= len(m.tokenizer)
    _perturb_lora(m)
    batch = make_batch(m, hf_samples())
    m.save_pretrained(tmp_path / "exp")
    assert not (tmp_path / "exp" / "llm").exists()  # adapter + reference to the hf base
    assert (tmp_path / "exp" / "encoders" / "xray" / "config.json").is_file()
    back = MedMLLM.from_pretrained(tmp_path / "exp").eval()
    assert torch.equal(_logits(back, batch), _logits(m, batch))
    assert back.config.modalities["xray"].encoder["path"] == str(hf_assets / "clip")


def test_init_from_whole_model_and_encoder(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "stage1")
    cfg = tiny_model_config(lora=LORA)
    cfg["init_from"] = str(tmp_path / "stage1")
    m = MedMLLM.build(cfg)
    assert m.has_lora
    for k, v in tiny_model.encoders.state_dict().items():
        assert torch.equal(m.encoders.state_dict()[k], v)
    cfg = tiny_model_config(seed=5)
    cfg["modalities"]["ct"]["encoder"]["init_from"] = str(tmp_path / "stage1")
    m2 = MedMLLM.build(cfg)
    assert all(torch.equal(m2.encoders["ct"].state_dict()[k], v) for k, v in tiny_model.encoders["ct"].state_dict().items())
    assert not all(torch.equal(m2.encoders["xray"].state_dict()[k], v)
                   for k, v in tiny_model.encoders["xray"].state_dict().items())


def test_bad_exports(tmp_path, tiny_model):
    (tmp_path / "llava-v1.5-7b").mkdir()
    with pytest.raises(InputError, match="no medmllm.yaml"):
        MedMLLM.from_pretrained(tmp_path / "llava-v1.5-7b")
    tiny_model.save_pretrained(tmp_path / "exp")
    (tmp_path / "exp" / "mm.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="mm.safetensors: unreadable safetensors"):
        MedMLLM.from_pretrained(tmp_path / "exp")
    with pytest.raises(InputError, match="adapter-only"):
        tiny_model.save_pretrained(tmp_path / "x", llm="adapter")


def _trainable(m):
    return {n for n, p in m.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("trainable, parts", [
    ({"connectors": True}, {"connectors.xray", "connectors.ct"}),
    ({"encoders": True, "connectors": True}, {"encoders.xray", "encoders.ct", "connectors.xray", "connectors.ct"}),
    ({"connectors": False, "llm": "lora"}, {"lora"}),
    ({"connectors": True, "llm": "lora"}, {"connectors.xray", "connectors.ct", "lora"}),
    ({"encoders": ["ct"], "connectors": False, "llm": "full"}, {"encoders.ct", "llm", "lora"}),
])
def test_freeze_policies(trainable, parts):
    """The stages' freeze policy (``train.trainable``) on a LoRA model: exactly the named parts train."""
    from medmllm.training.stages import get_stage

    torch.manual_seed(0)
    m = MedMLLM.build(tiny_model_config(lora=LORA))
    summary = get_stage("align").apply(m, trainable)
    names = {
        "encoders.xray": {f"encoders.xray.{n}" for n, _ in m.encoders["xray"].named_parameters()},
        "encoders.ct": {f"encoders.ct.{n}" for n, _ in m.encoders["ct"].named_parameters()},
        "connectors.xray": {f"connectors.xray.{n}" for n, _ in m.connectors["xray"].named_parameters()},
        "connectors.ct": {f"connectors.ct.{n}" for n, _ in m.connectors["ct"].named_parameters()},
        "lora": {f"llm.{n}" for n, _ in m.llm.named_parameters() if "lora_A" in n or "lora_B" in n},
    }
    names["llm"] = {f"llm.{n}" for n, _ in m.llm.named_parameters()} - names["lora"]
    assert _trainable(m) == set().union(*(names[p] for p in parts))
    sizes = dict(m.named_parameters())
    assert summary.num_trainable == sum(sizes[n].numel() for n in _trainable(m))
    assert m.llm_base_modified == ("llm" in parts)  # exports then store the trained base in full


def test_freeze_errors():
    from medmllm.training.stages import get_stage

    m = MedMLLM.build(tiny_model_config())
    with pytest.raises(ConfigError, match="no LoRA"):
        get_stage("align").apply(m, {"llm": "lora"})
    with pytest.raises(ConfigError, match="unknown part"):
        get_stage("align").apply(m, {"vision": True})


def test_trained_base_llm_is_exported_in_full(tmp_path, hf_assets):
    """A LoRA model on a rebuildable base: adapter-only export, unless a stage trained the base weights."""
    from medmllm.config import read_yaml
    from medmllm.training.stages import get_stage

    m = MedMLLM.build(hf_config(hf_assets, lora=LORA))
    get_stage("instruct").apply(m, {"llm": "lora"})
    m.save_pretrained(tmp_path / "adapter")
    assert read_yaml(tmp_path / "adapter" / "medmllm.yaml")["checkpoint"]["llm"] == "adapter"
    get_stage("instruct").apply(m, {"llm": "full"})
    m.save_pretrained(tmp_path / "full")
    assert read_yaml(tmp_path / "full" / "medmllm.yaml")["checkpoint"]["llm"] == "full"
    assert (tmp_path / "full" / "llm").is_dir() and not (tmp_path / "adapter" / "llm").exists()


def test_predictor_uses_the_recorded_transforms_and_warns_without(tmp_path, tiny_model, caplog):
    """Inference preprocesses with the export's data.transforms; an export without them says so."""
    import logging

    from medmllm.inference import Predictor

    windows = {"ct": {"windows": ["bone"]}}
    tiny_model.save_pretrained(tmp_path / "plain")
    tiny_model.save_pretrained(tmp_path / "trained", extra={"data": {"transforms": windows}})
    with caplog.at_level(logging.WARNING, logger="medmllm.inference"):
        trained = Predictor.from_pretrained(tmp_path / "trained")
        assert "no data.transforms" not in caplog.text
        plain = Predictor.from_pretrained(tmp_path / "plain")
    assert "plain: the export records no data.transforms" in caplog.text
    assert trained.pipelines["ct"].cfg.ct.windows == ["bone"]
    assert plain.pipelines["ct"].cfg.ct.windows != ["bone"]
    assert trained.pipelines["ct"].config_hash != plain.pipelines["ct"].config_hash
