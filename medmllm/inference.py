"""Inference on an export: load, preprocess image files, build the prompt, generate (batch / stream).

``Predictor.from_pretrained(EXPORT)`` loads the model and the deterministic data transforms the
export was trained with. Inputs are manifest records (``images`` + ``messages``; a trailing
assistant turn is the reference and is dropped from the prompt) or plain dicts
``{"xray": path(s), "ct": path(s), "prompt": text, "context": clinical text}``. Used by
``medmllm generate``, the validation reports during training, benchmarks and the app.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from medmllm.data.formats.common import REPORT_PROMPT as DEFAULT_PROMPT, report_request  # noqa: F401
from medmllm.errors import InputError

log = logging.getLogger(__name__)

def build_messages(images: dict[str, int], prompt: str | None = None, context: str | None = None) -> list[dict]:
    """One user turn: a placeholder per image, optional clinical context, then the prompt (the
    user turn the public-dataset converters write, so a model is asked as it was trained)."""
    return [{"role": "user", "content": report_request(images, prompt, context)}]


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def normalise_input(item: dict[str, Any], root: str | os.PathLike | None = None, index: int = 0) -> dict[str, Any]:
    """``{"id", "messages", "images": {modality: [source, ...]}, "labels", "reference"}`` of an input.

    Args:
        item: a manifest record or ``{"xray", "ct", "prompt", "context"}``.
        root: image root for a record's relative paths (the manifest's folder).
        index: used for the id of plain inputs.
    """
    if "messages" in item:  # manifest record
        from medmllm.data.schema import image_source, resolve_image_path

        images: dict[str, list[Any]] = {}
        for i, im in enumerate(item.get("images") or []):
            src = im["path"]
            if root is not None:
                src = str(resolve_image_path(root, src, f"{item.get('id')}: images[{i}]"))
            images.setdefault(im["modality"], []).append(image_source(im, src))
        msgs = list(item["messages"])
        ref = msgs[-1]["content"] if msgs and msgs[-1].get("role") == "assistant" else None
        if ref is not None:
            msgs = msgs[:-1]
        return {"id": str(item.get("id", index)), "messages": msgs, "images": images, "labels": item.get("labels"),
                "reference": ref}
    images = {m: _as_list(item.get(m)) for m in ("xray", "ct") if item.get(m) is not None}
    msgs = build_messages({m: len(v) for m, v in images.items()}, item.get("prompt"), item.get("context"))
    return {"id": str(item.get("id", index)), "messages": msgs, "images": images, "labels": None, "reference": None}


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
    """

    def __init__(self, model: Any, transforms: Any = None, device: str | torch.device | None = None):
        from medmllm.config import TransformConfig, from_dict
        from medmllm.data.transforms import build_pipelines

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        tcfg = transforms if isinstance(transforms, TransformConfig) else from_dict(TransformConfig, transforms or {},
                                                                                    "data.transforms")
        specs = {m: model.input_spec(m) for m in getattr(model, "encoders", {})}
        self.pipelines = build_pipelines(specs, tcfg, train=False)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, device: str | None = None, dtype: str | None = None) -> "Predictor":
        """Load an export folder (``medmllm.yaml`` + weights) written by ``medmllm train``."""
        from medmllm.models.checkpoint import read_export
        from medmllm.models.mllm import MedMLLM

        root, doc = read_export(path)
        tmp_name = root.name.startswith(".") and ".tmp-" in root.name
        if tmp_name:
            raise InputError(root, "this is a temporary folder of an interrupted save, not an export")
        if dtype is None:  # a bf16 export on a CPU without bf16 runs in fp32 (medmllm.hardware)
            from medmllm.hardware import default_dtype

            saved = (doc.get("checkpoint") or {}).get("llm_dtype")
            target = device or ("cuda" if torch.cuda.is_available() else "cpu")
            chosen = default_dtype(saved, str(target))
            dtype = chosen if chosen != saved else None
        model = MedMLLM.from_pretrained(root, dtype=dtype) if dtype else MedMLLM.from_pretrained(root)
        transforms = ((doc.get("data") or {}).get("transforms")) if isinstance(doc.get("data"), dict) else None
        if transforms is None and model.encoders:
            log.warning("%s: the export records no data.transforms (saved outside `medmllm train`?): images are "
                        "preprocessed with the default transforms, which may not be the ones it was trained with",
                        root)
        return cls(model, transforms, device)

    # ---- inputs --------------------------------------------------------------------------------
    def prepare(self, item: dict[str, Any], root: str | os.PathLike | None = None, index: int = 0) -> dict[str, Any]:
        """Normalised input with its preprocessed pixels (``pixels``: modality -> list of tensors)."""
        s = normalise_input(item, root, index)
        pixels: dict[str, list[torch.Tensor]] = {}
        for m, sources in s["images"].items():
            if m not in self.pipelines:
                raise InputError(s["id"], f"the model has no '{m}' encoder (it has: {', '.join(self.pipelines) or 'none'})")
            pixels[m] = [self.pipelines[m].preprocess(src) for src in sources]
        s["pixels"] = pixels
        return s

    def _batch(self, samples: list[dict[str, Any]], generation: bool = True) -> dict[str, Any]:
        max_len = getattr(getattr(self.model, "config", None), "max_length", None)
        return to_device(collate_prompts(self.model, samples, generation=generation, max_length=max_len), self.device)

    # ---- generation ----------------------------------------------------------------------------
    @torch.no_grad()
    def generate_prepared(self, samples: list[dict[str, Any]], **gen: Any) -> list[str]:
        """Texts for already prepared samples (one batch)."""
        batch = self._batch(samples)
        new = self.model.generate(batch["input_ids"], batch["attention_mask"], batch["pixel_values"] or None,
                                  batch["image_sample_index"] or None, **gen)
        return [t.strip() for t in self.model.tokenizer.batch_decode(new, skip_special_tokens=True)]

    def generate(self, records_or_inputs: Iterable[dict[str, Any]] | dict[str, Any], *, batch_size: int = 8,
                 root: str | os.PathLike | None = None, **gen: Any) -> list[str]:
        """Generated texts, one per input, in order (batched, greedy unless ``gen`` says otherwise)."""
        items = [records_or_inputs] if isinstance(records_or_inputs, dict) else list(records_or_inputs)
        out: list[str] = []
        for start in range(0, len(items), batch_size):
            chunk = [self.prepare(x, root, start + i) for i, x in enumerate(items[start:start + batch_size])]
            out.extend(self.generate_prepared(chunk, **gen))
        return out

    def stream(self, record_or_input: dict[str, Any], root: str | os.PathLike | None = None, **gen: Any) -> Iterator[str]:
        """Yield the text of one answer piece by piece as it is generated."""
        batch = self._batch([self.prepare(record_or_input, root)])
        return self.model.stream(batch["input_ids"], batch["attention_mask"], batch["pixel_values"] or None,
                                 batch["image_sample_index"] or None, **gen)

    @torch.no_grad()
    def choice_losses(self, record: dict[str, Any], choices: list[str], root: str | os.PathLike | None = None) -> list[float]:
        """Mean token loss of each choice as the assistant's answer (lower = more likely)."""
        base = self.prepare(record, root)
        samples = [{**base, "id": f"{base['id']}#{i}", "messages": base["messages"] + [{"role": "assistant", "content": c}]}
                   for i, c in enumerate(choices)]
        batch = self._batch(samples, generation=False)
        return [float(x) for x in self.model.sequence_loss(batch).cpu()]


def _read_done(out: Path) -> set[str]:
    """Ids already in a predictions file; a torn last line (interrupted write) is cut off."""
    import json

    if not out.is_file():
        return set()
    raw = out.read_bytes()
    good, done = bytearray(), set()
    for line in raw.splitlines(keepends=True):
        try:
            row = json.loads(line)
            if not line.endswith(b"\n") or not isinstance(row, dict) or "id" not in row:
                raise ValueError
        except ValueError:
            log.warning("%s: discarding an incomplete line (interrupted write)", out)
            break
        good += line
        done.add(str(row["id"]))
    if len(good) != len(raw):
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(bytes(good))
        os.replace(tmp, out)
    return done


def generate_manifest(predictor: Predictor, manifest: str | os.PathLike, out: str | os.PathLike, *,
                      split: str | None = None, limit: int | None = None, batch_size: int = 8,
                      progress: bool = True, **gen: Any) -> tuple[int, int]:
    """Append ``{"id", "prediction", "reference"}`` lines to ``out`` for the manifest's records.

    Records whose id is already in ``out`` are skipped (resume). Each batch is written with one
    ``write`` and flushed to disk, so a crash loses at most the batch in progress.

    Returns:
        ``(already done, newly generated)``.
    """
    import json

    from medmllm.data.schema import image_root, read_manifest

    records = read_manifest(manifest)
    if split is not None:
        records = [r for r in records if r.get("split") == split]
    if limit is not None:
        records = records[:limit]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _read_done(out)
    todo = [r for r in records if str(r["id"]) not in done]
    root = image_root(manifest)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="generate", unit="record")
    with open(out, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            prepared = [predictor.prepare(r, root, start + i) for i, r in enumerate(chunk)]
            texts = predictor.generate_prepared(prepared, **gen)
            lines = "".join(json.dumps({"id": str(r["id"]), "prediction": t, "reference": p["reference"]},
                                       ensure_ascii=False) + "\n" for r, p, t in zip(chunk, prepared, texts))
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return len(records) - len(todo), len(todo)


def load_predictor(path: str | os.PathLike, **kwargs: Any) -> Any:
    """The benchmark runner's / judge's predictor of an export (``generate(records)``, ``choice_losses``).

    See :func:`medmllm.evaluation.predictor.load_predictor` (used by ``--judge checkpoint:DIR``).
    """
    from medmllm.evaluation.predictor import load_predictor as _load

    return _load(path, **kwargs)
