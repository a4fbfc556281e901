"""Language-neutral clinical facts of a case, consistent with its findings.

The same facts (fever days, vitals, labs, treatment, course, diagnoses) are then written as an
outpatient and an inpatient record in English and in Chinese by :mod:`.clinical_text`, so both
languages describe the same patient. Bacterial-looking pictures (lobar consolidation, effusion)
get high WBC/CRP/procalcitonin; ground glass and bronchopneumonia lean viral or mycoplasma;
pneumothorax presents with sudden chest pain, hyperinflation with wheeze.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .population import Finding

# Normal resting ranges by age in years: (heart rate, respiratory rate).
_VITALS = [(1, (110, 150), (30, 45)), (3, (95, 140), (24, 36)), (6, (85, 125), (20, 30)), (12, (70, 110), (16, 24)),
           (99, (60, 100), (12, 20))]


def _normal_ranges(years: float) -> tuple[tuple[int, int], tuple[int, int]]:
    for limit, hr, rr in _VITALS:
        if years < limit:
            return hr, rr
    return _VITALS[-1][1], _VITALS[-1][2]


def sample_clinical(rng: np.random.Generator, patient: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """Facts for the records: symptoms, vitals, labs, treatment, course and diagnoses (as keys)."""
    keys = {f.key for f in findings}
    bases = {k.partition(":")[0] for k in keys}
    detail = {f.key: f.detail for f in findings}
    years = patient["age_months"] / 12.0
    pneumonia = bool(bases & {"consolidation", "bronchopneumonia", "ground_glass"})
    bacterial = "consolidation" in bases or "pleural_effusion" in bases
    etiology = None
    if pneumonia:
        if bacterial:
            etiology = "bacterial"
        elif years >= 3 and rng.random() < 0.6:
            etiology = "mycoplasma"
        else:
            etiology = "viral"
    large = any(d.get("size") == "large" for d in detail.values())
    u = rng.uniform
    fever_days = int(rng.integers(2, 8)) if pneumonia else (int(rng.integers(0, 3)) if not bases else 0)
    if "hyperinflation" in bases and not pneumonia:
        fever_days = int(rng.integers(0, 3))
    cough_days = fever_days + int(rng.integers(0, 4)) if (pneumonia or "hyperinflation" in bases or not bases) else 0
    symptoms: list[str] = []
    if cough_days:
        symptoms.append("productive_cough" if etiology == "bacterial" else "cough")
    if pneumonia and (len(findings) >= 2 or large or rng.random() < 0.4):
        symptoms.append("tachypnoea")
    if "hyperinflation" in bases:
        symptoms.append("wheeze")
    if bases & {"pneumothorax", "pleural_effusion"}:
        symptoms.append("chest_pain")
    if "pneumothorax" in bases:
        symptoms.append("sudden_dyspnoea")
    if "cardiomegaly" in bases:
        symptoms.append("fatigue")
    if not bases and not symptoms:
        symptoms.append("runny_nose")
    (hr_lo, hr_hi), (rr_lo, rr_hi) = _normal_ranges(years)
    febrile_now = fever_days > 0 and rng.random() < 0.8
    temp = round(u(38.1, 40.0) if febrile_now else u(36.4, 37.3), 1)
    max_temp = round(max(temp, u(38.5, 40.5)), 1) if fever_days else temp
    distress = "tachypnoea" in symptoms or "sudden_dyspnoea" in symptoms
    hr = int(u(hr_lo, hr_hi) + (10 * (temp - 37.0) if temp > 37.5 else 0) + (10 if distress else 0))
    rr = int(u(rr_lo, rr_hi) * (1.35 if distress else 1.0))
    if large or "pneumothorax" in bases or (distress and len(findings) >= 2):
        spo2 = int(rng.integers(88, 94))
    elif pneumonia or "hyperinflation" in bases:
        spo2 = int(rng.integers(92, 98))
    else:
        spo2 = int(rng.integers(97, 101))
    if etiology == "bacterial":
        labs = {"wbc": u(13, 26), "neut": u(70, 90), "crp": u(30, 180), "pct": u(0.5, 9.0)}
    elif etiology in ("viral", "mycoplasma"):
        labs = {"wbc": u(4.5, 11.5), "neut": u(35, 65), "crp": u(4, 35), "pct": u(0.03, 0.35)}
    else:
        labs = {"wbc": u(5, 11), "neut": u(35, 60), "crp": u(0.5, 8), "pct": u(0.02, 0.1)}
    labs = {"wbc": round(labs["wbc"], 1), "neut": int(labs["neut"]), "crp": round(labs["crp"], 1),
            "pct": round(labs["pct"], 2), "mycoplasma_igm": etiology == "mycoplasma"}
    admitted = bool(bacterial or "pneumothorax" in bases or spo2 < 94 or (pneumonia and fever_days >= 4)
                    or ("hyperinflation" in bases and rng.random() < 0.5) or ("atelectasis" in bases and pneumonia))
    treatment: list[str] = []
    if etiology == "bacterial":
        treatment.append("ceftriaxone" if admitted else "amoxicillin_clavulanate")
    elif etiology == "mycoplasma":
        treatment.append("azithromycin")
    elif etiology == "viral":
        treatment.append("supportive")
    if "hyperinflation" in bases:
        treatment.append("salbutamol")
    if spo2 < 94:
        treatment.append("oxygen")
    if any(k.startswith("pleural_effusion") and detail[k]["size"] == "large" for k in keys):
        treatment.append("thoracentesis")
    for k in keys:
        if k.startswith("pneumothorax"):
            treatment.append("chest_drain" if detail[k]["size"] != "small" else "observation")
    if "cardiomegaly" in bases:
        treatment.append("echocardiography")
    if "nodule" in bases:
        treatment.append("follow_up_ct")
    if not treatment:
        treatment.append("symptomatic")
    stay = int(rng.integers(3, 6) + 2 * len(findings) + (3 if large else 0)) if admitted else 0
    afebrile_day = int(rng.integers(1, max(2, min(stay, 5)))) if admitted and fever_days else 0
    return {"etiology": etiology, "fever_days": fever_days, "cough_days": cough_days, "symptoms": symptoms,
            "max_temp": max_temp, "vitals": {"temp": temp, "hr": hr, "rr": rr, "spo2": spo2}, "labs": labs,
            "admitted": admitted, "treatment": treatment, "stay_days": stay, "afebrile_day": afebrile_day,
            "crackles_side": _crackles(findings)}


def _crackles(findings: list[Finding]) -> str | None:
    sides = set()
    for f in findings:
        base, _, qual = f.key.partition(":")
        if base == "consolidation":
            sides.add("right" if qual.startswith("R") else "left")
        elif base == "bronchopneumonia":
            d = f.detail["distribution"]
            sides |= {"right", "left"} if d == "bilateral" else {d}
    if not sides:
        return None
    return "both" if len(sides) == 2 else sides.pop()
