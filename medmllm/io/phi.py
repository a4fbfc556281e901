"""Patient identifiers in DICOM headers: find them, scrub them from free text, flag burned-in pixels.

The small shared part of de-identification that the readers need too: :mod:`medmllm.io.dicom`
and :mod:`medmllm.io.series` scrub the few free-text values they pass on (series description),
and :mod:`medmllm.io.deid` scrubs every free-text value it keeps. Importing this module imports
neither pydicom nor the de-identification engine.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Attributes whose values identify the patient, a person, a place or a device; their values are
# removed wherever else they appear in free text (anywhere in the data set, nested sequences
# included). Every person name (VR PN) is collected as well, whatever its keyword.
IDENTIFYING_KEYWORDS = frozenset({
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthDate",
    "PatientBirthName", "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "MedicalRecordLocator", "IssuerOfPatientID", "AdmissionID",
    "ServiceEpisodeID", "AccessionNumber", "StudyID", "RequestedProcedureID",
    "PerformedProcedureStepID", "ScheduledProcedureStepID", "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers", "PersonAddress", "PersonTelephoneNumbers",
    "StationName", "StationAETitle", "PerformedStationName", "PerformedStationAETitle",
    "ScheduledStationName", "ScheduledStationAETitle", "PerformedLocation", "ScheduledProcedureStepLocation",
    "StorageMediaFileSetID", "DeviceSerialNumber", "DetectorID", "PlateID", "CassetteID", "GantryID",
    "GeneratorID", "SourceApplicationEntityTitle",
})

BURNED_IN_MESSAGES = {
    "YES": "pixels carry burned-in annotation (BurnedInAnnotation = YES): they may show identifiers",
    "possible": "secondary capture without a BurnedInAnnotation flag: pixels may show identifiers",
    "likely": "ultrasound, angiography or endoscopy image without a BurnedInAnnotation flag: such frames usually "
              "show identifiers in the pixels (flagged, not removed; deid --mask blacks out regions)",
}
FLAGGED = ("YES", "possible", "likely")  # statuses whose pixels must be checked before sharing
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
# Modalities whose frames carry text written into the pixels as a rule (names, dates, device overlays).
BURNED_IN_MODALITIES = frozenset({"US", "IVUS", "ES", "XC", "XA", "RF", "GM", "OP"})
_SHORT = 4  # values this long or shorter only match as whole words


def burned_in_status(ds: Any) -> str | None:
    """``'YES'``/``'NO'`` from BurnedInAnnotation; without it ``'possible'`` for a secondary capture and
    ``'likely'`` for a modality whose frames usually carry burned-in text (ultrasound, angiography,
    fluoroscopy, endoscopy)."""
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag in ("YES", "NO"):
        return flag
    if str(ds.get("SOPClassUID", "")).startswith(_SECONDARY_CAPTURE):
        return "possible"
    if str(ds.get("Modality", "") or "").strip().upper() in BURNED_IN_MODALITIES:
        return "likely"
    return None


def burned_in_warning(source: Any) -> str | None:
    """The warning to show when an image's pixels may carry identifiers, else None.

    Args:
        source: a :class:`~medmllm.io.image.MedicalImage` (its ``meta``), a meta mapping, or a
            pydicom data set. Only DICOM input can be flagged; other formats give None.

    Returns:
        One sentence (for the app, ``inspect`` and ``deid``), or None when the image is not flagged.
    """
    meta = getattr(source, "meta", source)
    if hasattr(meta, "file_meta") or hasattr(meta, "dir"):  # a pydicom Dataset
        status = burned_in_status(meta)
    else:
        status = (meta or {}).get("burned_in_annotation") if isinstance(meta, Mapping) else None
    return BURNED_IN_MESSAGES.get(status) if status else None


def _items(elem: Any) -> list[Any]:
    """The values of a data element (one, or each of a multi-valued one)."""
    value = elem.value
    if value is None or value == "":
        return []
    return list(value) if getattr(elem, "VM", 1) > 1 else [value]


def _name_forms(text: str) -> set[str]:
    """A person name (``Family^Given^Middle=Ideographic=Phonetic``) as it may appear in free text."""
    forms = {text}
    for group in text.split("="):
        parts = [p.strip() for p in group.split("^")[:3] if p.strip()]
        forms.update(parts)
        if len(parts) >= 2:
            family, given = parts[0], parts[1]
            forms.update({f"{given} {family}", f"{family} {given}", f"{family}, {given}", family + given})
    return forms


def _id_forms(text: str, vr: str) -> set[str]:
    """An identifier or date as written in free text: the value, its long digit runs, date layouts."""
    forms = {text}
    forms.update(re.findall(r"\d{4,}", text))
    if vr == "DA" and re.fullmatch(r"\d{8}", text):
        y, m, d = text[:4], text[4:6], text[6:]
        forms.update({f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}"})
    return forms


def identifying_values(ds: Any) -> list[str]:
    """Identifier strings found anywhere in a data set (names in the forms they take in text), longest first.

    Person names count from 2 characters (``Li``, ``Wu``), other values from 3.
    """
    values: set[str] = set()
    for elem in ds.iterall():
        vr = str(getattr(elem, "VR", ""))
        if vr == "SQ" or (vr != "PN" and elem.keyword not in IDENTIFYING_KEYWORDS):
            continue
        for item in _items(elem):
            text = str(item).strip()
            if not text:
                continue
            if vr == "PN":
                values.update(v for v in _name_forms(text) if len(v) >= 2)
            else:
                values.update(v for v in _id_forms(text, vr) if len(v) >= 3)
    return sorted(values, key=lambda v: (-len(v), v))


@functools.lru_cache(maxsize=64)
def _pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    if not values:
        return None
    alts = []
    for v in values:
        esc = re.escape(v)
        alts.append(rf"(?<![0-9A-Za-z]){esc}(?![0-9A-Za-z])" if len(v) <= _SHORT else esc)
    return re.compile("|".join(alts), re.IGNORECASE)


def scrub_text(text: str, ds: Any = None, *, values: Iterable[str] | None = None,
               replacement: str = "[removed]") -> str:
    """Remove every identifier of ``ds`` (or the given ``values``) from a free-text value.

    Args:
        text: the free text (a description, a comment, a label).
        ds: the data set the text comes from; its :func:`identifying_values` are removed.
        values: identifier strings to remove instead (callers that scrub many values compute
            them once).
        replacement: what stands where an identifier was.

    Returns:
        The text with each identifier (case-insensitive; short ones as whole words) replaced.
    """
    vals = identifying_values(ds) if values is None else sorted(set(values), key=lambda v: (-len(v), v))
    pattern = _pattern(tuple(vals))
    return text if pattern is None else pattern.sub(replacement, text)
