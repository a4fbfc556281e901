"""What the labeler's lexicon entries mean: one concept per observation, shared by all languages.

A *concept* says which CheXpert observations a mention speaks about, which findings key (if any)
it sets, and how location words attach to it:

- ``family="lobe"`` concepts (consolidation, opacity, nodule ...) take lobes ("right lower lobe",
  "RLL", "bibasilar", "右肺下叶"); only ``consolidation`` and ``pneumonia`` turn a lobe into a
  ``consolidation:<lobe>`` key (lobar pneumonia is consolidation of that lobe).
- ``family="side"`` concepts (pleural effusion, pneumothorax) take sides; a lobe word gives its
  side; "bilateral" is both sides.

``implies`` lists observations that a positive or uncertain mention also asserts (a consolidation
is a lung opacity) but that a negated mention does not deny ("no consolidation" says nothing about
other opacities). This follows :func:`medmllm.findings.to_chexpert`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Concept:
    """One observation the lexicon can mention.

    Attributes:
        name: concept id used by the lexicon modules.
        chexpert: CheXpert observations the mention is about (set for any status).
        implies: observations also set when the mention is positive or uncertain.
        findings: findings-key bases it sets (``"pleural_effusion"``, ``"consolidation"`` ...).
        family: how location words attach: ``"lobe"``, ``"side"`` or None.
        located_only: the findings keys are set only when a lobe is named (a negated "pneumonia"
            without a lobe does not deny consolidation of every lobe).
        negates_findings: findings bases set to 0 (every lobe/side) when the mention is negative
            (e.g. "negative for pneumonia" also denies bronchopneumonia).
        explains_away: the mention places a finding outside the lung or explains it as something
            else (a density over the breast, a nodule that is a nipple shadow, a mass of bone); it
            wins over any mention it overlaps, however long.
    """

    name: str
    chexpert: tuple[str, ...] = ()
    implies: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    family: str | None = None
    located_only: bool = False
    negates_findings: tuple[str, ...] = field(default_factory=tuple)
    explains_away: bool = False


_ALL = (
    Concept("cardiomegaly", ("Cardiomegaly",), findings=("cardiomegaly",)),
    Concept("enlarged_cm", ("Enlarged Cardiomediastinum",)),
    # "cardiomediastinal silhouette is normal": speaks about both the heart and the mediastinum
    Concept("heart_and_mediastinum", ("Cardiomegaly", "Enlarged Cardiomediastinum"), findings=("cardiomegaly",)),
    Concept("opacity", ("Lung Opacity",), family="lobe"),
    Concept("lung_lesion", ("Lung Lesion",), family="lobe"),
    Concept("nodule", ("Lung Lesion",), findings=("nodule",), family="lobe"),
    # "nodular opacity": a nodule and, being an opacity, a lung opacity
    Concept("nodular_opacity", ("Lung Lesion",), implies=("Lung Opacity",), findings=("nodule",), family="lobe"),
    Concept("edema", ("Edema",)),
    Concept("consolidation", ("Consolidation",), implies=("Lung Opacity",), findings=("consolidation",), family="lobe"),
    Concept("pneumonia", ("Pneumonia",), findings=("consolidation",), family="lobe",
            located_only=True, negates_findings=("bronchopneumonia",)),
    # infection / inflammation words: Pneumonia, but not evidence of lobar consolidation
    Concept("infection", ("Pneumonia",), family="lobe"),
    Concept("bronchopneumonia", ("Pneumonia",), implies=("Lung Opacity",), findings=("bronchopneumonia",),
            family="lobe"),
    Concept("ground_glass", ("Lung Opacity",), findings=("ground_glass",), family="lobe"),
    Concept("atelectasis", ("Atelectasis",), implies=("Lung Opacity",), findings=("atelectasis",), family="lobe"),
    Concept("pneumothorax", ("Pneumothorax",), findings=("pneumothorax",), family="side"),
    Concept("effusion", ("Pleural Effusion",), findings=("pleural_effusion",), family="side"),
    Concept("hydropneumothorax", ("Pleural Effusion", "Pneumothorax"), findings=("pleural_effusion", "pneumothorax"),
            family="side"),
    Concept("pleural_other", ("Pleural Other",), family="side"),
    Concept("fracture", ("Fracture",)),
    Concept("device", ("Support Devices",)),
    Concept("hyperinflation", (), findings=("hyperinflation",)),
    # words that name no CheXpert observation but would otherwise be read as one: chronic interstitial
    # markings and bronchial wall thickening (not an opacity, not a pneumonia), granulomas (not a lesion,
    # not an infection), infections of the past (not a pneumonia now)
    Concept("interstitial"),
    Concept("granuloma"),
    # masses of bone, breast or mediastinum, densities over a rib or the breast, nodules that are nipple
    # shadows or monitor leads: not a finding of the lung
    Concept("outside_lung", explains_away=True),
    Concept("granuloma_opacity", ("Lung Opacity",), family="lobe"),
    Concept("history"),
    # "the lungs are clear": no parenchymal abnormality (only ever negative; positives elsewhere win)
    Concept("lungs_clear", ("Lung Opacity", "Consolidation", "Pneumonia", "Edema"), family="lobe",
            findings=("consolidation",), negates_findings=("bronchopneumonia", "ground_glass")),
)

CONCEPTS: dict[str, Concept] = {c.name: c for c in _ALL}
