"""De-identification of DICOM data (PS3.15 Annex E basic profile, see :mod:`medmllm.io.deid_profile`).

A :class:`Deidentifier` holds one secret salt, so within one run (a file, a folder, a zip) the
same patient gets the same pseudonym and date shift and the same UID is always remapped to the
same new UID; different runs without an explicit ``salt`` cannot be linked. Rules beyond the
table: every person name (PN) anywhere is emptied, every private tag, overlay (60xx) and curve
(50xx) is removed, every instance UID is remapped, dates are shifted (or removed) and the
patient's birth date is always emptied. Pixels are not touched: files that say (or, for
secondary captures, may have) burned-in annotation are reported so that a person checks them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from medmllm.io import deid_profile as P

log = logging.getLogger(__name__)

_DUMMY_PREFIX = "ANON-"
_DATE_VRS = ("DA", "DT")


def burned_in_status(ds) -> str | None:
    """``'YES'``/``'NO'`` from BurnedInAnnotation; ``'possible'`` for a secondary capture without it."""
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag in ("YES", "NO"):
        return flag
    if str(ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1.7"):
        return "possible"
    return None


def identifying_values(ds) -> list[str]:
    """Identifier strings found in a dataset (names split into their parts), longest first."""
    values: set[str] = set()
    for keyword in P.IDENTIFYING_KEYWORDS:
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        items = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for item in items:
            text = str(item).strip()
            values.add(text)
            if getattr(ds.data_element(keyword), "VR", "") == "PN":  # name parts: family, given ...
                values.update(p for p in re.split(r"[\^=]+", text) if p)
    return sorted((v for v in values if len(v) >= 3), key=len, reverse=True)


def scrub_text(text: str, ds) -> str:
    """Remove every identifier of ``ds`` (name parts, IDs, accession ...) from a free-text value."""
    for value in identifying_values(ds):
        text = re.sub(re.escape(value), "[removed]", text, flags=re.IGNORECASE)
    return text


@dataclass
class DeidReport:
    """What :func:`deidentify_path` did."""

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    burned_in: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


class Deidentifier:
    """Applies the basic profile to datasets with consistent UIDs, pseudonyms and date shifts.

    Args:
        salt: secret that keys pseudonyms, UIDs and date shifts; random when None (then runs
            cannot be linked). Pass the same salt to de-identify new files of the same patients
            consistently later.
        dates: ``shift`` (dates moved back by a per-patient number of days, times kept) or
            ``remove`` (every date and time emptied).
        keep_patient_characteristics: keep age (capped at 90Y), sex, size and weight.
        keep_descriptions: keep study/series descriptions and protocol name after removing the
            file's own identifiers from them (Clean Descriptors option); removed otherwise.
    """

    def __init__(self, salt: str | bytes | None = None, *, dates: str = "shift",
                 keep_patient_characteristics: bool = True, keep_descriptions: bool = False):
        if dates not in ("shift", "remove"):
            raise ValueError(f"dates must be 'shift' or 'remove', got {dates!r}")
        raw = secrets.token_bytes(16) if salt is None else salt
        self._key = raw.encode() if isinstance(raw, str) else bytes(raw)
        self.dates = dates
        self.keep_characteristics = keep_patient_characteristics
        self.keep_descriptions = keep_descriptions
        self.uid_map: dict[str, str] = {}

    def _digest(self, *parts: str) -> str:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    def uid(self, old: str) -> str:
        """The new UID for ``old`` (same input, same output, for this salt)."""
        from pydicom.uid import generate_uid

        old = str(old).strip()
        if old not in self.uid_map:
            self.uid_map[old] = str(generate_uid(entropy_srcs=[self._digest("uid", old)]))
        return self.uid_map[old]

    def pseudonym(self, patient_id: str) -> str:
        return _DUMMY_PREFIX + self._digest("patient", patient_id)[:10].upper()

    def shift_days(self, patient_id: str) -> int:
        """Days to move this patient's dates back (30..3679), fixed per patient and salt."""
        return 30 + int(self._digest("date", patient_id)[:8], 16) % 3650

    def _shift(self, value: str, vr: str, days: int) -> str:
        text = str(value).strip()
        if len(text) < 8 or not text[:8].isdigit():
            return ""
        try:
            day = _dt.datetime.strptime(text[:8], "%Y%m%d") - _dt.timedelta(days=days)
        except ValueError:
            return ""
        return day.strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")

    def dataset(self, ds) -> list[str]:
        """De-identify ``ds`` in place (file meta included).

        Returns:
            Warnings for a person to act on (burned-in annotation).
        """
        from pydicom.datadict import tag_for_keyword
        from pydicom.dataset import Dataset

        warnings = []
        status = burned_in_status(ds)
        if status == "YES":
            warnings.append("pixels carry burned-in annotation (BurnedInAnnotation = YES): they may show identifiers")
        elif status == "possible":
            warnings.append("secondary capture without a BurnedInAnnotation flag: pixels may show identifiers")
        patient_id = str(ds.get("PatientID", "") or "") + "|" + str(ds.get("PatientName", "") or "")
        days = self.shift_days(patient_id)
        descriptors = {k: scrub_text(str(ds.get(k)), ds) for k in P.DESCRIPTOR_KEYWORDS if ds.get(k)}
        age = str(ds.get("PatientAge", "") or "")
        remove = set(P.REMOVE_KEYWORDS) | set(P.DESCRIPTOR_KEYWORDS)
        if not self.keep_characteristics:  # PatientSex is type 2: emptied (Z), the others removed
            remove |= set(P.PATIENT_CHARACTERISTICS) - {"PatientSex"}
        remove_tags = {tag_for_keyword(k) for k in remove}
        empty_tags = {tag_for_keyword(k) for k in P.EMPTY_KEYWORDS}
        if self.keep_characteristics:
            empty_tags.discard(tag_for_keyword("PatientSex"))
        class_tags = {tag_for_keyword(k) for k in P.CLASS_UID_KEYWORDS}

        def walk(node: Dataset) -> None:
            node.remove_private_tags()
            for elem in list(node):
                tag = elem.tag
                if tag in remove_tags or tag.group & 0xFF00 in (0x5000, 0x6000):
                    del node[tag]
                elif elem.VR == "SQ":
                    for item in elem.value:
                        walk(item)
                elif tag in empty_tags or elem.VR == "PN":
                    elem.value = ""
                elif elem.VR == "UI" and tag not in class_tags and elem.value:
                    vals = elem.value if elem.VM > 1 else [elem.value]
                    new = [v if _is_standard_uid(v) else self.uid(v) for v in vals]
                    elem.value = new if elem.VM > 1 else new[0]
                elif elem.VR in _DATE_VRS:
                    vals = elem.value if elem.VM > 1 else [elem.value]
                    new = [self._shift(v, elem.VR, days) if self.dates == "shift" else "" for v in vals]
                    elem.value = new if elem.VM > 1 else new[0]
                elif elem.VR == "TM" and self.dates == "remove":
                    elem.value = ""

        walk(ds)
        ds.PatientName = self.pseudonym(patient_id)
        ds.PatientID = self.pseudonym(patient_id)
        if self.keep_characteristics and age:
            ds.PatientAge = "090Y" if age.endswith("Y") and age[:-1].isdigit() and int(age[:-1]) >= 90 else age
        if self.keep_descriptions:
            for k, v in descriptors.items():
                setattr(ds, k, v)
        fm = getattr(ds, "file_meta", None)
        if fm is not None:
            for k in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle"):
                if k in fm:
                    delattr(fm, k)
            if "SOPInstanceUID" in ds:
                fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        self._mark(ds)
        return warnings

    def _mark(self, ds) -> None:
        from pydicom.dataset import Dataset

        ds.PatientIdentityRemoved = "YES"
        codes = [("113100", "Basic Application Confidentiality Profile")]
        if self.dates == "shift":
            codes.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        if self.keep_characteristics:
            codes.append(("113108", "Retain Patient Characteristics Option"))
        if self.keep_descriptions:
            codes.append(("113105", "Clean Descriptors Option"))
        ds.DeidentificationMethod = "medmllm: PS3.15 basic profile" + (
            "; dates shifted" if self.dates == "shift" else "; dates removed")
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = items


def _is_standard_uid(value: str) -> bool:
    from pydicom._uid_dict import UID_dictionary

    return str(value).strip() in UID_dictionary


def deidentify_dataset(ds, deid: Deidentifier | None = None) -> list[str]:
    """De-identify one dataset in place with ``deid`` (a fresh random-salt one when None)."""
    return (deid or Deidentifier()).dataset(ds)


def deidentify_path(src: str | os.PathLike, dst: str | os.PathLike, *, overwrite: bool = False,
                    max_bytes: int | None = None, max_files: int | None = None, **options: Any) -> DeidReport:
    """Write a de-identified copy of a DICOM file, a folder or a zip (see :mod:`medmllm.io.deid_files`).

    Args:
        src: a DICOM file, a folder of DICOM files, or a zip of them.
        dst: output file (for a file), folder, or ``.zip``; must not exist unless ``overwrite``.
        overwrite: replace an existing output.
        max_bytes, max_files: limits for unpacking a zip.
        **options: :class:`Deidentifier` options (``salt``, ``dates``, ``keep_patient_characteristics``,
            ``keep_descriptions``).
    """
    from medmllm.io.deid_files import deidentify_path as run

    return run(src, dst, deid=Deidentifier(**options), overwrite=overwrite, max_bytes=max_bytes, max_files=max_files)
