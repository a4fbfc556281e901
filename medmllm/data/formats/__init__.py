"""Converters from external dataset formats to medmllm manifests (one module per format).

Each module registers its converter in :data:`medmllm.registry.FORMATS`, which lists the modules.
The general benchmarks' converters (``mme``, ``seed-bench``, ``scienceqa``, ``mllm-bench``) live
beside their scorers, in ``medmllm/evaluation/benchmarks/<name>/convert.py``; all of them build on
:mod:`.common`.
"""
