"""Benchmark scorers, one module per benchmark; importing this package registers them in
:data:`medmllm.registry.BENCHMARKS` (``mme``, ``seed-bench``, ``scienceqa``, ``mllm-bench``, ...).

Shared pieces: :mod:`.base` (the protocol and letter extraction), :mod:`.results` (results files),
:mod:`.runner` (predictions with resume and controls), :mod:`.judges` (pairwise judges).
"""

from medmllm.evaluation.benchmarks import mllm_bench, mme, scienceqa, seed_bench  # noqa: F401  (registration)
