"""Nothing leaked: a distinct value planted in every attribute of PS3.15 Table E.1-1 (and in private
tags, nested sequences, the file meta, the preamble, file names and kept free text) is searched
for in the raw bytes of what ``medmllm deid`` writes, as a file, a folder and a zip."""

import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

from medmllm.io import deid_profile as P
from medmllm.io.deid import Deidentifier
from medmllm.io.writers import write_xray_dicom

# The leaks issue 16 found; each must be in the table or among the extra removals.
REPORTED = ("PerformedStationName", "PerformedStationAETitle", "ScheduledStationName", "ScheduledStationAETitle",
            "StorageMediaFileSetID", "AcquisitionDeviceProcessingDescription", "ContrastBolusAgent")
_GUESS = (("Sequence", "SQ"), ("DateTime", "DT"), ("Date", "DA"), ("Time", "TM"), ("UID", "UI"))
_MASKED = {"(50xx,xxxx)": (0x50002500, "LO"), "(60xx,3000)": (0x60003000, "OW"), "(60xx,4000)": (0x60024000, "LT")}
SURNAME, GIVEN, MRN = "Doe", "Johnathan", "MRN-99887766"


def row_tag_vr(row):
    value, mask = row.value_mask
    if mask != 0xFFFFFFFF:
        return _MASKED[row.tag]
    try:
        vr = dictionary_VR(value)
    except KeyError:  # newer than pydicom's dictionary: guess from the name
        vr = next((v for word, v in _GUESS if word in row.name), "LO")
    return value, vr.split(" or ")[0]


def planted_file(path, rows):
    """A small X-ray with a distinct value in every row; returns ``{row.tag: (token, vr)}``."""
    ds = pydicom.dcmread(write_xray_dicom(np.full((8, 8), 0.5), path.with_suffix(".tmp")))
    path.with_suffix(".tmp").unlink()
    tokens, year = {}, 1000
    for i, row in enumerate(rows):
        tag, vr = row_tag_vr(row)
        token = f"PLANT{i:04d}Q"
        if vr in ("DA", "DT"):  # dates 11 years apart: a shifted one (< 10.1 years) never meets another
            token, year = f"{year:04d}0615" + ("101112" if vr == "DT" else ""), year + 11
        elif vr == "TM":
            token = f"1213{i % 60:02d}.{i:06d}"
        elif vr == "UI":
            token = f"2.25.9{i:04d}77"
        elif vr == "AS":
            token = f"{i % 1000:03d}D"
        elif vr in ("IS", "DS"):  # long enough not to turn up by chance among the new UIDs' digits
            token = f"-2{i:04d}0719" if vr == "IS" else f"-{i:04d}.071923"
        if vr == "SQ":
            item = Dataset()
            if P.RESOLVED[row.action] == "U":  # X/Z/U*: the reference is kept, its instance UID replaced
                token = f"2.25.8{i:04d}77"
                item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.1", token
            else:
                item.CodeMeaning = token
            ds.add_new(tag, "SQ", [item])
        elif vr in ("US", "SS", "UL", "SL"):
            token = 40000 + i
            ds.add_new(tag, vr, token)
        elif vr in ("OB", "OW", "UN"):
            ds.add_new(tag, vr, token.encode())
        else:
            ds.add_new(tag, vr, token)
        tokens[row.tag] = (token, vr)
    ds.PatientName, ds.PatientID = f"{SURNAME}^{GIVEN}", MRN  # their rows: the identifiers checked below
    tokens["(0010,0010)"], tokens["(0010,0020)"] = (f"{SURNAME}^{GIVEN}", "PN"), (MRN, "LO")
    extra = {
        "StorageMediaFileSetID": "PLANTMEDIAQ", "Manufacturer": f"{GIVEN} Imaging", "BodyPartExamined": "CHEST DOE",
    }
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "PLANTPRIVATEQ")
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "X1", f"{SURNAME} chest protocol {MRN}"
    code.private_block(0x0011, "ACME 1.0", create=True).add_new(0x02, "LO", "PLANTNESTEDQ")
    ds.ProcedureCodeSequence = [code]
    ds.file_meta.SourceApplicationEntityTitle = "PLANTSRCAEQ"
    ds.file_meta.ImplementationVersionName = "PLANTIMPLQ"
    ds.file_meta.add_new(0x00020100, "UI", "2.25.77712345")
    ds.file_meta.add_new(0x00020102, "OB", b"PLANTPRIVINFOQ")
    fp = DicomBytesIO()  # dcmwrite refuses command-group elements, so write the parts by hand
    fp.write(b"PLANTPREAMBLEQ".ljust(128, b"\0") + b"DICM")
    write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    path.write_bytes(fp.getvalue())
    return tokens


def output_files(out):
    """``{name: bytes}`` of every DICOM file written, plus the raw container bytes."""
    if out.is_dir():
        return {p.name: p.read_bytes() for p in out.iterdir()}, b"".join(p.name.encode() for p in out.iterdir())
    if out.suffix == ".zip":
        with zipfile.ZipFile(out) as zf:
            return {n: zf.read(n) for n in zf.namelist()}, out.read_bytes()
    return {out.name: out.read_bytes()}, b""


def test_table_is_complete_and_every_action_handled():
    rows = P.table()
    assert len(rows) == 655 and len({r.tag for r in rows}) == 655
    assert {r.action for r in rows} == set(P.RESOLVED)  # D Z X U and every combined action
    assert {r.keyword for r in rows} >= set(REPORTED) - set(P.EXTRA_REMOVE_KEYWORDS)
    assert P.table_action(0x60024000) == "X" and P.table_action(0x50002500) == "X"
    assert P.table_action(0x00280010) is None  # Rows: not an identifier
    deid = Deidentifier("s", dates="remove", keep_patient_characteristics=False)
    for row in rows:
        tag, vr = row_tag_vr(row)
        elem = pydicom.DataElement(tag, vr, None)
        # command (0000) and file-meta (0002) elements are dropped from a data set; the file meta is rebuilt
        expected = "X" if tag >> 16 in (0x0000, 0x0002) else P.RESOLVED[row.action]
        assert deid.action(elem) == expected, row


@pytest.mark.parametrize("out_name", ["out.dcm", "out", "out.zip"])
@pytest.mark.parametrize("strict", [False, True])
def test_no_planted_value_survives(cli, tmp_path, out_name, strict):
    rows = P.table()
    src_dir = tmp_path / f"{SURNAME}_{GIVEN}_PLANTFOLDERQ"
    src_dir.mkdir()
    src = src_dir / f"{MRN}_PLANTFILENAMEQ.dcm"
    tokens = planted_file(src, rows)
    options = ["--dates", "remove", "--drop-patient-characteristics"] if strict else []
    out = tmp_path / out_name
    r = cli("deid", src if out_name == "out.dcm" else src_dir, out, *options)
    assert r.code == 0, r
    files, container = output_files(out)
    assert len(files) == 1 and all(data[:128] == b"\0" * 128 and data[128:132] == b"DICM" for data in files.values())
    data = next(iter(files.values()))
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    kept = set()
    if not strict:  # the options keep these on purpose: times (modified dates), patient characteristics
        kept = {row.tag for row in rows if tokens[row.tag][1] == "TM" and row.keyword not in P.BIRTH_KEYWORDS}
        kept |= {row.tag for row in rows if row.keyword in P.PATIENT_CHARACTERISTICS}
    for row in rows:
        token = tokens[row.tag][0]
        if isinstance(token, int):  # binary numbers: checked in the data set, not as bytes
            tag = row_tag_vr(row)[0]
            assert tag not in ds or ds[tag].value in (None, 0, b"", []), row
            continue
        assert (token.encode() in data) == (row.tag in kept), (row, token)
    for secret in ("PLANTMEDIAQ", "PLANTPRIVATEQ", "PLANTNESTEDQ", "PLANTSRCAEQ", "PLANTIMPLQ", "2.25.77712345",
                   "PLANTPRIVINFOQ", "PLANTPREAMBLEQ", "PLANTFILENAMEQ", "PLANTFOLDERQ"):
        assert secret.encode() not in data and secret.encode() not in container, secret
    for ident in (SURNAME, GIVEN, MRN, MRN[4:]):  # identifiers inside kept free text
        assert ident.lower().encode() not in data.lower() and ident.encode() not in container, ident
    assert "chest protocol" in ds.ProcedureCodeSequence[0].CodeMeaning and ds.Manufacturer.endswith("Imaging")
    assert not any(e.tag.is_private for e in ds.iterall())


def test_kept_descriptors_are_cleaned(cli, tmp_path):
    src = write_xray_dicom(np.full((8, 8), 0.5), tmp_path / "x.dcm")
    ds = pydicom.dcmread(src)
    ds.PatientName, ds.PatientID, ds.StationName = "Li^Wei", "ID-31415926", "CTROOM7"
    ds.SeriesDescription = "Wei Li chest PA"
    ds.StudyDescription = "LI WEI 31415926 thorax"
    ds.ProtocolName = "ctroom7 chest"
    ds.save_as(src)
    r = cli("deid", src, tmp_path / "out.dcm", "--keep-descriptions")
    assert r.code == 0, r
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert out.SeriesDescription == "[removed] chest PA"
    assert out.StudyDescription == "[removed] [removed] thorax"
    assert out.ProtocolName == "[removed] chest"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108", "113105"]
