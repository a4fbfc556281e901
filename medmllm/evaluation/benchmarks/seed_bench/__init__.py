"""SEED-Bench (Li et al. 2023): 4-way multiple choice over 12 evaluation dimensions.

:mod:`.convert` turns ``SEED-Bench.json`` into manifest records (``medmllm prepare seed-bench``);
:mod:`.score` scores the answers, made by likelihood (official) or by generation.
"""
