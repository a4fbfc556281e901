"""Reading text in images, scored by characters.

The records come from the OCR converters (``medmllm prepare icdar-lsvt`` / ``icdar-rctw`` / ``anyword``,
:mod:`medmllm.data.formats.text_regions`): read all the text, read one region, the most prominent
text. :mod:`.score` compares the answer with the transcription character by character after
normalising case, width (full-width -> half-width) and whitespace.
"""
