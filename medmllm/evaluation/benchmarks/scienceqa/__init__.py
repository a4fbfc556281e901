"""ScienceQA (Lu et al. 2022): multiple-choice science questions, with or without an image.

:mod:`.convert` turns the dataset folder into manifest records (``medmllm prepare scienceqa``);
:mod:`.score` reads the answer's option letter and scores accuracy overall, on image questions and
per subject.
"""
