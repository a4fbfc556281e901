"""MLLM-Bench (Ge et al. 2023): open questions about an image, judged pairwise against another model.

:mod:`.convert` turns ``questions.json`` into manifest records (``medmllm prepare mllm-bench``);
:mod:`.score` has a judge (:mod:`.judges`) compare each answer with the other model's, in both orders.
"""
