"""Fixtures for the io tests: small synthetic CT volumes and the real pydicom / nibabel assets."""

from __future__ import annotations

import numpy as np
import pytest

FAKE_PATIENT = {
    "name": "Doe^Johnathan^Q",
    "id": "MRN-99887766",
    "birth_date": "19800214",
    "sex": "M",
    "age": "044Y",
    "AccessionNumber": "ACC-5551234",
    "InstitutionName": "Saint Example Hospital",
    "ReferringPhysicianName": "Welby^Marcus",
    "PerformingPhysicianName": "Quinn^Michaela",
    "OperatorsName": "Operatorson^Olga",
    "InstitutionAddress": "12 Elm Street, Springfield",
    "OtherPatientIDs": "OTHER-424242",
    "PatientAddress": "742 Evergreen Terrace",
    "StationName": "CTSTATION7",
}
# Strings that must not survive de-identification anywhere in a file.
FAKE_IDENTIFIERS = ["Doe", "Johnathan", "MRN-99887766", "19800214", "ACC-5551234", "Saint Example", "Welby",
                    "Quinn", "Operatorson", "Elm Street", "OTHER-424242", "Evergreen", "CTSTATION7"]


def chest_volume(shape=(12, 40, 48), seed=0) -> np.ndarray:
    """A small chest-like CT in HU (integers): air, body, two lungs, spine, and an asymmetric marker.

    The marker (a bright block near the patient's right, anterior, superior corner) makes any
    flipped or permuted axis visible in comparisons.
    """
    d, h, w = shape
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij")
    vol = np.full(shape, -1000.0)
    body = ((yy - h / 2) / (h * 0.45)) ** 2 + ((xx - w / 2) / (w * 0.47)) ** 2 < 1
    vol[body] = 40
    for cx in (w * 0.3, w * 0.7):
        lung = ((yy - h * 0.45) / (h * 0.3)) ** 2 + ((xx - cx) / (w * 0.15)) ** 2 < 1
        vol[lung] = -820
    vol[(np.abs(xx - w / 2) < 3) & (yy > h * 0.75) & body] = 700
    vol[d - 3:, 4:9, 6:12] = 1500  # marker: superior, anterior, patient's right (low w index)
    vol += rng.integers(-20, 21, size=shape)
    return vol.astype(np.float32)


@pytest.fixture
def fake_patient():
    """``(patient dict for the writers, identifier strings that must never be shown)``."""
    return dict(FAKE_PATIENT), list(FAKE_IDENTIFIERS)


@pytest.fixture
def volume():
    return chest_volume()


@pytest.fixture
def rg1_paths():
    from pydicom.data import get_testdata_file

    return get_testdata_file("RG1_UNCR.dcm"), get_testdata_file("RG1_J2KI.dcm")


@pytest.fixture
def ct_small():
    from pydicom.data import get_testdata_file

    return get_testdata_file("CT_small.dcm")


@pytest.fixture
def series_dir(tmp_path, volume):
    """The ``volume`` fixture written as a shuffled-name DICOM series (spacing 2.5 x 0.7 x 0.8 mm)."""
    from medmllm.io.writers import write_ct_series

    out = tmp_path / "series"
    write_ct_series(volume, (2.5, 0.7, 0.8), out, shuffle_names=True, origin=(-20.0, -15.0, 100.0))
    return out


def write_enhanced_ct(path, volume, spacing, *, slopes=None, frame_order=None):
    """Write ``volume`` (D, H, W) HU as one Enhanced CT file; frames stored in ``frame_order``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import EnhancedCTImageStorage, ExplicitVRLittleEndian, generate_uid

    n = volume.shape[0]
    slopes = slopes or [1.0] * n
    order = list(range(n)) if frame_order is None else list(frame_order)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedCTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["enh", str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedCTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["enh-series", str(path)])
    shared = Dataset()
    orient, measures = Dataset(), Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [spacing[1], spacing[2]]
    measures.SliceThickness = spacing[0]
    shared.PlaneOrientationSequence = [orient]
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames, per_frame = [], []
    for i in order:
        item, pos, pvt = Dataset(), Dataset(), Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, i * spacing[0]]
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slopes[i], -1024.0, "HU"
        item.PlanePositionSequence = [pos]
        item.PixelValueTransformationSequence = [pvt]
        per_frame.append(item)
        frames.append(np.rint((volume[i] + 1024.0) / slopes[i]).astype(np.uint16))
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.set_pixel_data(np.stack(frames), "MONOCHROME2", 16, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def enhanced_ct_writer():
    return write_enhanced_ct


@pytest.fixture
def assert_error():
    """``assert_error(cli_result, path, *phrases)``: exit 2, one line ``error: <path>: ...`` holding every phrase."""
    from medmllm.io.errors import printable

    def check(result, path, *phrases):
        assert result.code == 2, result
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, result.err
        assert lines[0].startswith(f"error: {printable(str(path))}: "), lines[0]
        for phrase in phrases:
            assert phrase in lines[0], lines[0]
        assert "Traceback" not in result.err and result.out == ""

    return check
