"""Findings-guided prompting: the image encoders' multi-label heads write what they see into the prompt.

As PromptMRG's diagnosis-driven prompts do, an expert model describes the image in text for the LLM:
the ``encoder`` stage trains a multi-label findings head per modality (:mod:`medmllm.pretraining`);
with ``model.findings_prompt`` (:class:`~medmllm.config.FindingsPromptConfig`) those heads give a
probability per finding key for every image of a request, the probabilities of the images shown are
merged, and the findings at or above the threshold are written into the user turn (after the image
placeholders, before the instruction) by a per-language template, e.g.::

    <xray>
    <ct>
    Findings detected by the image classifier: right lower lobe consolidation, left pleural effusion.
    Write one radiology report from the chest radiograph and the chest CT.

With ``visual_tokens: false`` the placeholders (and the images' pixels) leave the LLM's input: it
reads the hint alone. The hint comes from the images only, never from labels, so the
shuffled-images control (another patient's images) gets that patient's hint.

One module holds it all: the heads (:class:`FindingsHeads`, attached to a ``MedMLLM`` as
``model.findings_heads`` by :func:`attach`; saved in an export as ``findings_heads.safetensors``
by :meth:`FindingsHeads.save`),
the probabilities of a sample (:func:`sample_probabilities`, :func:`combine`), the text
(:func:`hint_text`) and the rewritten sample (:func:`rewrite_messages`, :func:`apply_hint`).
Training computes each image's probabilities once, before the stage
(:mod:`medmllm.training.findings_hints`); inference (:class:`medmllm.inference.Predictor`) computes
them for every request.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from medmllm.errors import ConfigError, InputError

log = logging.getLogger(__name__)

FILE = "findings_heads.safetensors"
FORMAT = "medmllm-findings-heads"
PRETRAIN_HEADS = "pretrain_heads.safetensors"  # written by medmllm.pretraining.heads
PRETRAIN_CONFIG = "pretrain_heads.yaml"
SEPARATOR = {"en": ", ", "zh": "、"}
NORMAL = "normal"


class FindingsHeads(nn.Module):
    """One linear multi-label head per modality over the mean of the encoder's tokens (as the encoder stage trains it).

    Args:
        widths: modality -> the encoder's hidden size.
        labels: the finding keys of the heads' outputs, in order.
    """

    def __init__(self, widths: Mapping[str, int], labels: Sequence[str]):
        super().__init__()
        self.labels = tuple(labels)
        self.heads = nn.ModuleDict({m: nn.Linear(int(w), len(self.labels)) for m, w in widths.items()})
        self.trained = False  # set when weights were loaded from an export
        self.thresholds: dict[str, float] = {}  # per-label operating points (``calibrate``), else the config's

    def save(self, folder: str | Path) -> None:
        """Write the heads into an export folder as ``findings_heads.safetensors`` (labels in its metadata)."""
        from safetensors.torch import save_file

        sd = {k: v.detach().contiguous().cpu() for k, v in self.heads.state_dict().items()}
        save_file(sd, str(Path(folder) / FILE), metadata={"format": FORMAT, "labels": json.dumps(list(self.labels)),
                                                         "thresholds": json.dumps(self.thresholds)})

    def forward(self, encoder: nn.Module, modality: str, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` probabilities of ``N`` images ``(N, C, *spatial)`` of ``modality``."""
        head = self.heads[modality]
        pooled = encoder(pixels.to(head.weight.device)).mean(1)  # (N, D)
        return torch.sigmoid(head(pooled.to(head.weight.dtype)).float())


def combine(per_image: Sequence[torch.Tensor], how: str = "mean") -> torch.Tensor | None:
    """One ``(K,)`` probability vector from those of the images a sample shows (None without images)."""
    if not per_image:
        return None
    stacked = torch.stack([p.float().cpu() for p in per_image])  # (N, K)
    return stacked.max(0).values if how == "max" else stacked.mean(0)


@torch.no_grad()
def image_probabilities(model: Any, modality: str, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``(K,)`` probabilities per image tensor (an AnyRes image: the mean over its views)."""
    from medmllm.data.collate import views_of

    heads: FindingsHeads = model.findings_heads
    if modality not in heads.heads or not images:
        return []
    views = [views_of(modality, x) for x in images]
    rows = torch.stack([v for vs in views for v in vs])  # (V_total, C, *spatial)
    probs = heads(model.encoders[modality], modality, rows).cpu()  # (V_total, K)
    out, at = [], 0
    for vs in views:
        out.append(probs[at:at + len(vs)].mean(0))
        at += len(vs)
    return out


def sample_probabilities(model: Any, pixels: Mapping[str, Sequence[torch.Tensor]], how: str = "mean") -> torch.Tensor | None:
    """The ``(K,)`` probabilities of one sample's images (``pixels``: modality -> preprocessed tensors)."""
    per: list[torch.Tensor] = []
    for m, xs in pixels.items():
        per += image_probabilities(model, m, list(xs))
    return combine(per, how)


def finding_name(key: str, lang: str) -> str:
    """The plain name of a finding key (``right lower lobe consolidation``); unknown keys as written."""
    from medmllm.findings import describe

    try:
        return describe(key, lang if lang in SEPARATOR else "en")
    except (KeyError, ValueError):
        return key.replace("_", " ").replace(":", " ")


def hint_text(probs: torch.Tensor | Sequence[float], labels: Sequence[str], cfg: Any, lang: str = "en",
              thresholds: Mapping[str, float] | None = None) -> str:
    """The hint line: the findings at or above their threshold (``thresholds[key]``, else ``cfg.threshold``),
    most probable first, by the language's template."""
    lang = lang if lang in cfg.template else ("en" if "en" in cfg.template else next(iter(cfg.template)))
    values = [float(p) for p in (probs.tolist() if isinstance(probs, torch.Tensor) else probs)]
    cut = thresholds or {}
    found = sorted(((p, k) for k, p in zip(labels, values) if k != NORMAL and p >= cut.get(k, cfg.threshold)),
                   key=lambda pk: -pk[0])[: cfg.max_findings]
    names = [finding_name(k, lang) + (f" ({p:.2f})" if cfg.probabilities else "") for p, k in found]
    if not names:
        names = [finding_name(NORMAL, lang)]
    return cfg.template[lang].format(findings=SEPARATOR.get(lang, ", ").join(names))


def rewrite_messages(messages: Sequence[Mapping[str, Any]], hint: str, visual_tokens: bool = True) -> list[dict[str, Any]]:
    """The messages with ``hint`` as the first line after the image placeholders of the last user turn.

    Without ``visual_tokens`` every image placeholder is removed from every turn.
    """
    from medmllm.data.conversation import PLACEHOLDERS
    from medmllm.data.prompts import strip_placeholders

    msgs = [dict(m) for m in messages]
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    if not users:
        raise InputError(None, "findings prompt: the messages have no user turn")
    if not visual_tokens:
        for m in msgs:
            if m.get("role") in ("user", "system") and isinstance(m.get("content"), str):
                m["content"] = strip_placeholders(m["content"]) if any(p in m["content"] for p in PLACEHOLDERS.values()) \
                    else m["content"]
    last = msgs[users[-1]]
    lines = str(last.get("content") or "").split("\n")
    head = 0
    while head < len(lines) and lines[head].strip() in PLACEHOLDERS.values():
        head += 1
    rest = "\n".join(lines[head:]).strip()
    last["content"] = "\n".join(lines[:head] + [hint] + ([rest] if rest else []))
    return msgs


def apply_hint(sample: dict[str, Any], probs: torch.Tensor | None, labels: Sequence[str], cfg: Any,
               lang: str = "en", thresholds: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A copy of ``sample`` (``messages``, ``pixels``) whose user turn carries the hint of ``probs``.

    A sample without images (``probs`` None) is returned as it is. Without ``cfg.visual_tokens`` its
    pixels and image keys are dropped (the LLM reads the hint only).
    """
    if probs is None:
        return sample
    out = dict(sample)
    out["messages"] = rewrite_messages(sample["messages"], hint_text(probs, labels, cfg, lang, thresholds),
                                       cfg.visual_tokens)
    out["findings_probabilities"] = {k: round(float(p), 4) for k, p in zip(labels, probs.tolist())}
    if not cfg.visual_tokens:
        out["pixels"], out["image_keys"] = {}, {}
    return out


def hint_sample(model: Any, sample: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """:func:`apply_hint` with the probabilities the model's heads give for the sample's own pixels."""
    cfg = model.config.findings_prompt
    probs = sample_probabilities(model, sample.get("pixels") or {}, cfg.combine)
    heads = model.findings_heads
    return apply_hint(sample, probs, heads.labels, cfg, lang, heads.thresholds)


def calibrate(probs: Sequence[torch.Tensor], labels: Sequence[Mapping[str, Any]], keys: Sequence[str],
              grid: int = 99) -> dict[str, dict[str, float]]:
    """Per finding key, the threshold that maximises F1 over samples (``probs[i]``: ``(K,)``, ``labels[i]``: key -> 0/1).

    Thresholds ``1/(grid+1) ... grid/(grid+1)`` are tried; the middle of the best plateau is kept. Keys
    without a positive and a negative sample (and ``normal``, derived from the others) are left out.

    Returns:
        ``{key: {"threshold", "f1", "positives"}}``.
    """
    out: dict[str, dict[str, float]] = {}
    if not probs:
        return out
    p = torch.stack([x.float() for x in probs])  # (N, K)
    cand = torch.arange(1, grid + 1, dtype=torch.float32) / (grid + 1)  # (G,)
    for j, key in enumerate(keys):
        y = torch.tensor([1.0 if (lab or {}).get(key) == 1 else 0.0 if (lab or {}).get(key) == 0 else float("nan")
                          for lab in labels])
        known = ~torch.isnan(y)
        if key == NORMAL or not bool(known.any()):
            continue
        yk, pk = y[known].bool(), p[known, j]
        if not bool(yk.any()) or bool(yk.all()):
            continue
        pred = pk[None, :] >= cand[:, None]  # (G, N)
        tp = (pred & yk).sum(1).float()
        fp_ = (pred & ~yk).sum(1).float()
        fn = (~pred & yk).sum(1).float()
        f1 = 2 * tp / (2 * tp + fp_ + fn).clamp_min(1)
        best = torch.nonzero(f1 == f1.max()).flatten()
        out[key] = {"threshold": round(float(cand[best].mean()), 3), "f1": round(float(f1.max()), 3),
                    "positives": int(yk.sum())}
    return out


# ---- the heads' files ----------------------------------------------------------------------------
def _pretrain_heads(root: Path, widths: Mapping[str, int]) -> tuple[list[str], dict[str, torch.Tensor], dict[str, float]]:
    """Label keys, ``{modality.weight|bias: tensor}`` and (no) thresholds of an encoder-stage export's heads."""
    from medmllm.config import read_yaml
    from medmllm.models.checkpoint import read_safetensors

    cfg_file, file = root / PRETRAIN_CONFIG, root / PRETRAIN_HEADS
    if not cfg_file.is_file() or not file.is_file():
        raise ConfigError(root, f"model.findings_prompt.heads: no pretraining heads ({PRETRAIN_CONFIG}, "
                                f"{PRETRAIN_HEADS}); give the export of an encoder stage with label_weight > 0")
    labels = list(read_yaml(cfg_file).get("labels") or [])
    sd = {k[len("heads."):]: v for k, v in read_safetensors(file).items() if k.startswith("heads.")}
    if not labels or not any(f"{m}.weight" in sd for m in widths):
        raise ConfigError(root, "model.findings_prompt.heads: the encoder stage trained no findings head for "
                                f"{', '.join(widths)} (label_weight 0?)")
    return labels, sd, {}


def _export_heads(root: Path) -> tuple[list[str], dict[str, torch.Tensor], dict[str, float]] | None:
    """Label keys, weights and calibrated thresholds of the heads stored in an export, or None."""
    from safetensors import safe_open

    from medmllm.models.checkpoint import read_safetensors

    file = root / FILE
    if not file.is_file():
        return None
    with safe_open(str(file), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise InputError(file, f"not a findings-heads file (format is not '{FORMAT}')")
    return (list(json.loads(meta.get("labels") or "[]")), read_safetensors(file),
            {k: float(v) for k, v in json.loads(meta.get("thresholds") or "{}").items()})


def attach(model: Any, export: str | Path | None = None, *, untrained: bool = False) -> None:
    """Give a model with ``config.findings_prompt`` its heads as ``model.findings_heads``.

    The weights come from ``config.findings_prompt.heads`` (an encoder-stage export) when set, else
    from ``export`` (the ``init_from`` export or the export being loaded: its ``findings_heads``, or
    its pretraining heads when it is an encoder stage's). With none of them the heads stay untrained,
    which only ``untrained`` allows (``medmllm validate`` builds stages before their encoder stage has
    run).

    Raises:
        ConfigError: no heads where they were needed, heads for other modalities or of another width.
    """
    cfg = model.config.findings_prompt
    if cfg is None:
        return
    widths = {m: int(e.hidden_size) for m, e in model.encoders.items()}
    if not widths:
        raise ConfigError(None, "model.findings_prompt: the model has no image encoder to read the findings")
    source = cfg.heads or export
    found = None
    if source:
        root = Path(source)
        found = _export_heads(root) or _pretrain_heads(root, widths)
    if found is None:
        if not untrained:
            raise ConfigError(None, "model.findings_prompt: no findings heads: set model.findings_prompt.heads to an "
                                    "encoder-stage export, or put an encoder stage before this one in the pipeline")
        heads = FindingsHeads(widths, _default_labels())
        log.warning("model.findings_prompt: untrained findings heads (the hint is noise until they are loaded)")
    else:
        labels, sd, thresholds = found
        mods = [m for m in widths if f"{m}.weight" in sd]
        if not mods:
            raise ConfigError(root, f"model.findings_prompt: {root} has no findings head for {', '.join(widths)}")
        heads = FindingsHeads({m: widths[m] for m in mods}, labels)
        try:
            heads.heads.load_state_dict({k: v for k, v in sd.items() if k.split(".")[0] in mods}, strict=True)
        except RuntimeError as e:
            raise ConfigError(root, f"model.findings_prompt: the findings heads do not fit this model's encoders: "
                                    f"{str(e).splitlines()[-1].strip()}") from None
        heads.trained = True
        heads.thresholds = thresholds
        log.info("findings prompt: %d finding heads for %s from %s", len(labels), ", ".join(mods), root)
    heads.requires_grad_(False)
    model.findings_heads = heads.to(next(model.encoders.parameters()).device)


def _default_labels() -> list[str]:
    from medmllm.findings import FINDING_KEYS

    return list(FINDING_KEYS)
