"""De-identification: identifiers gone from every element, UIDs remapped consistently, dates, warnings."""

import datetime as dt
import zipfile

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from medmllm.io import load_image
from medmllm.io.deid import Deidentifier
from medmllm.io.writers import write_ct_series, write_xray_dicom


def every_value(ds):
    """(keyword, text) of every element, file meta and nested sequences included."""
    for elem in list(ds.file_meta.iterall()) + list(ds.iterall()):
        yield elem.keyword or str(elem.tag), str(elem.value)


def add_hidden_identifiers(path):
    """Identifiers where a naive tool misses them: private tags, sequences, overlays, descriptions."""
    ds = pydicom.dcmread(path)
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "Doe Johnathan MRN-99887766")
    req = Dataset()
    req.AccessionNumber = "ACC-5551234"
    req.RequestingPhysician = "Welby^Marcus"
    ds.RequestAttributesSequence = [req]
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = ds.StudyInstanceUID
    ds.ReferencedImageSequence = [ref]  # X/Z/U*: kept, its instance UIDs replaced
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = ds.StudyInstanceUID
    ds.ReferencedStudySequence = [study]  # X/Z: emptied
    code = Dataset()
    code.CodeValue, code.CodeMeaning = "X1", "chest"
    code.ContentCreatorName = "Quinn^Michaela"
    ds.ProcedureCodeSequence = [code]
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60003000, "OW", b"\x00" * 8)
    ds.OtherPatientNames = "Doe^John"
    ds.StudyDescription = "CT chest for Johnathan Doe"
    ds.ImageComments = "MRN-99887766 follow-up"
    ds.PatientBirthDate = "19800214"
    ds.save_as(path)


def test_identifiers_absent_and_series_intact(cli, tmp_path, volume, fake_patient):
    patient, identifiers = fake_patient
    vol = volume[:4]
    paths = write_ct_series(vol, (2.5, 0.7, 0.8), tmp_path / "Doe_Johnathan", patient=patient)
    for p in paths:
        add_hidden_identifiers(p)
    before = [pydicom.dcmread(p) for p in paths]
    r = cli("deid", tmp_path / "Doe_Johnathan", tmp_path / "anon", "--salt", "s3cret")
    assert r.code == 0, r
    assert "de-identified 4 DICOM file(s)" in r.out
    out = sorted((tmp_path / "anon").iterdir())
    assert [p.name for p in out] == [f"IM{i:05d}.dcm" for i in range(1, 5)]
    after = [pydicom.dcmread(p) for p in out]
    for ds in after:
        for keyword, text in every_value(ds):
            for ident in identifiers:
                assert ident.lower() not in text.lower(), (keyword, text)
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientBirthDate == ""
        assert not any(e.tag.is_private for e in ds.iterall())
        assert not any(e.tag.group == 0x6000 for e in ds)
        assert "StudyDescription" not in ds and "ImageComments" not in ds and "RequestAttributesSequence" not in ds
        assert ds.PatientAge == "044Y" and ds.PatientSex == "M"  # Retain Patient Characteristics
        assert ds.PatientName == ds.PatientID and str(ds.PatientID).startswith("ANON-")
    # UIDs: remapped, consistent across files, references follow, class UIDs untouched
    assert len({ds.SeriesInstanceUID for ds in after}) == 1
    assert after[0].SeriesInstanceUID != before[0].SeriesInstanceUID
    assert len({ds.SOPInstanceUID for ds in after}) == 4
    assert not {ds.SOPInstanceUID for ds in after} & {ds.SOPInstanceUID for ds in before}
    assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in after)
    assert all(ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ds.StudyInstanceUID for ds in after)
    assert all(ds.SOPClassUID == before[0].SOPClassUID for ds in after)
    assert all(ds.ReferencedImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.1" for ds in after)
    assert all(len(ds.ReferencedStudySequence) == 0 for ds in after)
    # the image is untouched: the series still loads to the same volume
    np.testing.assert_array_equal(load_image(tmp_path / "anon").array, vol)


def test_dates_shifted_consistently_and_salt(tmp_path, fake_patient):
    patient, _ = fake_patient
    src = write_xray_dicom(np.full((8, 8), 0.5), tmp_path / "x.dcm", patient=patient)

    def run(salt, **kw):
        ds = pydicom.dcmread(src)
        Deidentifier(salt, **kw).dataset(ds)
        return ds

    a, b, c = run("k1"), run("k1"), run("k2")
    day = dt.datetime.strptime
    shift = day("20240101", "%Y%m%d") - day(a.StudyDate, "%Y%m%d")
    assert 30 <= shift.days < 3680
    assert day(a.ContentDate, "%Y%m%d") == day("20240101", "%Y%m%d") - shift
    assert a.StudyTime == "120000"  # times kept with the modified-dates option
    assert (a.StudyDate, a.PatientID, a.StudyInstanceUID) == (b.StudyDate, b.PatientID, b.StudyInstanceUID)
    assert a.PatientID != c.PatientID and a.StudyInstanceUID != c.StudyInstanceUID
    removed = run("k1", dates="remove", keep_patient_characteristics=False)
    assert removed.StudyDate == "" and removed.StudyTime == "" and removed.ContentDate == ""
    assert "PatientAge" not in removed and removed.PatientSex == ""
    assert [c.CodeValue for c in removed.DeidentificationMethodCodeSequence] == ["113100"]


def test_real_file_rg1(cli, tmp_path, rg1_paths):
    src = rg1_paths[0]
    r = cli("deid", src, tmp_path / "out.dcm", "--keep-descriptions")
    assert r.code == 0, r
    ds, orig = pydicom.dcmread(tmp_path / "out.dcm"), pydicom.dcmread(src)
    text = " ".join(v for _, v in every_value(ds))
    for ident in ("CompressedSamples", "9RG1", "19400305", "Hamburg", "THORAVISION", "exam Number", "26210",
                  "Our Department", "CLUNIE1"):
        assert ident not in text, ident
    assert ds.StudyDescription == "THORAX"  # Clean Descriptors option keeps safe descriptions
    np.testing.assert_array_equal(ds.pixel_array, orig.pixel_array)


def test_burned_in_annotation_warns(cli, tmp_path):
    src = write_xray_dicom(np.full((8, 8), 0.5), tmp_path / "x.dcm")
    ds = pydicom.dcmread(src)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(src)
    r = cli("deid", src, tmp_path / "out.dcm")
    assert r.code == 0 and f"warning: {tmp_path / 'out.dcm'}: pixels carry burned-in annotation" in r.err
    assert "1 file(s) flagged for burned-in annotation" in r.out
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    del ds.BurnedInAnnotation
    ds.save_as(src)
    r = cli("deid", src, tmp_path / "out2.dcm")
    assert r.code == 0 and "secondary capture without a BurnedInAnnotation flag" in r.err
    assert cli("inspect", src, "--json").code == 0


def test_zip_in_zip_out_and_existing_output(cli, tmp_path, series_dir, volume):
    zin = tmp_path / "in.zip"
    with zipfile.ZipFile(zin, "w") as zf:
        for f in series_dir.iterdir():
            zf.write(f, f"DOE/{f.name}")
    r = cli("deid", zin, tmp_path / "out.zip")
    assert r.code == 0, r
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert all(n.startswith("IM") for n in zf.namelist())
    np.testing.assert_array_equal(load_image(tmp_path / "out.zip").array, volume)
    r = cli("deid", zin, tmp_path / "out.zip")
    assert r.code == 2 and r.err.strip() == f"error: {tmp_path / 'out.zip'}: output exists (pass --overwrite to replace it)"
    assert cli("deid", zin, tmp_path / "out.zip", "--overwrite").code == 0


@pytest.mark.parametrize("content", [b"", b"plain text"])
def test_deid_bad_input(cli, tmp_path, content):
    src = tmp_path / "x.dcm"
    src.write_bytes(content)
    r = cli("deid", src, tmp_path / "out")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and r.err.startswith(f"error: {src}: ")
    assert not (tmp_path / "out").exists()
