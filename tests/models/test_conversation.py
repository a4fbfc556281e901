"""Conversation encoding: placeholder expansion and assistant-only labels, token by token."""

import pytest

from medmllm.data.conversation import (IGNORE_INDEX, ConversationError, ConversationTooLongError,
                                       encode_conversation, placeholder_token_ids)
from medmllm.models.llm import prepare_tokenizer_and_model, train_tokenizer


@pytest.fixture(scope="module")
def tok():
    from transformers import LlamaConfig, LlamaForCausalLM

    t = train_tokenizer(["the lungs are clear", "consolidation in the right lower lobe", "write the report"], 300)
    m = LlamaForCausalLM(LlamaConfig(vocab_size=len(t), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=2))
    prepare_tokenizer_and_model(m, t)
    return t


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


MESSAGES = [
    {"role": "system", "content": "You are a radiologist."},
    {"role": "user", "content": "<xray>\n<ct>\nWrite the report."},
    {"role": "assistant", "content": "The lungs are clear."},
    {"role": "user", "content": "And the <xray> lateral?"},
    {"role": "assistant", "content": "Consolidation in the right lower lobe."},
]


def test_labels_token_by_token_multi_turn_both_modalities(tok):
    ph = placeholder_token_ids(tok)
    enc = encode_conversation(MESSAGES, tok, {"xray": [3, 2], "ct": [4]}, sample_id="s1")
    # Expected sequence built piece by piece from ChatML (each piece starts at a special token, so
    # tokenizing pieces separately equals tokenizing the whole text).
    x, c = ph["xray"], ph["ct"]
    exp_ids, exp_labels = [], []

    def ctx(ids):
        exp_ids.extend(ids)
        exp_labels.extend([IGNORE_INDEX] * len(ids))

    def sup(ids):
        exp_ids.extend(ids)
        exp_labels.extend(ids)

    ctx(_ids(tok, "<|im_start|>system\nYou are a radiologist.<|im_end|>\n"))
    ctx(_ids(tok, "<|im_start|>user\n"))
    ctx([x] * 3)
    ctx(_ids(tok, "\n"))
    ctx([c] * 4)
    ctx(_ids(tok, "\nWrite the report.<|im_end|>\n<|im_start|>assistant\n"))
    sup(_ids(tok, "The lungs are clear.<|im_end|>"))
    ctx(_ids(tok, "\n<|im_start|>user\nAnd the "))
    ctx([x] * 2)
    ctx(_ids(tok, " lateral?<|im_end|>\n<|im_start|>assistant\n"))
    sup(_ids(tok, "Consolidation in the right lower lobe.<|im_end|>"))
    ctx(_ids(tok, "\n"))
    assert enc.input_ids == exp_ids
    assert enc.labels == exp_labels
    assert enc.num_images == {"xray": 2, "ct": 1, "video": 0}
    assert not enc.truncated
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert sum(1 for t in enc.labels if t == im_end) == 2  # both ends of turn supervised


def test_generation_prompt_drops_last_answer(tok):
    enc = encode_conversation(MESSAGES[:3], tok, {"xray": [1], "ct": [1]}, sample_id="s",
                              add_generation_prompt=True)
    text = tok.decode(enc.input_ids)
    assert text.endswith("<|im_start|>assistant\n")
    assert "lungs are clear" not in text
    assert all(t == IGNORE_INDEX for t in enc.labels)


def test_system_prompt_added_only_when_missing(tok):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    a = encode_conversation(msgs, tok, {}, sample_id="s", system_prompt="Be brief.")
    assert tok.decode(a.input_ids).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    b = encode_conversation(MESSAGES, tok, {"xray": [1, 1], "ct": [1]}, sample_id="s", system_prompt="Be brief.")
    assert "Be brief." not in tok.decode(b.input_ids)


@pytest.mark.parametrize("counts, what", [({"xray": [2], "ct": [1]}, "placeholder"),
                                          ({"xray": [2, 2, 2], "ct": [1]}, "placeholder"),
                                          ({"xray": [2, 2]}, "ct")])
def test_count_mismatch_names_sample(tok, counts, what):
    with pytest.raises(ConversationError, match="case-7") as e:
        encode_conversation(MESSAGES, tok, counts, sample_id="case-7")
    assert what in str(e.value)


def test_bad_messages_name_sample(tok):
    with pytest.raises(ConversationError, match="case-9"):
        encode_conversation([{"role": "bot", "content": "x"}], tok, {}, sample_id="case-9")
    with pytest.raises(ConversationError, match="assistant turn"):
        encode_conversation([{"role": "assistant", "content": "<xray>"}], tok, {"xray": [1]}, sample_id="c")


def test_unlocatable_boundary_raises(tok):
    class Weird:  # a template that renders later turns differently: no stable prefix
        def __getattr__(self, k):
            return getattr(tok, k)

        chat_template = "{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"

        def apply_chat_template(self, *a, **k):
            return tok.apply_chat_template(*a, **k)

    with pytest.raises(ConversationError, match="case-3.*boundary"):
        encode_conversation(MESSAGES[1:3], Weird(), {"xray": [1], "ct": [1]}, sample_id="case-3")


def test_truncation_keeps_image_spans(tok):
    full = encode_conversation(MESSAGES, tok, {"xray": [3, 2], "ct": [4]}, sample_id="s")
    last_image = max(i for i, t in enumerate(full.input_ids) if t in placeholder_token_ids(tok).values())
    n = len(full.input_ids) - 3
    cut = encode_conversation(MESSAGES, tok, {"xray": [3, 2], "ct": [4]}, sample_id="s", max_length=n)
    assert cut.truncated and cut.input_ids == full.input_ids[:n] and cut.labels == full.labels[:n]
    with pytest.raises(ConversationTooLongError, match="image"):
        encode_conversation(MESSAGES, tok, {"xray": [3, 2], "ct": [4]}, sample_id="s", max_length=last_image)
