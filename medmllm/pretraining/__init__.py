"""Encoder pretraining: the ``encoder`` training stage and the ``encoder`` benchmark, in one place.

- :mod:`.objective`, :mod:`.text_encoders`, :mod:`.model`: the pretrainer (image-report InfoNCE and
  multi-label findings heads around a MedMLLM's image encoders);
- :mod:`.heads`: the pretraining heads saved beside the stage's export, and the pretrainer rebuilt from them;
- :mod:`.data`, :mod:`.module`, :mod:`.stage`: the batches, the LightningModule and the stage hooks
  (``train.stage: encoder``);
- :mod:`.metrics`, :mod:`.features`, :mod:`.benchmark`, :mod:`.benchmark_run`: what a pretrained
  encoder knows (retrieval, zero-shot, linear probe, head AUROC), ``medmllm evaluate --benchmark encoder``.

The stage and the benchmark register through the module lists of :mod:`medmllm.registry`.
"""
