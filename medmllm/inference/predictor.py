"""The one :class:`Predictor`: an export ready for inference, used by generate, evaluate, the benchmarks and the app.

``Predictor.from_pretrained(EXPORT)`` checks the export (:func:`medmllm.inference.export.check_export`),
loads the model, the deterministic data transforms it was trained with and its recorded training
prompts. Inputs are manifest records (``images`` + ``messages``; a trailing assistant turn is the
reference and is dropped from the prompt) or plain requests ``{"xray": path(s), "ct": path(s),
"prompt": text, "context": clinical text, "language": "en"/"zh", "series": UID}``.

It is also the benchmark runner's predictor (:class:`medmllm.evaluation.benchmarks.base.Predictor`):
``generate(records)`` generates all the records it gets as one batch and ``choice_losses(record,
choices)`` scores answers; ``image_root`` resolves the records' relative image paths and
``generation`` fixes the settings of every call (``Predictor.load`` / :func:`load_predictor`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from medmllm.data.prompts import PromptBook
from medmllm.errors import InputError
from medmllm.inference.inputs import normalise_input, prompt_text
from medmllm.inference.settings import check_generation

log = logging.getLogger(__name__)


def collate_prompts(model: Any, samples: list[dict[str, Any]], *, generation: bool = True,
                    max_length: int | None = None) -> dict[str, Any]:
    """Batch samples ``{"id", "messages", "pixels": {m: [tensor]}}`` into model inputs.

    Uses the data pipeline's :class:`~medmllm.data.collate.Collator`. With ``generation`` the
    prompt ends ready for the reply (a trailing assistant turn is dropped); otherwise assistant
    turns are supervised (``labels``). A sample too long for ``max_length`` raises.
    """
    from medmllm.data.collate import Collator

    collator = Collator(model.tokenizer, model.num_image_tokens, max_length, add_generation_prompt=generation,
                        system_prompt=getattr(getattr(model, "config", None), "system_prompt", None))
    batch = collator(samples)
    if len(batch["ids"]) != len(samples):
        dropped = sorted({str(s["id"]) for s in samples} - {str(i) for i in batch["ids"]})
        raise InputError(dropped[0] if dropped else None, f"prompt longer than max_length {max_length} "
                                                          "(raise model.max_length)")
    return batch


def to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """Move a batch's tensors (and dicts of tensors) to ``device``."""
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.to(device)
        elif isinstance(v, dict):
            out[k] = {m: t.to(device) for m, t in v.items()}
        else:
            out[k] = v
    return out


class Predictor:
    """An export ready for inference.

    Args:
        model: a MedMLLM (eval mode is set here).
        transforms: the data config's ``transforms`` (a TransformConfig or dict; None: defaults).
        device: where to run (default: CUDA when available, else CPU).
        prompts: the export's recorded training prompts (``prompts`` of its ``medmllm.yaml``).
        image_root: folder the records' relative image paths are resolved against (None: as they are).
        generation: settings of every generation call (``max_new_tokens``, ``temperature`` ...).
        name: the model's name (the app shows it; default ``model``).
    """

    def __init__(self, model: Any, transforms: Any = None, device: str | torch.device | None = None, *,
                 prompts: dict[str, Any] | None = None, image_root: str | os.PathLike | None = None,
                 generation: dict[str, Any] | None = None, name: str = "model"):
        from medmllm.config import TransformConfig, from_dict
        from medmllm.data.transforms import build_pipelines

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        tcfg = transforms if isinstance(transforms, TransformConfig) else from_dict(TransformConfig, transforms or {},
                                                                                    "data.transforms")
        specs = {m: model.input_spec(m) for m in getattr(model, "encoders", {})}
        self.pipelines = build_pipelines(specs, tcfg, train=False)
        self.prompts = PromptBook(prompts)
        self.image_root = None if image_root is None else Path(image_root)
        self.generation = check_generation(generation)
        self.name = name

    @property
    def modalities(self) -> frozenset[str]:
        """The image slots the model reads (``xray``, ``ct``)."""
        return frozenset(self.pipelines)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, device: str | None = None, dtype: str | None = None,
                        image_root: str | os.PathLike | None = None, **generation: Any) -> "Predictor":
        """Check and load an export folder (``medmllm.yaml`` + weights) written by ``medmllm train``."""
        from medmllm.inference.export import check_export, load_dtype
        from medmllm.models.mllm import MedMLLM

        root, doc = check_export(path, device=device, dtype=dtype)
        dtype = load_dtype(doc, device, dtype)  # a bf16 export on a CPU without bf16 runs in fp32
        model = MedMLLM.from_pretrained(root, dtype=dtype) if dtype else MedMLLM.from_pretrained(root)
        transforms = ((doc.get("data") or {}).get("transforms")) if isinstance(doc.get("data"), dict) else None
        if transforms is None and model.encoders:
            log.warning("%s: the export records no data.transforms (saved outside `medmllm train`?): images are "
                        "preprocessed with the default transforms, which may not be the ones it was trained with",
                        root)
        if not doc.get("prompts"):
            log.info("%s: the export records no training prompts; requests are worded with the defaults", root)
        name = os.path.basename(os.path.normpath(os.fspath(path))) or "model"
        return cls(model, transforms, device, prompts=doc.get("prompts"), image_root=image_root,
                   generation=generation, name=name)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
             device: str | None = None, dtype: str | None = None, **generation: Any) -> "Predictor":
        """:meth:`from_pretrained` for the benchmark runner: records' images under ``image_root``, fixed settings."""
        return cls.from_pretrained(checkpoint, device=device, dtype=dtype, image_root=image_root, **generation)

    # ---- inputs --------------------------------------------------------------------------------
    def prepare(self, item: dict[str, Any], root: str | os.PathLike | None = None, index: int = 0) -> dict[str, Any]:
        """Normalised input with its preprocessed pixels (``pixels``: modality -> list of tensors).

        A model with ``findings_prompt`` gets the findings hint of these images in its user turn
        (:func:`medmllm.models.findings_prompt.hint_sample`); :func:`prompt_text` is what it reads.
        """
        s = normalise_input(item, root if root is not None else self.image_root, index, self.prompts)
        pixels: dict[str, list[torch.Tensor]] = {}
        for m, sources in s["images"].items():
            if m not in self.pipelines:
                raise InputError(s["id"], f"the model has no '{m}' encoder (it has: {', '.join(self.pipelines) or 'none'})")
            pixels[m] = [self.pipelines[m].preprocess(src) for src in sources]
        s["pixels"] = pixels
        if getattr(self.model, "findings_heads", None) is not None and pixels:
            from medmllm.data.text import declared_language, detect_language
            from medmllm.models.findings_prompt import hint_sample

            lang = item.get("language") or declared_language(item) or detect_language(prompt_text(s))
            s = hint_sample(self.model, s, lang)
        return s

    def _batch(self, samples: list[dict[str, Any]], generation: bool = True) -> dict[str, Any]:
        max_len = getattr(getattr(self.model, "config", None), "max_length", None)
        return to_device(collate_prompts(self.model, samples, generation=generation, max_length=max_len), self.device)

    def _settings(self, gen: dict[str, Any]) -> dict[str, Any]:
        """This call's generation settings (the fixed ones, then ``gen``); a ``seed`` seeds sampling."""
        merged = dict(self.generation)
        seed = gen.pop("seed", None)
        merged.update(gen)
        out = check_generation(merged)
        if seed is not None and out.get("do_sample"):
            torch.manual_seed(int(seed))
        return out

    # ---- generation ----------------------------------------------------------------------------
    def generate_rows(self, records_or_inputs: Iterable[dict[str, Any]] | dict[str, Any], *,
                      batch_size: int | None = None, root: str | os.PathLike | None = None,
                      **gen: Any) -> list[dict[str, str]]:
        """``{"prediction", "prompt"}`` per input, in order: the text and the user turn the model read.

        Args: as :meth:`generate`.
        """
        items = [records_or_inputs] if isinstance(records_or_inputs, dict) else list(records_or_inputs)
        step = batch_size or max(1, len(items))
        out: list[dict[str, str]] = []
        for start in range(0, len(items), step):
            chunk = [self.prepare(x, root, start + i) for i, x in enumerate(items[start:start + step])]
            out.extend({"prediction": t, "prompt": prompt_text(s)}
                       for s, t in zip(chunk, self.generate_prepared(chunk, **gen)))
        return out

    @torch.no_grad()
    def generate_prepared(self, samples: list[dict[str, Any]], **gen: Any) -> list[str]:
        """Texts for already prepared samples (one batch)."""
        batch = self._batch(samples)
        new = self.model.generate(batch["input_ids"], batch["attention_mask"], batch["pixel_values"] or None,
                                  batch["image_sample_index"] or None, **self._settings(gen))
        return [t.strip() for t in self.model.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def generate(self, records_or_inputs: Iterable[dict[str, Any]] | dict[str, Any], *,
                 batch_size: int | None = None, root: str | os.PathLike | None = None, **gen: Any) -> list[str]:
        """Generated texts, one per input, in order (greedy unless the settings say otherwise).

        Args:
            records_or_inputs: manifest records or plain requests (one dict: a list of one).
            batch_size: inputs per generation batch (None: all of them in one batch, as the runner asks).
            root: image root of the records (default: ``image_root``).
            **gen: generation settings of this call (over ``generation``).
        """
        return [r["prediction"] for r in self.generate_rows(records_or_inputs, batch_size=batch_size, root=root, **gen)]

    def stream(self, record_or_input: dict[str, Any], root: str | os.PathLike | None = None, **gen: Any) -> Iterator[str]:
        """Yield the text of one answer piece by piece as it is generated."""
        batch = self._batch([self.prepare(record_or_input, root)])
        return self.model.stream(batch["input_ids"], batch["attention_mask"], batch["pixel_values"] or None,
                                 batch["image_sample_index"] or None, **self._settings(gen))

    @torch.no_grad()
    def choice_losses(self, record: dict[str, Any], choices: list[str], root: str | os.PathLike | None = None) -> list[float]:
        """Mean token loss of each choice as the assistant's answer (lower = more likely)."""
        base = self.prepare(record, root)
        samples = [{**base, "id": f"{base['id']}#{i}", "messages": base["messages"] + [{"role": "assistant", "content": c}]}
                   for i, c in enumerate(choices)]
        batch = self._batch(samples, generation=False)
        return [float(x) for x in self.model.sequence_loss(batch).cpu()]


def load_predictor(checkpoint: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                   device: str | None = None, dtype: str | None = None, max_new_tokens: int = 512,
                   **generation: Any) -> Predictor:
    """The benchmark runner's / judge's predictor of an export (greedy, ``max_new_tokens`` new tokens by default).

    Used by ``--judge checkpoint:DIR`` (MLLM-Bench).
    """
    return Predictor.load(checkpoint, image_root=image_root, device=device, dtype=dtype,
                          max_new_tokens=max_new_tokens, **generation)
