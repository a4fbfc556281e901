"""Benchmark scorers, one module per benchmark, registered in :data:`medmllm.registry.BENCHMARKS`
(``mme``, ``seed-bench``, ``scienceqa``, ``mllm-bench``, ``report``, ``clinical``, ``encoder``; the
registry lists the modules).

Shared pieces: :mod:`.base` (the protocol and letter extraction), :mod:`.results` (results files),
:mod:`.runner` (predictions with resume and controls), :mod:`.judges` (pairwise judges).
"""
