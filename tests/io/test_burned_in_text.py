"""The burned-in text detector: names and dates rendered on synthetic radiographs and ultrasound-like frames
are found, the same frames without text and real radiographs / CT slices are not; `deid --detect-burned-in`
lists the files and frames."""

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medmllm.io.burned_in_text import detect_text, scan_dicom
from medmllm.io.writers import write_xray_dicom
from text_images import us_frame, with_text, xray_frame

SEEDS = range(8)


@pytest.mark.parametrize("make", [xray_frame, us_frame], ids=["xray", "ultrasound"])
def test_detection_and_false_positive_rates_on_rendered_text(make):
    frames = [make(s) for s in SEEDS]
    found = [bool(detect_text(with_text(f, s))[0]) for s, f in zip(SEEDS, frames)]
    false = [bool(detect_text(f)[0]) for f in frames]
    assert sum(found) == len(SEEDS) and sum(false) == 0, (found, false)


def test_boxes_are_where_the_text_is():
    frame = with_text(us_frame(3), 3, lines=1)
    diff = np.abs(frame - us_frame(3)) > 0.2
    ys, xs = np.nonzero(diff)
    boxes, chars = detect_text(frame)
    assert chars >= 8
    x, y, w, h = max(boxes, key=lambda b: b[2])
    assert abs(x - xs.min()) <= 4 and abs(y - ys.min()) <= 6 and w >= 0.6 * (xs.max() - xs.min())


@pytest.mark.parametrize("name, text", [("US1_UNCR.dcm", True), ("gdcm-US-ALOKA-16.dcm", True),
                                        ("RG1_UNCR.dcm", False), ("CT_small.dcm", False), ("693_UNCR.dcm", False)])
def test_real_files(name, text):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not in this pydicom-data")
    found = scan_dicom(path)
    assert bool(found) is text
    if text:  # the device banner of both ultrasound files: a line in the top 10 % of the frame
        assert any(y < 48 for _, y, _, _ in found[0].boxes)


def test_deid_detect_burned_in_lists_files_and_frames(tmp_path, cli):
    src = tmp_path / "study"
    src.mkdir()
    patient = {"PatientName": "ZHANG^WEI", "PatientID": "004512"}
    write_xray_dicom(with_text(xray_frame(1), 1), src / "a_named.dcm", patient=patient)
    write_xray_dicom(xray_frame(2), src / "b_clean.dcm", patient=patient)
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "c_ct.dcm")
    shutil.copy(get_testdata_file("US1_UNCR.dcm"), src / "d_us.dcm")
    r = cli("deid", src, tmp_path / "anon", "--detect-burned-in", "--salt", "s")
    assert r.code == 0, r
    lines = [ln for ln in r.out.splitlines() if ln.startswith("text: ")]
    assert [ln.split(":")[1].strip().rsplit("/", 1)[-1] for ln in lines] == ["IM00001.dcm", "IM00004.dcm"]
    assert all("pixels show text (detector): 1 frame(s) [0]" in ln for ln in lines)
    assert "burned-in text detector: 2 of 4 file(s) show text in their pixels" in r.out
    assert "ZHANG" not in r.out + r.err and "004512" not in r.out + r.err
    # the pixels are written as they were: the detector flags, it does not change them
    a = pydicom.dcmread(tmp_path / "anon" / "IM00001.dcm").pixel_array
    assert a.max() > 0 and scan_dicom(tmp_path / "anon" / "IM00001.dcm")
    # without the flag nothing is looked at
    r = cli("deid", src, tmp_path / "anon2", "--salt", "s")
    assert r.code == 0 and "text: " not in r.out and "burned-in text detector" not in r.out
