"""Size limits hold whatever a file is called or claims: every decompression (gzip, deflated DICOM, NRRD
encodings) is bounded, decoded sizes are refused from headers before anything is allocated.

The large inputs are built in O(file size) by the ``zeros_deflate`` / ``zeros_gzip`` fixtures (a 2.5 MB
file holding 2.5 GB)."""

import gzip
import shutil
import struct
import tracemalloc

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest

from medmllm.io import ImageLoadError, load_image
from medmllm.io.streams import open_stream
from medmllm.io.writers import write_nifti

MiB, GiB = 1 << 20, 1 << 30


def peak_of(fn):
    """``(result or exception, traced peak bytes)`` of ``fn()`` (numpy reports its arrays to tracemalloc)."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 - the caller asserts what it is
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["scan.dat", "scan.dcm", "scan"])
def test_gzip_nifti_of_2_5_gb_is_refused_from_its_header_whatever_its_name(cli, assert_error, tmp_path, name,
                                                                          zeros_gzip, nifti_header):
    path = zeros_gzip(tmp_path / name, nifti_header((1024, 1024, 1250), np.int16), 352 + 2 * 1024 * 1024 * 1250)
    assert path.stat().st_size < 3 * MiB
    assert_error(cli("inspect", path, "--max-bytes", "100M"), path, "decoded size 4.9 GiB (1024 x 1024 x 1250 voxels)",
                 "over the limit of 100.0 MiB")
    err, peak = peak_of(lambda: load_image(path, max_bytes=100 * MiB))
    assert isinstance(err, ImageLoadError) and peak < 4 * MiB


def test_nifti_stored_data_is_bounded_too(tmp_path):
    """float64 voxels: the float32 image fits, the stored (decompressed) data does not."""
    path = tmp_path / "f64.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 64)), np.eye(4)), path)
    with pytest.raises(ImageLoadError, match=r"stored NIfTI data \(float64\) of 2.0 MiB is over the limit of 1.5 MiB"):
        load_image(path, max_bytes=3 * MiB // 2)


def test_gzip_stream_is_counted_not_its_size_field(tmp_path, zeros_gzip):
    path = zeros_gzip(tmp_path / "z.gz", b"", 4 * GiB + 32 * MiB)
    with open(path, "rb") as f:
        f.seek(-4, 2)
        assert struct.unpack("<I", f.read())[0] == 32 * MiB  # what the size field says
    got = []

    def read_all():
        with open_stream(path, 64 * MiB) as f:
            while chunk := f.read(MiB):
                got.append(len(chunk))

    err, peak = peak_of(read_all)
    assert isinstance(err, ImageLoadError) and "gzip data expands past the limit of 64.0 MiB" in str(err)
    assert sum(got) <= 64 * MiB and peak < 8 * MiB


def _deflated_file(tmp_path, ct_small):
    ds = pydicom.dcmread(ct_small)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_deflated_dicom_reads_like_the_plain_file(tmp_path, ct_small):
    img = load_image(_deflated_file(tmp_path, ct_small))
    assert img.meta["transfer_syntax"] == "Deflated Explicit VR Little Endian"
    np.testing.assert_array_equal(img.array, load_image(ct_small).array)


def test_deflated_dicom_bomb_is_stopped_at_the_limit(cli, assert_error, tmp_path, ct_small, zeros_deflate):
    raw = _deflated_file(tmp_path, ct_small).read_bytes()
    meta_end = 132 + 12 + struct.unpack("<I", raw[140:144])[0]
    bomb = tmp_path / "bomb.dcm"
    bomb.write_bytes(raw[:meta_end] + zeros_deflate(b"", 256 * MiB))
    assert bomb.stat().st_size < MiB
    assert_error(cli("inspect", bomb, "--max-bytes", "16M"), bomb,
                 "deflated DICOM data expands past the limit of 16.0 MiB")
    err, peak = peak_of(lambda: load_image(bomb, max_bytes=16 * MiB))
    assert isinstance(err, ImageLoadError) and peak < 24 * MiB
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(raw[: meta_end + (len(raw) - meta_end) // 2])
    assert_error(cli("inspect", cut), cut, "truncated deflated DICOM data")


def test_nrrd_gzip_whole_file_and_encoding(tmp_path, volume):
    data = np.ascontiguousarray(volume.transpose(2, 1, 0).astype(np.int16))  # (x, y, z) in LPS
    header = {"space": "left-posterior-superior", "space directions": np.diag([0.8, 0.7, 2.5]),
              "space origin": [0.0, 0.0, 0.0]}
    nrrd.write(str(tmp_path / "ct.nrrd"), data, header, index_order="F")  # pynrrd's default: gzip encoding
    with open(tmp_path / "ct.nrrd", "rb") as src, gzip.open(tmp_path / "ct.nrrd.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    a, b = load_image(tmp_path / "ct.nrrd"), load_image(tmp_path / "ct.nrrd.gz")
    np.testing.assert_array_equal(a.array, volume)
    np.testing.assert_array_equal(b.array, volume)
    with pytest.raises(ImageLoadError, match=r"decoded size 90.0 KiB .* over the limit of 64.0 KiB"):
        load_image(tmp_path / "ct.nrrd", max_bytes=64 * 1024)


def test_nrrd_detached_data_must_sit_next_to_the_header(tmp_path):
    secret = tmp_path / "secret.raw"
    secret.write_bytes(b"\0" * 64)
    folder = tmp_path / "upload"
    folder.mkdir()
    nhdr = folder / "x.nhdr"
    nhdr.write_text(f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: {secret}\n\n")
    with pytest.raises(ImageLoadError, match="detached data file .* must be a file next to the header"):
        load_image(nhdr)
    nhdr.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: /dev/zero\n\n")
    with pytest.raises(ImageLoadError, match="must be a file next to the header"):
        load_image(nhdr)


def test_nifti_pair_and_one_allocation(tmp_path, volume):
    """A .hdr/.img pair still loads; the canonical array is allocated once (not a reoriented copy)."""
    single = write_nifti(volume, (2.5, 0.7, 0.8), tmp_path / "ct.nii")
    pair = nib.Nifti1Pair(np.asanyarray(nib.load(single).dataobj), nib.load(single).affine)
    nib.save(pair, tmp_path / "ct.hdr")
    a, b = load_image(single), load_image(tmp_path / "ct.hdr")
    np.testing.assert_array_equal(a.array, volume)
    np.testing.assert_array_equal(b.array, volume)
    assert a.array.flags.c_contiguous and a.array.flags.owndata
    (tmp_path / "ct.img").unlink()
    with pytest.raises(ImageLoadError, match="whose .img data file is missing"):
        load_image(tmp_path / "ct.hdr")


def test_decoded_size_checked_before_pixels_are_read(tmp_path, ct_small):
    """A DICOM header that declares a huge matrix is refused before its pixel data is decoded."""
    ds = pydicom.dcmread(ct_small)
    ds.Rows = ds.Columns = 60000
    path = tmp_path / "huge.dcm"
    ds.save_as(path)
    err, peak = peak_of(lambda: load_image(path, max_bytes=64 * MiB))
    assert isinstance(err, ImageLoadError) and "decoded size 13.4 GiB (1 x 60000 x 60000 voxels)" in str(err)
    assert peak < 4 * MiB
