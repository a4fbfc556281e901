"""MME (Fu et al. 2023): yes/no questions, two per image, over 14 subtasks.

:mod:`.convert` turns a release folder into manifest records (``medmllm prepare mme``); :mod:`.score`
scores the answers by the official rule (``medmllm evaluate`` / ``score-benchmark --benchmark mme``).
"""

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
              "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
SUBTASKS = PERCEPTION + COGNITION
