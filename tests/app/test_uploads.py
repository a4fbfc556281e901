"""Upload safety without Gradio: archive limits, size limits, kinds, messages that name the upload."""

import gzip
import zipfile

import numpy as np
import pytest

from medmllm.app.uploads import UploadError, check_archive, check_sizes, load_ct, load_xray
from medmllm.io.writers import write_ct_series, write_xray_dicom


def test_zip_declared_size_and_member_count_are_bounded(tmp_path, monkeypatch):
    bomb = tmp_path / "series.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", b"\0" * 2**20)
        zf.writestr("b.dcm", b"\0" * 2**20)
    assert bomb.stat().st_size < 20_000
    with pytest.raises(UploadError, match=r"series\.zip: zip expands to 2 MB, over the 1 MB limit"):
        check_archive(bomb, 2**20)
    check_archive(bomb, 3 * 2**20)  # within the limit: no error
    import medmllm.app.uploads as uploads

    monkeypatch.setattr(uploads, "MAX_ZIP_MEMBERS", 1)
    with pytest.raises(UploadError, match="holds 2 files"):
        check_archive(bomb, 3 * 2**20)


def test_gzip_and_corrupt_zip(tmp_path):
    gz = tmp_path / "ct.nii.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"\0" * (2 * 2**20))
    with pytest.raises(UploadError, match=r"ct\.nii\.gz: expands to 2 MB"):
        check_archive(gz, 2**20)
    bad = tmp_path / "cut.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(UploadError, match=r"cut\.zip: corrupt zip archive"):
        check_archive(bad, 2**20)


def test_sizes_empty_missing_and_total(tmp_path):
    a, b, empty = tmp_path / "a.dcm", tmp_path / "b.dcm", tmp_path / "e.dcm"
    a.write_bytes(b"x" * 600)
    b.write_bytes(b"x" * 600)
    empty.write_bytes(b"")
    check_sizes([a, b], 1200)
    with pytest.raises(UploadError, match=r"b\.dcm: uploads total over"):
        check_sizes([a, b], 1000)
    with pytest.raises(UploadError, match=r"e\.dcm: file is empty"):
        check_sizes([empty], 1000)
    with pytest.raises(UploadError, match="missing"):
        check_sizes([tmp_path / "gone.dcm"], 1000)


def test_kinds_are_checked_and_messages_name_the_upload_not_the_folder(tmp_path):
    vol = np.full((4, 16, 16), -700.0, np.float32)
    series = write_ct_series(vol, (2.0, 1.0, 1.0), tmp_path / "ct")
    xray = write_xray_dicom(np.full((32, 32), 0.5, np.float32), tmp_path / "cxr.dcm")
    assert load_ct(series).array.shape == (4, 16, 16)
    assert load_xray(xray).array.shape == (32, 32)
    with pytest.raises(UploadError) as e:
        load_xray(series[0])
    assert str(e.value).startswith(series[0].name + ":") and str(tmp_path) not in str(e.value)
    with pytest.raises(UploadError) as e:
        load_ct([xray])
    assert str(e.value).startswith("cxr.dcm:") and str(tmp_path) not in str(e.value)
    with pytest.raises(UploadError, match="zip archive is not an X-ray"):
        z = tmp_path / "x.zip"
        with zipfile.ZipFile(z, "w") as zf:
            zf.write(xray, "cxr.dcm")
        load_xray(z)


def _peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(UploadError) as e:
            fn()
        return str(e.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_size_field_modulo_2_32_is_never_trusted(tmp_path, zeros_gzip, nifti_header):
    """4 GiB + 32 MiB inside, the size field says 32 MiB: the cheap check lets it by, the loader refuses it
    from the NIfTI header (before reading any voxel) and would stop any decompression at the limit."""
    total = 4 * 2**30 + 32 * 2**20
    gz = zeros_gzip(tmp_path / "ct.nii.gz", nifti_header((1024, 1024, 4128), np.uint8), 352 + total)
    check_archive(gz, 64 * 2**20)  # 32 MiB by the size field: a declaration can only refuse, never accept
    message, peak = _peak(lambda: load_ct([gz], max_bytes=64 * 2**20))
    assert message.startswith("ct.nii.gz: decoded size 16.1 GiB (1024 x 1024 x 4128 voxels) is over the limit")
    assert peak < 8 * 2**20
    plain = zeros_gzip(tmp_path / "zeros.gz", b"", total)
    message, peak = _peak(lambda: load_ct([plain], max_bytes=64 * 2**20))
    assert "gzip file that holds no NIfTI or NRRD image" in message and peak < 8 * 2**20


@pytest.mark.parametrize("name", ["chest.nii.gz", "chest.png", "chest.dcm"])
def test_xray_box_refuses_volumes_and_archives_from_their_first_bytes(tmp_path, zeros_gzip, nifti_header, name):
    """A gzip NIfTI in the X-ray box (whatever it is called) is refused without being decompressed."""
    bomb = zeros_gzip(tmp_path / name, nifti_header((1024, 1024, 2500), np.int16), 352 + 2 * 1024 * 1024 * 2500)
    message, peak = _peak(lambda: load_xray(bomb))
    assert message == f"{name}: this is a CT volume (NIfTI); upload it in the CT box" and peak < 4 * 2**20


def test_upload_names_that_are_not_utf8_are_shown_escaped(tmp_path):
    import os

    name = os.fsdecode(b"cxr\xff.dcm")
    try:
        path = tmp_path / name
        path.write_bytes(b"not an image at all" * 10)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses non-UTF-8 file names")
    with pytest.raises(UploadError) as e:
        load_xray(path)
    assert str(e.value).startswith("cxr\\xff.dcm: not a medical image")
    str(e.value).encode("utf-8")  # the page can show it


def test_viewer_warns_when_pixels_may_show_identifiers(tmp_path):
    """A DICOM flagged BurnedInAnnotation = YES is shown with a warning; an unflagged one without."""
    import numpy as np
    import pydicom

    from medmllm.app.ui import ReportApp
    from medmllm.io.writers import write_xray_dicom

    clean = write_xray_dicom(np.linspace(0, 1, 64 * 48).reshape(64, 48), tmp_path / "clean.dcm")
    flagged = tmp_path / "flagged.dcm"
    ds = pydicom.dcmread(clean)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(flagged)
    app = ReportApp(backend=None)
    try:
        _, meta, status = app.view_xray(str(flagged))
        assert "Check the pixels" in status and "BurnedInAnnotation = YES" in status and meta["kind"] == "xray"
        assert app.view_xray(str(clean))[2] == ""
    finally:
        app.close()
