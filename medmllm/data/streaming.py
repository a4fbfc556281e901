"""Preprocessed samples as litdata chunks: write with ``prepare --optimize``, stream in the DataModule.

Each chunk item holds one sample: its text fields (JSON strings), the deterministic output of the
image pipelines per modality (all images of a modality concatenated along dim 0, with the AnyRes
view count of each image in ``<m>_views``: 0 for a plain image) and, when a tokenizer was given,
its ``input_ids`` and ``token_labels``. Every item also records ``prep``: the pipelines' config
hashes and the tokenizer fingerprint, so chunks made for another encoder or tokenizer are refused
instead of silently used.

Chunks are read from a local folder or an object-store URL that litdata reads (``s3://bucket/prefix``,
``gs://``, ``azure://``) and written to a local folder or ``s3://`` (written locally, then
uploaded). Credentials come from the usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL`` for S3-compatible servers ...) or ``storage_options`` (boto3 client options,
e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from medmllm.data.collate import SPATIAL_DIMS
from medmllm.data.dataset import ManifestDataset
from medmllm.data.transforms import ImagePipeline
from medmllm.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

MODALITIES = ("xray", "ct")


def _litdata() -> Any:
    """The litdata module, or a one-line error saying how to install it (without torchvision)."""
    try:
        import litdata
    except ImportError:
        raise MissingDependencyError("litdata", "litdata chunks (prepare --optimize, streamed sources)",
                                     hint='pip install --no-deps "litdata>=0.2" && pip install "medmllm[streaming]"') from None
    return litdata


def tokenizer_fingerprint(tokenizer: Any) -> str | None:
    """Hash of a tokenizer's vocabulary and chat template (None without a tokenizer)."""
    if tokenizer is None:
        return None
    blob = json.dumps([sorted(tokenizer.get_vocab().items()), getattr(tokenizer, "chat_template", None)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prep_signature(pipelines: dict[str, ImagePipeline], tokenizer: Any = None, max_length: int | None = None) -> str:
    """What decides the content of a chunk item (pipelines, tokenizer, max_length), as a JSON string."""
    return json.dumps({"pipelines": {m: p.config_hash for m, p in sorted(pipelines.items())},
                       "tokenizer": tokenizer_fingerprint(tokenizer),
                       "max_length": max_length if tokenizer is not None else None}, sort_keys=True)


class SampleWriter:
    """Turns a dataset index into one chunk item (a picklable callable for ``litdata.optimize``)."""

    def __init__(self, dataset: ManifestDataset, collator: Any = None, signature: str = ""):
        self.dataset, self.collator, self.signature = dataset, collator, signature

    def __call__(self, i: int) -> dict[str, Any] | None:
        from medmllm.data.conversation import ConversationTooLongError

        rec = self.dataset.records[i]
        sample = self.dataset[i]
        item: dict[str, Any] = {"id": rec["id"], "prep": self.signature,
                                "record": json.dumps({k: sample[k] for k in ("messages", "task", "labels", "answer",
                                                                             "choices", "meta")}, ensure_ascii=False)}
        for m in MODALITIES:
            xs = sample["pixels"].get(m, [])
            nd = SPATIAL_DIMS[m] + 1
            rows = [x[None] if x.dim() == nd else x for x in xs]
            item[m] = torch.cat(rows) if rows else torch.zeros((0,) + (1,) * nd)  # (R, C, *spatial)
            item[f"{m}_views"] = torch.tensor([0 if x.dim() == nd else x.shape[0] for x in xs], dtype=torch.int32)
        if self.collator is not None:
            try:
                ids, labels = self.collator.encode(sample)
            except ConversationTooLongError as e:
                log.warning("not written: %s", e)
                return None  # litdata skips None items
            item["input_ids"] = torch.tensor(ids, dtype=torch.int32)
            item["token_labels"] = torch.tensor(labels, dtype=torch.int32)
        else:
            item["input_ids"] = item["token_labels"] = torch.zeros((0,), dtype=torch.int32)
        return item


def optimize_dataset(dataset: ManifestDataset, output_dir: str | os.PathLike, *, collator: Any = None,
                     chunk_bytes: str = "64MB", num_workers: int = 1,
                     storage_options: dict[str, Any] | None = None) -> int:
    """Write every sample of ``dataset`` (images preprocessed, augmentation off) as litdata chunks.

    Args:
        dataset: built with evaluation pipelines (``train=False``).
        output_dir: a new local folder, or an ``s3://bucket/prefix`` URL (written locally, then
            uploaded with boto3, which also works with plain-http S3-compatible servers).
        collator: a :class:`~medmllm.data.collate.Collator` to store tokens too (None: text only).
        chunk_bytes: chunk size.
        num_workers: litdata worker processes.
        storage_options: for ``s3://``: boto3 client options (``endpoint_url`` ...).

    Returns:
        The number of samples written (samples longer than the collator's ``max_length`` are not).
    """
    import tempfile

    litdata = _litdata()
    url = str(output_dir)
    if url.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="medmllm-chunks-") as tmp:
            n = optimize_dataset(dataset, Path(tmp) / "chunks", collator=collator, chunk_bytes=chunk_bytes,
                                 num_workers=num_workers)
            upload_folder(Path(tmp) / "chunks", url, storage_options)
        return n
    if "://" in url:
        raise InputError(url, "only local folders and s3:// URLs can be written")
    tok = getattr(collator, "tokenizer", None)
    signature = prep_signature(dataset.pipelines, tok, getattr(collator, "max_length", None))
    out = Path(output_dir)
    if out.exists() and any(out.iterdir()):
        raise InputError(out, "output folder exists and is not empty")
    # spawn, never fork: a child forked after torch's OpenMP pool has run deadlocks in its first
    # parallel op (seen in MONAI Spacingd -> affine_grid). The writer and its dataset are picklable.
    litdata.optimize(fn=SampleWriter(dataset, collator, signature), inputs=list(range(len(dataset))),
                     output_dir=str(out.resolve()), chunk_bytes=chunk_bytes, num_workers=num_workers,
                     verbose=False, start_method="spawn")
    index = out / "index.json"
    return sum(int(c.get("chunk_size", 0)) for c in json.loads(index.read_text())["chunks"])


def upload_folder(folder: Path, url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Copy the files of ``folder`` to ``s3://bucket/prefix/`` (refuses a prefix that holds chunks)."""
    import boto3

    bucket, _, prefix = url[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    client = boto3.client("s3", **(storage_options or {}))
    if client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/index.json").get("KeyCount", 0):
        raise InputError(url, "already holds chunks (index.json); choose a new prefix")
    for f in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "index.json"):
        client.upload_file(str(f), bucket, f"{prefix}/{f.name}")
    client.upload_file(str(folder / "index.json"), bucket, f"{prefix}/index.json")  # last: marks completion


class StreamingSamples(Dataset):
    """Samples read back from litdata chunks, in the dataset sample format (map-style).

    Args:
        input_dir: the chunk folder or object-store URL.
        pipelines: the model's pipelines (their config hashes must match the chunks'; ``augment``
            is applied to every image when they were built with ``train=True``).
        tokenizer, max_length: when the chunks hold tokens, they must have been made with these.
        tasks: keep only these tasks (filtering reads every item once).
        storage_options: passed to litdata (endpoint, credentials).
    """

    def __init__(self, input_dir: str, pipelines: dict[str, ImagePipeline], *, tokenizer: Any = None,
                 max_length: int | None = None, tasks: list[str] | None = None,
                 storage_options: dict[str, Any] | None = None, cache_dir: str | None = None):
        litdata = _litdata()
        self.input_dir = input_dir
        self.pipelines = pipelines
        self.ds = litdata.StreamingDataset(input_dir, storage_options=storage_options or {}, cache_dir=cache_dir)
        if len(self.ds) == 0:
            raise InputError(input_dir, "no samples in the chunks")
        first = json.loads(self.ds[0]["prep"])
        want = json.loads(prep_signature(pipelines, tokenizer, max_length))
        if first["pipelines"] != {m: h for m, h in want["pipelines"].items() if m in first["pipelines"]}:
            raise InputError(input_dir, "chunks were preprocessed with other transforms or encoder sizes; "
                                        "rerun `medmllm prepare --optimize` for this model")
        self.has_tokens = first["tokenizer"] is not None
        if self.has_tokens and tokenizer is not None and (first["tokenizer"], first["max_length"]) != (
                want["tokenizer"], want["max_length"]):
            raise InputError(input_dir, "chunks were tokenised with another tokenizer or max_length; "
                                        "rerun `medmllm prepare --optimize` for this model")
        self.index = list(range(len(self.ds)))
        if tasks:
            self.index = [i for i in self.index if json.loads(self.ds[i]["record"]).get("task") in tasks]

    def __len__(self) -> int:
        return len(self.index)

    def length(self, i: int) -> int:
        return 0  # unknown without reading the item; length grouping is a no-op here

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.ds[self.index[i]]
        rec = json.loads(item["record"])
        pixels: dict[str, list[torch.Tensor]] = {}
        for m in MODALITIES:
            views = [int(v) for v in item[f"{m}_views"].reshape(-1)]
            rows, k = item[m], 0
            for v in views:
                x = rows[k] if v == 0 else rows[k:k + v]
                k += max(v, 1)
                pipe = self.pipelines.get(m)
                pixels.setdefault(m, []).append(pipe.augment(x) if pipe is not None else x)
        out = {"id": item["id"], "pixels": pixels, **rec}
        if self.has_tokens:
            out["input_ids"] = item["input_ids"].tolist()
            out["token_labels"] = item["token_labels"].tolist()
        return out
