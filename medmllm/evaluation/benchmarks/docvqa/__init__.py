"""Document and infographic question answering: DocVQA (Mathew et al. 2021) and InfographicVQA (2022).

:mod:`.convert` turns their QA JSON into manifest records (``medmllm prepare docvqa`` / ``infovqa``);
:mod:`.score` scores the answers by ANLS (average normalised Levenshtein similarity, threshold 0.5),
the official metric of both.
"""
