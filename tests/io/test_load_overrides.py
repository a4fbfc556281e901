"""load_image(spacing=, rescale=): per-image overrides of wrong headers (CT-RATE), and their refusals."""

import nibabel as nib
import nrrd
import numpy as np
import pytest

from medmllm.io import ImageLoadError, load_image
from medmllm.io.writers import write_ct_series, write_nifti, write_png


@pytest.fixture
def volume():
    return (np.arange(3 * 4 * 5).reshape(3, 4, 5) * 7 - 200).astype(np.int16)  # (D, H, W)


def test_nifti_spacing_and_rescale_replace_the_header(tmp_path, volume):
    stored = np.transpose(volume, (2, 1, 0))  # NIfTI (i, j, k) = (w, h, d), RAS
    img = nib.Nifti1Image(stored, np.diag([-1.0, -1.0, 1.0, 1.0]))
    img.header.set_slope_inter(2.0, 5.0)  # a scaling the release says is wrong
    nib.save(img, tmp_path / "v.nii")
    plain = load_image(tmp_path / "v.nii")
    np.testing.assert_array_equal(plain.array, volume * 2.0 + 5.0)
    fixed = load_image(tmp_path / "v.nii", spacing=[2.5, 0.7, 0.8], rescale={"slope": 1.0, "intercept": -1024.0})
    np.testing.assert_array_equal(fixed.array, volume - 1024.0)
    assert fixed.spacing == (2.5, 0.7, 0.8) and plain.spacing == (1.0, 1.0, 1.0)
    assert fixed.meta["header_spacing"] == [1.0, 1.0, 1.0] and fixed.meta["header_rescale"] == [2.0, 5.0]
    np.testing.assert_allclose(fixed.affine[:3, :3], np.diag([0.8, 0.7, 2.5])[:, ::-1])  # directions kept
    assert load_image(tmp_path / "v.nii", rescale=(0.5, 0)).array[0, 0, 0] == volume[0, 0, 0] * 0.5


def test_nrrd_rescale_and_2d_spacing(tmp_path, volume):
    header = {"space": "left-posterior-superior", "space directions": np.eye(3), "space origin": np.zeros(3)}
    nrrd.write(str(tmp_path / "v.nrrd"), np.ascontiguousarray(np.transpose(volume, (2, 1, 0))), header,
               index_order="F")
    np.testing.assert_array_equal(load_image(tmp_path / "v.nrrd", rescale=[3, 1]).array, volume * 3.0 + 1.0)
    write_png(np.full((6, 4), 0.5), tmp_path / "x.png")
    assert load_image(tmp_path / "x.png", spacing=(0.2, 0.3)).spacing == (0.2, 0.3)


def test_overrides_refused_with_one_line(tmp_path, volume):
    write_nifti(volume, (1, 1, 1), tmp_path / "v.nii.gz")
    write_png(np.full((6, 4), 0.5), tmp_path / "x.png")
    write_ct_series(volume.astype(float), (2.0, 0.5, 0.5), tmp_path / "series")
    cases = [(tmp_path / "x.png", {"rescale": (1, 0)}, "applies to nifti / nrrd volumes only, not png"),
             (tmp_path / "series", {"rescale": (1, 0)}, "not dicom-series"),
             (tmp_path / "v.nii.gz", {"rescale": (0, 1)}, "rescale slope is 0"),
             (tmp_path / "v.nii.gz", {"rescale": {"slope": 1}}, "must have 'slope' and 'intercept'"),
             (tmp_path / "v.nii.gz", {"spacing": (1, -2, 1)}, "expected a finite positive number"),
             (tmp_path / "v.nii.gz", {"spacing": (1, 1)}, "spacing override has 2 values; a ct image needs 3"),
             (tmp_path / "x.png", {"spacing": (1, 1, 1)}, "spacing override has 3 values; a xray image needs 2"),
             (tmp_path / "v.nii.gz", {"spacing": "1,1,1"}, "must be 2 or 3 numbers")]
    for path, kw, msg in cases:
        with pytest.raises(ImageLoadError, match=msg) as e:
            load_image(path, **kw)
        assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)
