"""IU X-ray MeSH indexing -> the 14 CheXpert observations, where the mapping is clean.

Each IU report is indexed by NLM with MeSH terms ``Descriptor/qualifier/...`` ("Pleural
Effusion/right/small", "Opacity/lung/base/left", "normal", "No Indexing"). A term gives CheXpert
observations when its descriptor names one (with a required qualifier, or not at a site outside
the lung where that matters). "Pulmonary Congestion" and "Heart Failure" are Edema, as in
CheXpert's definition; consolidation and atelectasis are also lung opacities (the findings
vocabulary's hierarchy, :func:`medmllm.findings.to_chexpert`). Terms that name no CheXpert
observation (calcified granuloma, degenerative spine) map to nothing. Because the indexing lists
every finding of the report, an observation not named is 0, and ``No Finding`` is 1 when no term
names a pathology (devices are not one). A report indexed "No Indexing" has no labels.

The table is the labeler benchmark's reference (``benchmarks/iu_reference.py``) plus the devices;
``tests/data/test_formats_iu_xray.py`` checks that both give the same labels on the real reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from medmllm.findings import CHEXPERT_LABELS

NOT_INDEXED = "no indexing"
# sites that put an opacity, density, nodule or mass outside the lung parenchyma
NON_LUNG_SITES = frozenset({"ribs", "sternum", "breast", "mediastinum", "paratracheal", "cardiophrenic angle",
                            "thoracic vertebrae", "spine", "humerus", "clavicle", "shoulder", "soft tissue",
                            "diaphragm", "abdomen"})
LUNG = "lung"  # condition: no qualifier names a site outside the lung
# (descriptor, condition: None = always, LUNG, or a qualifier the term must carry, observations)
MESH_CHEXPERT: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("Cardiomegaly", None, ("Cardiomegaly",)),
    ("Cardiac Shadow", "enlarged", ("Cardiomegaly",)),
    ("Pulmonary Atelectasis", None, ("Atelectasis", "Lung Opacity")),
    ("Volume Loss", None, ("Atelectasis", "Lung Opacity")),
    ("Pleural Effusion", None, ("Pleural Effusion",)),
    ("Hemothorax", None, ("Pleural Effusion",)),
    ("Hydropneumothorax", None, ("Pleural Effusion", "Pneumothorax")),
    ("Costophrenic Angle", "blunted", ("Pleural Effusion",)),
    ("Pleura", "blunted", ("Pleural Effusion",)),
    ("Pneumothorax", None, ("Pneumothorax",)),
    ("Pulmonary Edema", None, ("Edema",)),
    ("Pulmonary Congestion", None, ("Edema",)),
    ("Heart Failure", None, ("Edema",)),
    ("Pneumonia", None, ("Pneumonia",)),
    ("Consolidation", None, ("Consolidation", "Lung Opacity")),
    ("Fractures, Bone", None, ("Fracture",)),
    ("Nodule", LUNG, ("Lung Lesion",)),
    ("Mass", LUNG, ("Lung Lesion",)),
    ("Cavitation", None, ("Lung Lesion",)),
    ("Opacity", LUNG, ("Lung Opacity",)),
    ("Density", LUNG, ("Lung Opacity",)),
    ("Airspace Disease", LUNG, ("Lung Opacity",)),
    ("Infiltrate", LUNG, ("Lung Opacity",)),
    ("Mediastinum", "prominent", ("Enlarged Cardiomediastinum",)),
    ("Mediastinum", "enlarged", ("Enlarged Cardiomediastinum",)),
    ("Thickening", "pleura", ("Pleural Other",)),
    ("Cicatrix", "pleura", ("Pleural Other",)),
    # devices: an observation, not a pathology (No Finding stays 1)
    ("Medical Device", None, ("Support Devices",)),
    ("Implanted Medical Device", None, ("Support Devices",)),
    ("Catheters, Indwelling", None, ("Support Devices",)),
    ("Tube, Inserted", None, ("Support Devices",)),
    ("Pacemaker, Artificial", None, ("Support Devices",)),
)
NOT_PATHOLOGIES = frozenset({"Support Devices"})


def mesh_observations(terms: Iterable[str]) -> set[str]:
    """CheXpert observations named by MeSH terms (never ``No Finding``)."""
    out: set[str] = set()
    for term in terms:
        head, *quals = [p.strip() for p in term.split("/")]
        quals_l = {q.lower() for q in quals}
        for desc, cond, obs in MESH_CHEXPERT:
            if head.lower() != desc.lower():
                continue
            if cond is None or (cond == LUNG and not NON_LUNG_SITES & quals_l) or cond in quals_l:
                out.update(obs)
    return out


def mesh_chexpert(terms: list[str]) -> dict[str, int] | None:
    """The 14 observations (1/0) of a report's MeSH terms; None when it is not indexed."""
    if not terms or any(t.strip().lower() == NOT_INDEXED for t in terms):
        return None
    found = mesh_observations(terms)
    out = {c: int(c in found) for c in CHEXPERT_LABELS}
    out["No Finding"] = int(not found - NOT_PATHOLOGIES)
    return out
