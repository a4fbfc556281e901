"""Chart question answering: ChartQA (Masry et al. 2022) and DVQA (Kafle et al. 2018).

:mod:`.convert` turns the releases into manifest records (``medmllm prepare chartqa`` / ``dvqa``);
:mod:`.score` scores the answers: ChartQA by relaxed accuracy (numbers within 5 %, other answers
exactly), DVQA by exact match.
"""

SHORT_ANSWER = "Answer the question using a single word or phrase."
