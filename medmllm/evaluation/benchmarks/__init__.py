"""Benchmarks: each converts its release into a manifest and scores a model's answers by its official rule.

A general benchmark is one package, ``<name>/convert.py`` (the ``medmllm prepare`` converter) beside
``<name>/score.py`` (the scorer and its declarations): :mod:`.mme`, :mod:`.seed_bench`,
:mod:`.scienceqa`, :mod:`.mllm_bench`. :mod:`.report` and :mod:`.clinical` score manifests of any
clinical source; ``encoder`` evaluates a checkpoint's encoders itself. :data:`medmllm.registry.FORMATS`
and :data:`medmllm.registry.BENCHMARKS` list the modules.

Shared pieces: :mod:`.base` (the protocol and what a benchmark declares), :mod:`.options` (declared
options), :mod:`.lookup` (building a registered benchmark from the options given), :mod:`.mcq`
(multiple-choice prompt and letter reading), :mod:`.references` (joining rows to references),
:mod:`.runner` (predictions with resume and controls), :mod:`.results` (results files). How to add a benchmark: ``docs/benchmarks.md``.
"""
