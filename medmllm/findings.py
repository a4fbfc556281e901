"""The findings vocabulary: one source for the case generator, the labeler and the metrics.

Keys (CONTRACTS.md): ``normal``, ``consolidation:<lobe>``, ``bronchopneumonia``, ``ground_glass``,
``pleural_effusion:<side>``, ``atelectasis``, ``pneumothorax:<side>``, ``cardiomegaly``,
``hyperinflation``, ``nodule``. Bilateral effusion is both sides. Each key maps to CheXpert
observations. Beside them, :data:`CT_LABELS`: the 18 chest-CT abnormality labels of CT-RATE.
"""

from __future__ import annotations


LOBES: tuple[str, ...] = ("RUL", "RML", "RLL", "LUL", "LLL")
SIDES: tuple[str, ...] = ("left", "right")
LOBE_SIDE: dict[str, str] = {"RUL": "right", "RML": "right", "RLL": "right", "LUL": "left", "LLL": "left"}

FINDING_KEYS: tuple[str, ...] = (
    "normal",
    *(f"consolidation:{lobe}" for lobe in LOBES),
    "bronchopneumonia",
    "ground_glass",
    *(f"pleural_effusion:{side}" for side in SIDES),
    "atelectasis",
    *(f"pneumothorax:{side}" for side in SIDES),
    "cardiomegaly",
    "hyperinflation",
    "nodule",
)
ABNORMAL_KEYS: tuple[str, ...] = tuple(k for k in FINDING_KEYS if k != "normal")

CHEXPERT_LABELS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices", "No Finding",
)
CHEXPERT_5: tuple[str, ...] = ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis", "Pleural Effusion")

# The CT label vocabulary: CT-RATE's 18 multi-abnormality labels (chest CT, 0/1 per volume), key ->
# the column name of the release's ``*_predicted_labels.csv``. Converters keep them in a record's
# ``meta.ct_labels`` (the manifest's ``labels`` holds findings keys, which score compares).
CT_LABELS: dict[str, str] = {
    "medical_material": "Medical material",
    "arterial_wall_calcification": "Arterial wall calcification",
    "cardiomegaly": "Cardiomegaly",
    "pericardial_effusion": "Pericardial effusion",
    "coronary_artery_wall_calcification": "Coronary artery wall calcification",
    "hiatal_hernia": "Hiatal hernia",
    "lymphadenopathy": "Lymphadenopathy",
    "emphysema": "Emphysema",
    "atelectasis": "Atelectasis",
    "lung_nodule": "Lung nodule",
    "lung_opacity": "Lung opacity",
    "pulmonary_fibrotic_sequela": "Pulmonary fibrotic sequela",
    "pleural_effusion": "Pleural effusion",
    "mosaic_attenuation_pattern": "Mosaic attenuation pattern",
    "peribronchial_thickening": "Peribronchial thickening",
    "consolidation": "Consolidation",
    "bronchiectasis": "Bronchiectasis",
    "interlobular_septal_thickening": "Interlobular septal thickening",
}
CT_LABEL_KEYS: tuple[str, ...] = tuple(CT_LABELS)

_CHEXPERT_OF_BASE: dict[str, tuple[str, ...]] = {
    "normal": ("No Finding",),
    "consolidation": ("Consolidation", "Lung Opacity"),
    "bronchopneumonia": ("Pneumonia", "Lung Opacity"),
    "ground_glass": ("Lung Opacity",),
    "pleural_effusion": ("Pleural Effusion",),
    "atelectasis": ("Atelectasis", "Lung Opacity"),
    "pneumothorax": ("Pneumothorax",),
    "cardiomegaly": ("Cardiomegaly",),
    "hyperinflation": (),
    "nodule": ("Lung Lesion",),
}

_LOBE_NAMES = {
    "en": {"RUL": "right upper lobe", "RML": "right middle lobe", "RLL": "right lower lobe",
           "LUL": "left upper lobe", "LLL": "left lower lobe"},
    "zh": {"RUL": "右肺上叶", "RML": "右肺中叶", "RLL": "右肺下叶", "LUL": "左肺上叶", "LLL": "左肺下叶"},
}
_SIDE_NAMES = {"en": {"left": "left", "right": "right"}, "zh": {"left": "左侧", "right": "右侧"}}
_BASE_NAMES = {
    "en": {"normal": "no abnormality", "consolidation": "consolidation", "bronchopneumonia": "bronchopneumonia",
           "ground_glass": "ground-glass opacity", "pleural_effusion": "pleural effusion",
           "atelectasis": "atelectasis", "pneumothorax": "pneumothorax", "cardiomegaly": "cardiomegaly",
           "hyperinflation": "hyperinflation", "nodule": "pulmonary nodule"},
    "zh": {"normal": "未见异常", "consolidation": "实变", "bronchopneumonia": "支气管肺炎",
           "ground_glass": "磨玻璃影", "pleural_effusion": "胸腔积液", "atelectasis": "肺不张",
           "pneumothorax": "气胸", "cardiomegaly": "心影增大", "hyperinflation": "肺过度充气",
           "nodule": "肺结节"},
}


def split_key(key: str) -> tuple[str, str | None]:
    """``'consolidation:RLL'`` -> ``('consolidation', 'RLL')``; ``'nodule'`` -> ``('nodule', None)``."""
    if key not in FINDING_KEYS:
        raise KeyError(f"unknown finding key '{key}'; valid: {', '.join(FINDING_KEYS)}")
    base, _, qual = key.partition(":")
    return base, (qual or None)


def side_of(key: str) -> str | None:
    """The side a finding is on (``'left'``/``'right'``), or None when it has none."""
    base, qual = split_key(key)
    if qual in LOBE_SIDE:
        return LOBE_SIDE[qual]
    return qual if qual in SIDES else None


def to_chexpert(key: str) -> tuple[str, ...]:
    """CheXpert observations implied by a finding key."""
    base, _ = split_key(key)
    return _CHEXPERT_OF_BASE[base]


def complete_labels(positive: set[str] | list[str]) -> dict[str, int]:
    """A full 0/1 label dict over FINDING_KEYS from the set of positive keys (``normal`` derived)."""
    pos = set(positive) - {"normal"}
    for k in pos:
        split_key(k)
    labels = {k: int(k in pos) for k in FINDING_KEYS}
    labels["normal"] = int(not pos)
    return labels


def describe(key: str, lang: str = "en") -> str:
    """A plain name of the finding (``'right lower lobe consolidation'``, ``'右肺下叶实变'``)."""
    if lang not in _BASE_NAMES:
        raise ValueError(f"lang must be one of {sorted(_BASE_NAMES)}")
    base, qual = split_key(key)
    name = _BASE_NAMES[lang][base]
    if qual in LOBES:
        where = _LOBE_NAMES[lang][qual]
    elif qual in SIDES:
        where = _SIDE_NAMES[lang][qual]
    else:
        return name
    return f"{where} {name}" if lang == "en" else f"{where}{name}"
