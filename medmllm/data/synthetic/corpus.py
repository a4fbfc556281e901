"""The ``synthetic`` tokenizer corpus: the conversations of synthetic cases, rendered as text only.

A config trains its tiny LLM's tokenizer on the report language of a synthetic data set before that
data set is written (``model.llm.corpus: {synthetic: {cases, seed, langs, ...}}``). The LLM code
looks the provider up by name in :data:`medmllm.registry.CORPORA` and never imports the generator.
"""

from __future__ import annotations

from typing import Any

from medmllm.registry import CORPORA

from .case import render_case
from .config import SynthConfig


@CORPORA.register("synthetic")
def synthetic_corpus(cases: int = 500, seed: int = 0, **settings: Any) -> list[str]:
    """Every message and report of ``cases`` synthetic cases of ``seed`` (nothing is rendered).

    Args:
        cases: number of cases.
        seed: the cases' seed (the same cases as ``medmllm synth --seed``).
        **settings: :class:`SynthConfig` fields (``langs``, ``tasks``, ``prevalence`` ...).
    """
    from medmllm.config import from_dict

    opts = {**settings, "render_xray": False, "render_ct": False}
    cfg = from_dict(SynthConfig, opts, "model.llm.corpus.synthetic")
    texts: list[str] = []
    for i in range(int(cases)):
        case = render_case(int(seed), i, cfg)
        for tasks in case.tasks.values():
            texts += [m["content"] for t in tasks for m in t.messages]
    return texts
