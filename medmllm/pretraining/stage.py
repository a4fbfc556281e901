"""The ``encoder`` training stage: pretrain the image encoders on image-report pairs and labels.

Run by ``medmllm train`` like every stage (``train.stage: encoder``), configured by
``train.pretrain`` (:class:`~medmllm.config.EncoderPretrainConfig`). The model of the config is
built as usual and wrapped in an :class:`~medmllm.pretraining.model.EncoderPretrainer`: the
encoders train (``train.trainable.encoders``, default all) together with the pretrainer's report
encoder, projections, heads and temperature; the connectors and the LLM take no part in the loss.

Export: the ordinary model export (so ``model.modalities.<m>.encoder.init_from: EXPORT`` and
``model.init_from: EXPORT`` both work) plus the pretraining heads beside it
(:mod:`medmllm.pretraining.heads`), which ``medmllm evaluate --benchmark encoder`` uses for
zero-shot classification and retrieval. In a pipeline the next stage takes only the encoders from
it (``encoder.init_from`` of each modality both share), and keeps them frozen unless its own
``train.trainable.encoders`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from torch import nn

from medmllm.errors import ConfigError
from medmllm.registry import STAGES
from medmllm.training.freeze import TrainableSummary, set_trainable, summarize
from medmllm.training.stages import Stage

log = logging.getLogger(__name__)


PRESET = {
    "description": ("image encoders + report encoder: contrastive (InfoNCE) and multi-label objectives "
                    "(connectors and LLM unused)"),
    "trainable": {"encoders": True, "connectors": False, "llm": False},
    "optim": {"lr": 1e-3, "warmup_ratio": 0.05, "weight_decay": 0.01},
}


class EncoderStage(Stage):
    """Encoder pretraining: CLIP-style image-report contrast plus multi-label findings heads.

    The hooks differ from a preset's: the model is an EncoderPretrainer, the batches carry report
    texts, the LightningModule computes the pretraining loss, the export adds the heads and the
    next stage takes only the encoders.
    """

    def build_model(self, ctx: Any) -> nn.Module:
        """The config's model without ``findings_prompt`` (this stage trains the heads the prompt reads), wrapped."""
        from medmllm.models.mllm import build_model
        from medmllm.pretraining.heads import build_pretrainer

        model = {k: v for k, v in (ctx.config.get("model") or {}).items() if k != "findings_prompt"}
        return build_pretrainer(build_model(model), ctx.train.pretrain)

    def apply(self, model: nn.Module, trainable: dict[str, Any] | None = None) -> TrainableSummary:
        """Freeze everything but the chosen encoders and the pretrainer's own parts."""
        want = self.resolve_trainable(trainable)
        if want.get("connectors") not in (False, None, []) or want.get("llm") not in (False, None):
            raise ConfigError(None, "stage 'encoder': train.trainable.connectors and .llm must be false "
                                    "(only the encoders and the pretraining heads are in its loss)")
        detail = set_trainable(model, {"encoders": want.get("encoders"), "connectors": False, "llm": False}, self.name)
        text = model.text_encoder
        frozen_text = getattr(text, "trainable", True) is False  # an HF text encoder kept frozen
        heads = model.head_parameters()
        for n, p in heads:
            p.requires_grad_(not (frozen_text and n.startswith("text_encoder.model.")))
        detail.update(connectors="frozen (unused)", llm="frozen (unused)",
                      pretrain=f"text encoder ({type(text).__name__}{', frozen' if frozen_text else ''}), "
                               "projections, heads, temperature")
        summary = summarize(model, self.name, detail)
        summary.trainable["pretrain"] = sum(p.numel() for _, p in heads if p.requires_grad)
        summary.total["pretrain"] = sum(p.numel() for _, p in heads)
        for line in summary.lines():
            log.info(line)
        return summary

    def build_datamodule(self, ctx: Any, model: nn.Module) -> Any:
        from medmllm.pretraining.data import encoder_datamodule

        return encoder_datamodule(ctx, model.model)

    def build_module(self, model: nn.Module, ctx: Any) -> Any:
        from medmllm.pretraining.module import EncoderPretrainModule

        return EncoderPretrainModule(model, ctx.train, stage=self, ctx=ctx)

    def export(self, module: Any, out_dir: Any, *, extra: dict[str, Any], card: str) -> None:
        """The model export plus ``pretrain_heads.*`` (see :mod:`medmllm.pretraining.heads`)."""
        from medmllm.models.checkpoint import write_export
        from medmllm.pretraining.heads import save_heads

        pre = module.model
        write_export(pre.model, out_dir, extra=extra, card=card)
        save_heads(pre, out_dir, dataclasses.asdict(module.cfg.pretrain))

    def hand_off(self, export_dir: Any, next_config: dict[str, Any]) -> None:
        """The next stage takes the encoders (not the whole model) unless it names its own ``init_from``,
        and, with ``model.findings_prompt``, this stage's findings heads unless it names its own ``heads``."""
        from medmllm.models.checkpoint import read_export

        model = next_config.setdefault("model", {})
        fp = model.get("findings_prompt")
        if isinstance(fp, dict) and not fp.get("heads"):
            fp["heads"] = str(export_dir)
            log.info("next stage: findings heads from %s", export_dir)
        if model.get("init_from"):
            return
        _, doc = read_export(export_dir)
        have = set((doc.get("model") or {}).get("modalities") or {})
        for m, spec in (model.get("modalities") or {}).items():
            enc = (spec or {}).get("encoder")
            if m in have and isinstance(enc, dict) and not enc.get("init_from"):
                enc["init_from"] = str(export_dir)
                log.info("next stage: %s encoder from %s", m, export_dir)


STAGES.register("encoder")(functools.partial(EncoderStage, "encoder", **PRESET))
