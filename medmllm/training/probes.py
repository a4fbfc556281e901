"""The video slot's learnability probe: train a small MedMLLM to tell which way an object moves.

:func:`run_probe` trains a model with a video slot and the tiny LLM on clips of
:func:`medmllm.data.synthetic.motion.moving_object_clips` to answer ``left`` / ``right`` and returns
its held-out accuracy (the answer with the lower loss wins), and the same model's accuracy on the
held-out clips with their frames shuffled (the shuffled-frames control). With ``num_frames=1`` it is
the single-frame control.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from medmllm.data.synthetic.motion import DIRECTIONS, QUESTION, moving_object_clips

log = logging.getLogger(__name__)

PROBE_MEAN, PROBE_STD = 0.25, 0.25  # the clips' intensity statistics: the encoder's normalisation


def probe_model_config(num_frames: int, encoder: str = "frames2d", size: int = 32) -> dict[str, Any]:
    """The probe's model: a video slot and the tiny LLM.

    ``encoder``: ``frames2d`` (a one-layer ViT on every frame + the ``temporal_attn`` connector) or
    ``vit3d`` (a one-layer ViT over time, tubelets of 2 frames, + ``spatial_pool``; 1 frame: tubelets of 1).
    """
    norm = {"mean": [PROBE_MEAN], "std": [PROBE_STD]}
    vit = {"patch_size": 8, "channels": 1, "hidden_size": 32, "num_layers": 1, "num_heads": 2, **norm}
    if encoder == "frames2d":
        slot = {"encoder": {"name": "frames2d", "num_frames": num_frames,
                            "encoder": {"name": "vit2d", "image_size": size, **vit}},
                "connector": {"name": "temporal_attn", "grid": 4, "time_tokens": 1, "depth": 1, "heads": 2}}
    elif encoder == "vit3d":
        tube = 2 if num_frames % 2 == 0 else 1
        slot = {"encoder": {"name": "vit3d", "image_size": [num_frames, size, size], **vit,
                            "patch_size": [tube, 8, 8]},
                "connector": {"name": "spatial_pool", "grid": [min(2, num_frames // tube), 2, 2]}}
    else:
        raise ValueError(f"encoder must be frames2d or vit3d, got {encoder!r}")
    return {"modalities": {"video": slot},
            "llm": {"name": "tiny", "hidden_size": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 512,
                    "corpus": ["Which way does the object move? left right", *DIRECTIONS], "seed": 0},
            "max_length": 128}


def _samples(clips: np.ndarray, labels: np.ndarray, answer: bool) -> list[dict[str, Any]]:
    import torch

    out = []
    for i, (clip, y) in enumerate(zip(clips, labels)):
        msgs = [{"role": "user", "content": QUESTION}]
        if answer:
            msgs.append({"role": "assistant", "content": DIRECTIONS[int(y)]})
        x = torch.from_numpy((clip[None] - PROBE_MEAN) / PROBE_STD)  # (C=1, T, H, W), normalised as the encoder's spec
        out.append({"id": f"clip-{i}", "messages": msgs, "pixels": {"video": [x]}})
    return out


def run_probe(num_frames: int = 8, *, encoder: str = "frames2d", train: int = 512, test: int = 128, steps: int = 200,
              batch: int = 32, lr: float = 3e-3, llm_lr: float = 3e-4, seed: int = 0) -> dict[str, float]:
    """Train the probe model on ``train`` clips; its accuracy on ``test`` held-out clips, in order and shuffled.

    Args:
        num_frames: frames the model sees (uniform sampling of the 8-frame clips; 1 is the middle frame:
            the single-frame control).
        encoder: the video encoder of :func:`probe_model_config`.
        train, test: clip counts (different seeds: the held-out clips are new).
        steps, batch, lr, llm_lr: training (:func:`fit`).
        seed: seeds the clips, the model and the batches.

    Returns:
        ``{"accuracy": held-out accuracy, "shuffled_frames": the same model on the held-out clips with
        their frames permuted}``.
    """
    import torch

    from medmllm.io.frames import uniform_indices
    from medmllm.models.mllm import build_model

    torch.manual_seed(seed)
    clips, labels = moving_object_clips(train, seed=seed)
    held, held_labels = moving_object_clips(test, seed=seed + 10_000)
    keep = uniform_indices(clips.shape[1], num_frames)
    clips, held = clips[:, keep], held[:, keep]
    rng = np.random.default_rng(seed + 1)
    shuffled = np.stack([c[rng.permutation(len(c))] for c in held])
    model = build_model(probe_model_config(num_frames, encoder))
    fit(model, _samples(clips, labels, answer=True), steps=steps, batch=batch, lr=lr, llm_lr=llm_lr, seed=seed)
    return {"accuracy": choice_accuracy(model, _samples(held, held_labels, answer=False), DIRECTIONS, held_labels),
            "shuffled_frames": choice_accuracy(model, _samples(shuffled, held_labels, answer=False), DIRECTIONS,
                                               held_labels)}


def fit(model: Any, samples: list[dict[str, Any]], *, steps: int, batch: int = 32, lr: float = 3e-3,
        llm_lr: float = 3e-4, seed: int = 0) -> None:
    """Train ``model`` on ``samples`` (collator samples with their assistant turn) with AdamW, batches drawn at
    random: ``lr`` for the encoders and connectors, ``llm_lr`` for the LLM (a lower LLM rate keeps it from
    settling on the answers' prior before it reads the clip)."""
    import torch

    from medmllm.data.collate import Collator

    collate = Collator(model.tokenizer, model.num_image_tokens, model.config.max_length)
    vision = [p for n, p in model.named_parameters() if not n.startswith("llm.")]
    opt = torch.optim.AdamW([{"params": vision, "lr": lr}, {"params": model.llm.parameters(), "lr": llm_lr}])
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        b = collate([samples[i] for i in torch.randint(len(samples), (batch,), generator=gen).tolist()])
        loss = model(b["input_ids"], b["attention_mask"], b["labels"], b["pixel_values"], b["image_sample_index"]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log.info("step %d: loss %.3f", step, loss.item())
    model.eval()


def choice_accuracy(model: Any, samples: list[dict[str, Any]], choices: Sequence[str], truth: Sequence[int]) -> float:
    """Share of ``samples`` (prompt only) whose right choice (``truth[i]``, an index into ``choices``) has the
    lowest loss as the reply."""
    import torch

    from medmllm.data.collate import Collator

    collate = Collator(model.tokenizer, model.num_image_tokens, model.config.max_length)
    with torch.no_grad():
        losses = [model.sequence_loss(collate([{**s, "messages": s["messages"] + [{"role": "assistant", "content": c}]}
                                               for s in samples])) for c in choices]
    return float((torch.stack(losses, 1).argmin(1).numpy() == np.asarray(truth)).mean())
