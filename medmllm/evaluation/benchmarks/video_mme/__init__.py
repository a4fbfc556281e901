"""Video-MME (Fu et al. 2024): 900 videos (short, medium, long), 2,700 four-option questions, 12 task types.

:mod:`.convert` turns the release (its parquet or JSON question file, the videos, optional ``.srt``
subtitles) into manifest records (``medmllm prepare video-mme``); :mod:`.score` scores the answers by the
official rule, with or without subtitles (``medmllm evaluate`` / ``score-benchmark video-mme``);
:mod:`.subtitles` reads the ``.srt`` files. The prompt is the official one (the release's README).
"""

from __future__ import annotations

DURATIONS = ("short", "medium", "long")
DOMAINS = ("Knowledge", "Film & Television", "Sports Competition", "Artistic Performance", "Life Record",
           "Multilingual")
TASK_TYPES = ("Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
              "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning", "Spatial Reasoning",
              "Action Reasoning", "Object Reasoning", "Information Synopsis")
INSTRUCTION = ("Select the best answer to the following multiple-choice question based on the video. "
               "Respond with only the letter (A, B, C, or D) of the correct option.")
SUBTITLES_HEADER = "This video's subtitles are listed below:"
ANSWER_CUE = "The best answer is:"


def video_mme_prompt(question: str, options: list[str], subtitles: str | None = None) -> str:
    """The official prompt after the ``<video>`` placeholder: [subtitles block,] instruction, question, the
    options as lines (``A. ...``), ``The best answer is:``."""
    head = f"{SUBTITLES_HEADER}\n{subtitles}\n" if subtitles else ""
    return "<video>\n" + head + "\n".join([INSTRUCTION, question.strip(), *options, ANSWER_CUE])
