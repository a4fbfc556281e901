"""De-identification of one DICOM data set (PS3.15 basic profile, see :mod:`medmllm.io.deid_profile`).

A :class:`Deidentifier` holds one secret salt, so within one run (a file, a folder, a zip) the
same patient gets the same pseudonym and date shift and the same UID is always remapped to the
same new UID; different runs without an explicit ``salt`` cannot be linked.

Every attribute of Table E.1-1 gets its action, in the data set, in every nested sequence item and
in the file meta. Beyond the table: every private tag, overlay (60xx) and curve (50xx) is removed;
every person name (PN) is emptied and every instance UID remapped wherever it is; every other
free-text value that is kept is scrubbed of the identifiers the file holds (:mod:`medmllm.io.phi`);
the file meta is rebuilt from scratch and the 128-byte preamble zeroed. Pixels are not touched unless
regions to mask are given (``mask``): files that say (or, for secondary captures and ultrasound,
angiography or endoscopy clips, may have) burned-in annotation are reported.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import logging
import secrets
from typing import Any, Sequence

from medmllm.io import deid_profile as P
from medmllm.io.phi import burned_in_warning, identifying_values, scrub_text

log = logging.getLogger(__name__)

_DUMMY_PREFIX = "ANON-"
DUMMY_TEXT = "ANONYMIZED"
_TEMPORAL_VRS = ("DA", "DT", "TM")
_TEXT_VRS = ("LO", "ST", "LT", "UT", "UC", "UR", "SH", "CS", "AE")
_SHORT_TEXT_VRS = ("SH", "CS", "AE")  # 16 characters, restricted characters: identifiers cut out
_NUMBER_TEXT_VRS = ("IS", "DS")
_NUMBER_VRS = ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT")
_BINARY_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW")
PREAMBLE = b"\x00" * 128


class Deidentifier:
    """Applies the basic profile to data sets with consistent UIDs, pseudonyms and date shifts.

    Args:
        salt: secret that keys pseudonyms, UIDs and date shifts; random when None (then runs
            cannot be linked). Pass the same salt to de-identify new files of the same patients
            consistently later.
        dates: ``shift`` (Retain Longitudinal Temporal Information with Modified Dates: dates
            moved back by a per-patient number of days, times kept) or ``remove`` (every date
            and time emptied or removed).
        keep_patient_characteristics: Retain Patient Characteristics (age capped at 90Y, sex,
            size and weight kept).
        keep_descriptions: Clean Descriptors: keep study/series descriptions and protocol name
            after removing the file's identifiers from them; removed otherwise.
        mask: pixel regions ``(x, y, width, height)`` set to black on every frame of every image
            (burned-in text of ultrasound / endoscopy machines; :mod:`medmllm.io.deid_mask`).
    """

    def __init__(self, salt: str | bytes | None = None, *, dates: str = "shift",
                 keep_patient_characteristics: bool = True, keep_descriptions: bool = False,
                 mask: Sequence[tuple[int, int, int, int]] = ()):
        if dates not in ("shift", "remove"):
            raise ValueError(f"dates must be 'shift' or 'remove', got {dates!r}")
        raw = secrets.token_bytes(16) if salt is None else salt
        self._key = raw.encode() if isinstance(raw, str) else bytes(raw)
        self.dates = dates
        self.keep_characteristics = keep_patient_characteristics
        self.keep_descriptions = keep_descriptions
        self.mask = list(mask)
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
        """The replacement patient name and ID for ``patient_id`` (same for this salt)."""
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

    def action(self, elem: Any) -> str | None:
        """What is done to one element: ``X Z D U`` (resolved), ``K`` keep, ``T`` temporal option, or None.

        None means the attribute is not in Table E.1-1: the rules by VR apply (names emptied,
        UIDs remapped, dates shifted, free text scrubbed, sequences walked).
        """
        tag, keyword, vr = elem.tag, elem.keyword, elem.VR
        if tag.group & 0xFF00 in (0x5000, 0x6000) or tag.group in (0x0000, 0x0002):
            return "X"  # curves, overlays; command and file-meta groups have no place in a data set
        if keyword in P.EXTRA_REMOVE_KEYWORDS or keyword in P.DESCRIPTOR_KEYWORDS:
            return "X"  # descriptors come back scrubbed with the Clean Descriptors option
        if keyword in P.PATIENT_CHARACTERISTICS and self.keep_characteristics:
            return "K"
        table = P.table_action(int(tag))
        if vr in _TEMPORAL_VRS and self.dates == "shift" and keyword not in P.BIRTH_KEYWORDS:
            return "T"
        return None if table is None else P.RESOLVED[table]

    def dataset(self, ds: Any) -> list[str]:
        """De-identify ``ds`` in place (file meta and preamble included).

        Returns:
            Warnings for a person to act on (burned-in annotation, masked regions).
        """
        warning = burned_in_warning(ds)
        masked = None
        if self.mask and "PixelData" in ds:
            from medmllm.io.deid_mask import mask_regions

            masked = mask_regions(ds, self.mask)
        values = identifying_values(ds)
        patient_id = str(ds.get("PatientID", "") or "") + "|" + str(ds.get("PatientName", "") or "")
        days = self.shift_days(patient_id)
        descriptors = {k: scrub_text(str(ds.get(k)), values=values) for k in P.DESCRIPTOR_KEYWORDS if ds.get(k)}
        age = str(ds.get("PatientAge", "") or "")
        self._walk(ds, values, days)
        ds.PatientName = ds.PatientID = self.pseudonym(patient_id)
        if self.keep_characteristics and age:
            ds.PatientAge = "090Y" if age.endswith("Y") and age[:-1].isdigit() and int(age[:-1]) >= 90 else age
        if self.keep_descriptions:
            for k, v in descriptors.items():
                setattr(ds, k, v)
        self._file_meta(ds)
        self._mark(ds)
        return [w for w in (masked, warning) if w]

    def _walk(self, node: Any, values: list[str], days: int) -> None:
        node.remove_private_tags()
        for elem in list(node):
            action = self.action(elem)
            if action == "X":
                del node[elem.tag]
            elif action == "K":
                continue
            elif elem.VR == "SQ":
                if action in ("Z", "D"):
                    elem.value = []
                else:  # U (X/Z/U*: references kept, their UIDs replaced) or not in the table
                    for item in elem.value:
                        self._walk(item, values, days)
            elif action == "Z":
                elem.value = None if elem.VR in _BINARY_VRS + _NUMBER_VRS else ""
            elif action == "D":
                elem.value = self._dummy(elem)
            elif action == "T":
                if elem.VR != "TM":
                    elem.value = self._map_values(elem, functools.partial(self._shift, vr=elem.VR, days=days))
            elif action == "U" or (action is None and elem.VR == "UI"):
                self._remap(elem)
            elif elem.VR == "PN" or elem.VR in _TEMPORAL_VRS:  # not in the table: names emptied, dates removed
                elem.value = ""
            elif elem.VR in _TEXT_VRS:
                repl = "" if elem.VR in _SHORT_TEXT_VRS else "[removed]"
                elem.value = self._map_values(elem, functools.partial(_scrub, values=values, replacement=repl))

    @staticmethod
    def _map_values(elem: Any, fn: Any) -> Any:
        if elem.value is None or elem.value == "":
            return elem.value
        if elem.VM > 1:
            return [fn(v) for v in elem.value]
        return fn(elem.value)

    def _remap(self, elem: Any) -> None:
        if elem.VR != "UI":
            elem.value = "" if elem.VR not in _BINARY_VRS else None
        elif elem.tag not in _class_uid_tags():
            elem.value = self._map_values(elem, lambda v: v if _is_standard_uid(v) else self.uid(v))

    def _dummy(self, elem: Any) -> Any:
        vr = elem.VR
        if vr == "UI":
            return self._map_values(elem, self.uid)
        if vr in ("PN", "AS") + _TEMPORAL_VRS:
            return ""
        if vr in _TEXT_VRS:
            return DUMMY_TEXT
        if vr in _NUMBER_TEXT_VRS:
            return "0"
        if vr in _BINARY_VRS or vr == "AT":
            return None
        return 0 if vr in _NUMBER_VRS else ""

    def _file_meta(self, ds: Any) -> None:
        """A new file meta: class, instance (remapped) and transfer syntax, pydicom as implementation."""
        import pydicom
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

        old = getattr(ds, "file_meta", None) or FileMetaDataset()
        meta = FileMetaDataset()
        sop_class = ds.get("SOPClassUID") or old.get("MediaStorageSOPClassUID")
        if sop_class:
            meta.MediaStorageSOPClassUID = sop_class
        if not ds.get("SOPInstanceUID"):
            ds.SOPInstanceUID = generate_uid()
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if old.get("TransferSyntaxUID"):
            meta.TransferSyntaxUID = old.TransferSyntaxUID
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
        ds.file_meta = meta
        ds.preamble = PREAMBLE

    def _mark(self, ds: Any) -> None:
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


def _scrub(value: Any, *, values: list[str], replacement: str) -> Any:
    return scrub_text(value, values=values, replacement=replacement).strip() if isinstance(value, str) else value


@functools.cache
def _class_uid_tags() -> frozenset[int]:
    from pydicom.datadict import tag_for_keyword

    return frozenset(tag_for_keyword(k) for k in P.CLASS_UID_KEYWORDS)


def _is_standard_uid(value: str) -> bool:
    from pydicom._uid_dict import UID_dictionary

    return str(value).strip() in UID_dictionary
