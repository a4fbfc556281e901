"""Judges for pairwise comparison of answers (MLLM-Bench): an OpenAI-compatible endpoint, a local
Hugging Face model, or any medmllm predictor.

A judge is anything with ``complete(messages, images) -> str``: ``messages`` are chat turns
(``{"role", "content"}``), ``images`` file paths the judge may look at (judges that cannot see images
ignore them and say so in ``sees_images``). :func:`make_judge` builds one from a command-line spec.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from medmllm.errors import InputError

log = logging.getLogger(__name__)

_RETRY_STATUS = (429, 500, 502, 503, 504)


class Judge(Protocol):
    """Something that answers a judging prompt."""

    sees_images: bool

    def complete(self, messages: list[dict[str, str]], images: list[str]) -> str: ...


class OpenAIJudge:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp, OpenAI ...).

    Args:
        url: the endpoint's base URL (``http://host:8000/v1``) or the full ``.../chat/completions`` URL.
        model: the model name sent in each request.
        api_key: bearer token; default: the ``MEDMLLM_JUDGE_API_KEY`` or ``OPENAI_API_KEY`` environment
            variable (never logged).
        timeout: seconds per request.
        retries: extra attempts after HTTP 429/5xx or a connection failure, with exponential backoff.
        backoff: seconds before the first retry (doubled each time).
        max_tokens: reply length limit.
        send_images: attach images (as data URLs) when the row names an existing image file.
    """

    sees_images = True

    def __init__(self, url: str, model: str = "gpt-4o", api_key: str | None = None, timeout: float = 120.0,
                 retries: int = 3, backoff: float = 2.0, max_tokens: int = 1024, send_images: bool = True):
        if not url.startswith(("http://", "https://")):
            raise InputError(url, "judge URL must start with http:// or https://")
        base = url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model
        self._key = api_key or os.environ.get("MEDMLLM_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.max_tokens = max_tokens
        self.sees_images = send_images

    def _payload(self, messages: list[dict[str, str]], images: list[str]) -> dict[str, Any]:
        msgs: list[dict[str, Any]] = [dict(m) for m in messages]
        if self.sees_images and images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": msgs[-1]["content"]}]
            for p in images:
                mime = mimetypes.guess_type(p)[0] or "image/png"
                data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
                parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
            msgs[-1] = {"role": msgs[-1]["role"], "content": parts}
        return {"model": self.model, "messages": msgs, "temperature": 0, "max_tokens": self.max_tokens}

    def complete(self, messages: list[dict[str, str]], images: list[str]) -> str:
        """Send one chat request and return the reply text."""
        body = json.dumps(self._payload(messages, images)).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                break
            except urllib.error.HTTPError as e:
                detail = e.read()[:200].decode("utf-8", "replace")
                if e.code not in _RETRY_STATUS or attempt == self.retries:
                    raise InputError(self.url, f"judge returned HTTP {e.code}: {detail}") from None
                log.warning("judge returned HTTP %d; retrying", e.code)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.retries:
                    reason = getattr(e, "reason", e)
                    raise InputError(self.url, f"cannot reach the judge: {reason}") from None
                log.warning("cannot reach the judge (%s); retrying", e)
            time.sleep(self.backoff * 2 ** attempt)
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise InputError(self.url, f"unexpected judge response: {raw[:200]!r}") from None


class HFJudge:
    """A local Hugging Face causal LM (text only: it judges from the question and the two answers).

    Args:
        path: a local model folder (``from_pretrained`` with ``local_files_only``), or a loaded model
            when ``tokenizer`` is given too.
        tokenizer: the tokenizer of a model passed directly.
        max_new_tokens: reply length limit (greedy decoding).
    """

    sees_images = False

    def __init__(self, path: str | os.PathLike | Any, tokenizer: Any = None, max_new_tokens: int = 512):
        if tokenizer is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if not Path(path).is_dir():
                raise InputError(path, "HF judge must be a local model folder")
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            path = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        self.model, self.tokenizer = path, tokenizer
        self.model.eval()
        self.max_new_tokens = max_new_tokens

    def complete(self, messages: list[dict[str, str]], images: list[str]) -> str:
        """Greedy reply of the model to the chat (images ignored)."""
        import torch

        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        else:
            text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
            enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        new = out[0, enc["input_ids"].shape[1]:]  # (T_new,)
        return tok.decode(new, skip_special_tokens=True)


class PredictorJudge:
    """A judge backed by a medmllm predictor (``generate(records) -> list[str]``), e.g. a checkpoint.

    The judging prompt is sent as a one-turn text record (no images).
    """

    sees_images = False

    def __init__(self, predictor: Any):
        self.predictor = predictor

    def complete(self, messages: list[dict[str, str]], images: list[str]) -> str:
        record = {"id": "judge", "task": "open", "images": [], "messages": messages, "meta": {}}
        return self.predictor.generate([record])[0]


def make_judge(spec: str | Judge, model: str | None = None) -> Judge:
    """A judge from a spec: ``http(s)://...`` (OpenAI-compatible), ``hf:PATH`` or ``checkpoint:DIR``.

    ``checkpoint:DIR`` needs ``medmllm.inference.load_predictor(DIR)`` (the model's predictor).
    """
    if not isinstance(spec, str):
        return spec
    if spec.startswith(("http://", "https://")):
        return OpenAIJudge(spec, model=model or "gpt-4o")
    if spec.startswith("hf:"):
        return HFJudge(spec[3:])
    if spec.startswith("checkpoint:"):
        import importlib

        inference = importlib.import_module("medmllm.inference")
        return PredictorJudge(inference.load_predictor(spec[len("checkpoint:"):]))
    raise InputError(spec, "judge must be an http(s):// URL, hf:MODEL_DIR or checkpoint:EXPORT_DIR")
