"""The population synthetic cases are drawn from: the patient, the findings with their details, the anatomy.

Frequencies follow a pediatric pneumonia clinic (P2Med-MD's population): about a quarter of the
films are normal, bronchopneumonia and lobar (mostly lower-lobe) consolidation dominate, pleural
effusion and atelectasis come mostly with pneumonia, pneumothorax, cardiomegaly and nodules are
rare. The ``balanced`` profile draws every abnormal key about equally often instead.

Geometry is in normalised body coordinates: ``x`` from the patient's right (-1) to left (+1),
``y`` from anterior (-1) to posterior (+1), ``z`` from inferior (-1) to superior (+1); one unit is
``Anatomy.scale_mm`` millimetres.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from medmllm.findings import ABNORMAL_KEYS, LOBE_SIDE, LOBES, side_of

from .lobes import LINGULA_CENTRE, LOBE_CENTRES, lobe_of

_LOBE_WEIGHTS = {"RLL": 0.30, "LLL": 0.22, "RUL": 0.22, "RML": 0.12, "LUL": 0.14}
_PATTERNS = {"lobar": 0.30, "broncho": 0.34, "ggo": 0.12, "hyperinflation": 0.08, "atelectasis": 0.05,
             "effusion": 0.03, "pneumothorax": 0.02, "cardiomegaly": 0.03, "nodule": 0.03}


@dataclasses.dataclass
class Finding:
    """One positive finding: a key of ``medmllm.findings`` and the details that drive images and text."""

    key: str
    detail: dict[str, Any]


@dataclasses.dataclass
class Anatomy:
    """Body shape of one patient (normalised units unless named ``_mm``/``_hu``)."""

    scale_mm: float
    body_ay: float
    fat: float
    shift_x: float
    shift_z: float
    heart_scale: float
    dome_right: float
    dome_left: float
    dome_curv: float
    lung_hu: float
    texture_seed: int


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_patient(rng: np.random.Generator) -> dict[str, Any]:
    """Age (months), sex and weight of a pediatric patient."""
    band = int(rng.choice(4, p=[0.25, 0.32, 0.25, 0.18]))
    lo, hi = [(1, 12), (12, 36), (36, 72), (72, 168)][band]
    age_m = int(rng.integers(lo, hi))
    years = age_m / 12.0
    if age_m < 12:
        weight = 3.4 + 0.55 * age_m
    elif years <= 10:
        weight = 2.0 * years + 8.0
    else:
        weight = 3.0 * years
    weight *= float(rng.uniform(0.88, 1.12))
    return {"age_months": age_m, "sex": "M" if rng.random() < 0.52 else "F", "weight_kg": round(weight, 1)}


def sample_anatomy(rng: np.random.Generator, patient: dict[str, Any]) -> Anatomy:
    """Body size from age, with small per-patient variation in shape and position."""
    years = patient["age_months"] / 12.0
    return Anatomy(
        scale_mm=float(np.clip(62.0 + 7.5 * years, 60.0, 175.0) * rng.uniform(0.94, 1.06)),
        body_ay=float(np.interp(years, [0, 14], [0.64, 0.54]) * rng.uniform(0.95, 1.05)),
        fat=float(np.interp(years, [0, 14], [0.07, 0.04]) * rng.uniform(0.8, 1.2)),
        shift_x=float(rng.uniform(-0.025, 0.025)),
        shift_z=float(rng.uniform(-0.04, 0.04)),
        heart_scale=float(rng.uniform(0.94, 1.06)),
        dome_right=float(-0.40 + rng.uniform(-0.04, 0.04)),
        dome_left=float(-0.47 + rng.uniform(-0.04, 0.04)),
        dome_curv=float(rng.uniform(1.5, 1.9)),
        lung_hu=float(rng.uniform(-860, -830)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


def _realistic_keys(rng: np.random.Generator, max_findings: int) -> list[str]:
    if rng.random() < 0.28:
        return []
    pattern = _pick(rng, _PATTERNS)
    keys: list[str] = []
    side = "right" if rng.random() < 0.55 else "left"
    if pattern == "lobar":
        lobe = _pick(rng, _LOBE_WEIGHTS)
        keys.append(f"consolidation:{lobe}")
        side = LOBE_SIDE[lobe]
        if rng.random() < 0.10:
            keys.append(f"consolidation:{_pick(rng, {k: v for k, v in _LOBE_WEIGHTS.items() if k != lobe})}")
        if rng.random() < 0.22:
            keys.append(f"pleural_effusion:{side}")
        if rng.random() < 0.12:
            keys.append("atelectasis")
    elif pattern == "broncho":
        keys.append("bronchopneumonia")
        for key, p in (("hyperinflation", 0.12), ("ground_glass", 0.10), ("atelectasis", 0.10),
                       (f"pleural_effusion:{side}", 0.06)):
            if rng.random() < p:
                keys.append(key)
    elif pattern == "ggo":
        keys.append("ground_glass")
        if rng.random() < 0.15:
            keys.append("bronchopneumonia")
    elif pattern == "effusion":
        keys.append(f"pleural_effusion:{side}")
        if rng.random() < 0.25:
            keys.append(f"pleural_effusion:{'left' if side == 'right' else 'right'}")
    elif pattern == "pneumothorax":
        keys.append(f"pneumothorax:{side}")
    else:
        keys.append({"hyperinflation": "hyperinflation", "atelectasis": "atelectasis",
                     "cardiomegaly": "cardiomegaly", "nodule": "nodule"}[pattern])
    return keys[:max_findings]


def _compatible(key: str, chosen: list[str]) -> bool:
    base, _, qual = key.partition(":")
    for other in chosen:
        ob, _, oq = other.partition(":")
        if {base, ob} == {"pleural_effusion", "pneumothorax"} and qual == oq:
            return False  # hydropneumothorax is left out: one process per hemithorax base
        if {base, ob} == {"nodule", "bronchopneumonia"}:
            return False  # a nodule among bronchopneumonic patches could not be told apart
        if {base, ob} == {"nodule", "pneumothorax"} or ({base, ob} == {"nodule", "pleural_effusion"}):
            return False  # the nodule could sit in the collapsed rim or under the fluid
        if {base, ob} == {"consolidation", "pneumothorax"}:
            lobe, side = (qual, oq) if base == "consolidation" else (oq, qual)
            if LOBE_SIDE[lobe] == side:
                return False  # the collapsed rim would erase part of the consolidation
    return key not in chosen


def _balanced_keys(rng: np.random.Generator, max_findings: int) -> list[str]:
    if rng.random() < 0.12:
        return []
    n = min(max_findings, 1 + int(rng.choice(3, p=[0.45, 0.35, 0.20])))
    keys: list[str] = []
    for key in rng.permutation(ABNORMAL_KEYS):
        if len(keys) == n:
            break
        if _compatible(str(key), keys):
            keys.append(str(key))
    return keys


def _detail(key: str, rng: np.random.Generator, anat: Anatomy, keys: list[str]) -> dict[str, Any]:
    base, _, qual = key.partition(":")
    u = rng.uniform
    if base == "consolidation":
        centre = LINGULA_CENTRE if qual == "LUL" and rng.random() < 0.3 else LOBE_CENTRES[qual]
        extent = "lobar" if rng.random() < 0.55 else "segmental"
        r = u(0.5, 0.6) if extent == "lobar" else u(0.28, 0.34)  # lobar: the whole lobe, clipped by its fissures
        return {"lobe": qual, "extent": extent, "lingula": centre is LINGULA_CENTRE,
                "centre": [round(c + u(-0.05, 0.05), 3) for c in centre],
                "radii": [round(r * u(0.85, 1.15), 3) for _ in range(3)], "hu": round(u(25, 45), 1),
                "air_bronchogram": bool(rng.random() < 0.5)}
    if base == "bronchopneumonia":
        dist = _pick(rng, {"bilateral": 0.65, "right": 0.2, "left": 0.15})
        sides = {"bilateral": [-1, 1], "right": [-1], "left": [1]}[dist]
        patches = []
        for _ in range(int(rng.integers(14, 22))):
            sx = sides[int(rng.integers(len(sides)))]
            patches.append([round(sx * u(0.22, 0.62), 3), round(u(-0.25, 0.35), 3), round(u(-0.38, 0.22), 3),
                            round(u(0.07, 0.10), 3)])
        return {"distribution": dist, "zones": "middle and lower", "patches": patches, "hu": round(u(-60, 20), 1)}
    if base == "ground_glass":
        dist = _pick(rng, {"bilateral": 0.6, "right": 0.2, "left": 0.2})
        sides = {"bilateral": [-1, 1], "right": [-1], "left": [1]}[dist]
        regions = []
        for i in range(int(rng.integers(2, 4))):
            sx = sides[i % len(sides)]
            regions.append([round(sx * u(0.32, 0.5), 3), round(u(-0.15, 0.2), 3), round(u(-0.3, 0.45), 3),
                            round(u(0.26, 0.36), 3)])
        return {"distribution": dist, "regions": regions, "hu": round(u(-460, -380), 1)}
    if base == "pleural_effusion":
        size = _pick(rng, {"small": 0.45, "moderate": 0.4, "large": 0.15})
        lower_lobe = "RLL" if qual == "right" else "LLL"
        if size == "large" and f"consolidation:{lower_lobe}" in keys:
            size = "moderate"  # keep the lower-lobe consolidation visible above the fluid
        level = {"small": u(0.16, 0.22), "moderate": u(0.34, 0.44), "large": u(0.6, 0.7)}[size]
        return {"side": qual, "size": size, "level": round(level, 3), "hu": round(u(5, 18), 1)}
    if base == "pneumothorax":
        size = _pick(rng, {"small": 0.3, "moderate": 0.45, "large": 0.25})
        keep = {"small": u(0.78, 0.82), "moderate": u(0.64, 0.70), "large": u(0.48, 0.55)}[size]
        return {"side": qual, "size": size, "lung_fraction": round(keep, 3)}
    if base == "atelectasis":
        side = "right" if rng.random() < 0.5 else "left"
        sx = -1 if side == "right" else 1
        return {"side": side, "kind": "plate-like", "lobe": "RLL" if side == "right" else "LLL",
                "centre": [round(sx * u(0.38, 0.48), 3), round(u(0.0, 0.2), 3), round(u(-0.22, -0.08), 3)],
                "thickness": round(u(0.1, 0.12), 3),
                "tilt": round(float(rng.choice([-1, 1])) * u(0.5, 0.9), 3),
                "half_length": round(u(0.2, 0.26), 3)}
    if base == "cardiomegaly":
        return {"scale": round(u(1.28, 1.42), 3)}
    if base == "hyperinflation":
        return {"dome_drop": round(u(0.13, 0.18), 3)}
    if base == "nodule":
        # a peripheral nodule in the mid zones, clear of the heart, hila, clavicles and diaphragm;
        # never inside a consolidated lobe. Its lobe follows from where it lies.
        for _ in range(20):
            side = -1.0 if rng.random() < 0.5 else 1.0
            x, y, z = side * u(0.44, 0.58), u(-0.22, 0.28), u(-0.18, 0.42)
            lobe = LOBES[int(lobe_of(np.float32(z), np.float32(y), np.float32(x))) - 1]
            if f"consolidation:{lobe}" not in keys:
                break
        # at least ~0.25 body units across (up to 30 mm), so that it covers several pixels at 64 x 64
        diameter_mm = round(float(min(30.0, max(u(14, 28), 0.25 * anat.scale_mm))), 0)
        return {"lobe": lobe, "side": side_of(f"consolidation:{lobe}"), "diameter_mm": diameter_mm,
                "radius": round(diameter_mm / 2.0 / anat.scale_mm, 4),
                "centre": [round(x, 3), round(y, 3), round(z, 3)], "hu": round(u(60, 100), 1)}
    raise KeyError(key)


def sample_findings(rng: np.random.Generator, anat: Anatomy, prevalence: str, max_findings: int,
                    keys: list[str] | None = None) -> list[Finding]:
    """Positive findings of one case, in a stable order (the order of ``FINDING_KEYS``).

    With ``keys`` the findings are those keys (details still sampled) instead of drawn.
    """
    if keys is None:
        keys = _balanced_keys(rng, max_findings) if prevalence == "balanced" else _realistic_keys(rng, max_findings)
    else:  # draw as usual anyway, so that the draws after this one stay aligned with the unforced case
        _ = _balanced_keys(rng, max_findings) if prevalence == "balanced" else _realistic_keys(rng, max_findings)
        unknown = [k for k in keys if k not in ABNORMAL_KEYS]
        if unknown:
            raise ValueError(f"unknown finding keys {unknown}; valid: {', '.join(ABNORMAL_KEYS)}")
    keys = sorted(set(keys), key=ABNORMAL_KEYS.index)
    return [Finding(k, _detail(k, rng, anat, keys)) for k in keys]
