"""The shared PHI helpers: identifiers in free text, burned-in flags listed by output path, no import cycle."""

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from medmllm.io import load_image
from medmllm.io.deid import Deidentifier
from medmllm.io.deid_files import deidentify_path
from medmllm.io.phi import (
    BURNED_IN_MESSAGES,
    burned_in_warning,
    identifying_values,
    scrub_text,
)
from medmllm.io.writers import write_xray_dicom


def dataset(**values):
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def test_scrub_text_names_ids_and_dates():
    ds = dataset(PatientName="Li^Wei", PatientID="MRN-00424242", PatientBirthDate="19800214",
                 SpecificCharacterSet="ISO_IR 192")
    seq = Dataset()
    seq.RequestingPhysician = "Okafor^Ngozi"  # a name in a nested sequence counts too
    ds.RequestAttributesSequence = [seq]
    assert scrub_text("Li chest, Wei Li follow-up; lipoma", ds) == "[removed] chest, [removed] follow-up; lipoma"
    assert scrub_text("Dr OKAFOR asked; MRN 00424242; born 14.02.1980 / 1980-02-14", ds) == \
        "Dr [removed] asked; MRN [removed]; born [removed] / [removed]"
    cjk = dataset(PatientName="王^伟", SpecificCharacterSet="ISO_IR 192")
    assert scrub_text("患者王伟胸部CT", cjk) == "患者[removed]胸部CT"
    assert scrub_text("no identifiers here", dataset()) == "no identifiers here"
    values = identifying_values(ds)
    assert {"Okafor", "Ngozi", "MRN-00424242", "00424242", "19800214", "14.02.1980", "Li", "Wei"} <= set(values)
    assert [len(v) for v in values] == sorted((len(v) for v in values), reverse=True)  # longest first


def test_burned_in_warning_for_the_app(tmp_path):
    plain = write_xray_dicom(np.full((8, 8), 0.5), tmp_path / "plain.dcm")
    flagged = tmp_path / "flagged.dcm"
    ds = pydicom.dcmread(plain)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(flagged)
    assert burned_in_warning(load_image(flagged)) == BURNED_IN_MESSAGES["YES"]
    assert burned_in_warning(load_image(plain)) is None
    assert burned_in_warning(ds) == BURNED_IN_MESSAGES["YES"]
    assert burned_in_warning({"burned_in_annotation": "possible"}) == BURNED_IN_MESSAGES["possible"]
    assert burned_in_warning({}) is None and burned_in_warning(None) is None


@pytest.mark.parametrize("out_name", ["out", "out.zip"])
def test_burned_in_files_listed_by_output_path(cli, tmp_path, out_name):
    src = tmp_path / "study"
    for i in range(3):
        p = write_xray_dicom(np.full((8, 8), 0.5), src / f"Doe_{i}.dcm")
        ds = pydicom.dcmread(p)
        if i == 1:
            ds.BurnedInAnnotation = "YES"
        elif i == 2:  # secondary capture without the flag
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
            ds.pop("BurnedInAnnotation", None)
        else:
            ds.BurnedInAnnotation = "NO"
        ds.save_as(p)
    out = tmp_path / out_name
    report = deidentify_path(src, out, deid=Deidentifier("k"))
    assert report.burned_in == [(f"{out}/IM00002.dcm", BURNED_IN_MESSAGES["YES"]),
                                (f"{out}/IM00003.dcm", BURNED_IN_MESSAGES["possible"])]
    if out_name == "out.zip":
        with zipfile.ZipFile(out) as zf:
            flags = [pydicom.dcmread(zf.open(n)).get("BurnedInAnnotation") for n in sorted(zf.namelist())]
    else:
        flags = [pydicom.dcmread(out / f"IM0000{i}.dcm").get("BurnedInAnnotation") for i in (1, 2, 3)]
    assert flags == ["NO", "YES", None]  # the listed files are the flagged ones
    r = cli("deid", src, tmp_path / f"cli-{out_name}")
    assert r.code == 0 and "2 file(s) flagged for burned-in annotation" in r.out
    assert r.err.splitlines() == [f"warning: {tmp_path / f'cli-{out_name}'}/IM00002.dcm: {BURNED_IN_MESSAGES['YES']}",
                                  f"warning: {tmp_path / f'cli-{out_name}'}/IM00003.dcm: {BURNED_IN_MESSAGES['possible']}"]


def test_readers_do_not_import_the_deid_engine():
    code = ("import sys, medmllm.io.dicom, medmllm.io.series; "
            "print(sorted(m for m in sys.modules if m.startswith('medmllm.io.deid')))")
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "[]"
