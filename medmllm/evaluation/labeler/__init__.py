"""The rule-based clinical labeler: radiology report text -> CheXpert observations and findings keys.

One feature folder: :mod:`.pipeline` (normalise, sentences, mentions, aggregation),
:mod:`.scope` (negation and uncertainty scopes), :mod:`.locations` (lobes and sides),
:mod:`.concepts` (what a mention means), :mod:`.lexicon_en` and :mod:`.lexicon_zh` (the words).
``medmllm label`` runs :func:`label_report`; how it scores on real reports: ``docs/labeler.md``.
"""

from medmllm.evaluation.labeler.pipeline import (
    LABELER_VERSION,
    LANGS,
    Mention,
    extract_mentions,
    label_report,
    label_reports,
)

__all__ = ["LABELER_VERSION", "LANGS", "Mention", "extract_mentions", "label_report", "label_reports"]
