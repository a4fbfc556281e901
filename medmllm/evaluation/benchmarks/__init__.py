"""Benchmark scorers, one module per benchmark; importing this package registers them in
:data:`medmllm.registry.BENCHMARKS` (``mme``, ``seed-bench``, ``scienceqa``, ``mllm-bench``, ``report``,
``clinical``, ``encoder``).

Shared pieces: :mod:`.base` (the protocol and letter extraction), :mod:`.results` (results files),
:mod:`.runner` (predictions with resume and controls), :mod:`.judges` (pairwise judges).
"""

from medmllm.evaluation.benchmarks import (clinical, mllm_bench, mme, report, scienceqa,  # noqa: F401  (registration)
                                           seed_bench)
from medmllm.evaluation.benchmarks import encoder  # noqa: F401  (registration)
