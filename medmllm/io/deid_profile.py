"""The DICOM PS3.15 Basic Application Level Confidentiality Profile as data, and the options we apply.

Table E.1-1 (the basic-profile column) is read from ``ps3_15_e1_1.txt`` beside this module:
one row per attribute, with its action (``X`` remove, ``Z`` empty value, ``D`` dummy value,
``U`` new UID, or a combined one). :data:`RESOLVED` says how a combined action is carried out
without knowing the attribute's type in the IOD: every choice removes the original value.

Options (PS3.15 E.3) that :class:`~medmllm.io.deid.Deidentifier` applies on top:
Retain Longitudinal Temporal Information with Modified Dates (dates shifted per patient, times
kept), Retain Patient Characteristics (:data:`PATIENT_CHARACTERISTICS` kept) and Clean
Descriptors (:data:`DESCRIPTOR_KEYWORDS` kept after removing identifiers). See
docs/deidentification.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

TABLE_FILE = Path(__file__).with_name("ps3_15_e1_1.txt")

# A combined action -> what is done. "X unless Z (or D) is needed for IOD conformance": an empty
# value keeps a type 2 attribute present without its content; X/D is removed (no dummy made up);
# X/Z/U* keeps a reference sequence with its instance UIDs replaced (its other content follows
# the same rules); a sequence whose action is D becomes an empty sequence (no dummy items).
RESOLVED = {"X": "X", "Z": "Z", "D": "D", "U": "U", "Z/D": "Z", "X/Z": "Z", "X/D": "X", "X/Z/D": "Z",
            "X/Z/U*": "U"}

# Identifiers that Table E.1-1 does not list but that name a medium, a device or an issuer.
EXTRA_REMOVE_KEYWORDS = ("StorageMediaFileSetID", "ModifyingDeviceManufacturer", "IssuerOfAccessionNumberSequence")

# Clean Descriptors option: kept (after scrubbing) instead of removed.
DESCRIPTOR_KEYWORDS = ("StudyDescription", "SeriesDescription", "ProtocolName")

# Retain Patient Characteristics option: kept instead of removed (age capped at 90Y).
PATIENT_CHARACTERISTICS = ("PatientAge", "PatientSex", "PatientSize", "PatientWeight")

# Never shifted by the modified-dates option: emptied (birth date) or removed (birth time).
BIRTH_KEYWORDS = ("PatientBirthDate", "PatientBirthTime")

# UIDs that name a standard class or syntax, not an instance: never remapped.
CLASS_UID_KEYWORDS = (
    "SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
    "ReferencedSOPClassUID", "ReferencedSOPClassUIDInFile", "ReferencedTransferSyntaxUIDInFile",
    "CodingSchemeUID", "ContextGroupExtensionCreatorUID", "MappingResourceUID",
    "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID", "SOPClassesInStudy",
    "PrivateInformationCreatorUID",
)


@dataclass(frozen=True)
class Row:
    """One row of Table E.1-1: ``tag`` as printed (``(60xx,4000)``), basic-profile action, names."""

    tag: str
    action: str
    keyword: str
    name: str

    @property
    def value_mask(self) -> tuple[int, int]:
        """``(value, mask)``: a tag ``t`` matches when ``t & mask == value`` (x digits are free)."""
        digits = self.tag.strip("()").replace(",", "")
        mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
        return int(digits.replace("x", "0").replace("X", "0"), 16), mask


@functools.cache
def table() -> tuple[Row, ...]:
    """Every row of Table E.1-1 (basic-profile column), in tag order."""
    rows = []
    for line in TABLE_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            tag, action, keyword, name = line.split("\t")
            if action not in RESOLVED:
                raise ValueError(f"{TABLE_FILE.name}: unknown action {action!r} for {tag}")
            rows.append(Row(tag, action, keyword, name))
    return tuple(rows)


@functools.cache
def _index() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    exact, masked = {}, []
    for row in table():
        value, mask = row.value_mask
        if mask == 0xFFFFFFFF:
            exact[value] = row.action
        else:
            masked.append((value, mask, row.action))
    return exact, tuple(masked)


def table_action(tag: int) -> str | None:
    """The Table E.1-1 action for ``tag`` (``'X/Z'`` ...), None when the table does not list it."""
    exact, masked = _index()
    if tag in exact:
        return exact[tag]
    return next((action for value, mask, action in masked if tag & mask == value), None)
