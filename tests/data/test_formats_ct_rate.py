"""ct-rate: the release layout, CSV spacing / rescale overriding wrong NIfTI headers through the manifest, labels."""

import csv
import gzip
from collections import Counter

import nibabel as nib
import numpy as np
import pytest
import torch

from medmllm.config import TransformConfig
from medmllm.data.dataset import ManifestDataset
from medmllm.data.formats.ct_rate import convert_ct_rate
from medmllm.data.schema import check_manifest, image_root, image_source, read_manifest
from medmllm.data.transforms import ImagePipeline
from medmllm.findings import CT_LABELS
from medmllm.io import load_image
from medmllm.io.writers import write_nifti

TRUE_SPACING = {"train_1_a_1": (2.0, 0.5, 0.5), "train_1_a_2": (1.0, 0.5, 0.5), "train_2_a_1": (2.0, 0.75, 0.75),
                "valid_1_a_1": (2.0, 0.5, 0.5)}


def hu_volume(seed):
    """(D, H, W) = (4, 6, 6) HU from -1000 to 1000 on a grid the eye can check: HU = 100 * d + 10 * h + w - 1000."""
    d, h, w = np.meshgrid(np.arange(4), np.arange(6), np.arange(6), indexing="ij")
    return (100 * d + 10 * h + w - 1000 + seed).astype(np.int16)


def write_wrong_nifti(path, hu, scl=(np.nan, np.nan)):
    """A NIfTI as CT-RATE ships it: raw stored values (HU + 1024), header spacing 1 mm; ``scl`` optionally a
    misleading header scaling. Written byte by byte (nibabel's writer would set its own scaling)."""
    raw = np.transpose(hu.astype(np.int32) + 1024, (2, 1, 0)).astype(np.int16)  # stored (i, j, k) = (w, h, d)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(raw.shape)
    hdr.set_data_dtype(np.int16)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS of an LPS-axial volume at 1 mm: the wrong spacing
    hdr.set_sform(aff, code=1)
    hdr.set_qform(aff, code=1)
    hdr["scl_slope"], hdr["scl_inter"] = scl
    hdr["vox_offset"], hdr["magic"] = 352, b"n+1"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(hdr.binaryblock + b"\0" * 4 + raw.tobytes(order="F"), mtime=0))


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    top = tmp_path_factory.mktemp("ct-rate")
    ds = top / "dataset"
    vols = ["train_1_a_1", "train_1_a_2", "train_2_a_1", "valid_1_a_1", "train_3_a_1", "train_5_a_1"]
    for i, name in enumerate(vols):
        split, n, scan, _ = name.split("_")
        folder = ds / split / f"{split}_{n}" / f"{split}_{n}_{scan}"
        write_wrong_nifti(folder / f"{name}.nii.gz", hu_volume(i), scl=(2.0, 5.0) if name == "train_1_a_2" else
                          (np.nan, np.nan))
    reports = {n: (f"Clinical info {n}.", "Non-contrast chest CT.", f"Findings of {n}. Emphysema.", f"Impression {n}.")
               for n in ["train_1_a_1", "train_1_a_2", "train_2_a_1", "train_3_a_1", "train_4_a_1"]}
    reports["train_2_a_1"] = ("", "", "", "No acute findings.")
    write_csv(ds / "radiology_text_reports" / "train_reports.csv",
              ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"],
              [[f"{k}.nii.gz", *v] for k, v in reports.items()])
    write_csv(ds / "radiology_text_reports" / "validation_reports.csv",
              ["VolumeName", "ClinicalInformation_EN", "Technique_EN", "Findings_EN", "Impressions_EN"],
              [["valid_1_a_1.nii.gz", "Cough.", "", "Bilateral pleural effusion.", "Effusions."]])
    meta_cols = ["VolumeName", "Manufacturer", "XYSpacing", "ZSpacing", "RescaleIntercept", "RescaleSlope",
                 "Rows", "Columns", "NumberofSlices"]
    write_csv(ds / "metadata" / "train_metadata.csv", meta_cols,
              [[f"{k}.nii.gz", "SIEMENS", f"[{s[1]}, {s[2]}]", s[0], -1024, 1, 6, 6, 4] for k, s in TRUE_SPACING.items()
               if k.startswith("train")] + [["train_5_a_1.nii.gz", "SIEMENS", "[0.7, 0.7]", 1.5, -1024, 1, 6, 6, 4]])
    write_csv(ds / "metadata" / "validation_metadata.csv", meta_cols,
              [["valid_1_a_1.nii.gz", "PHILIPS", "[0.5, 0.5]", 2.0, -1024, 1, 6, 6, 4]])
    labels = {"train_1_a_1": {"Emphysema", "Lung nodule"}, "train_1_a_2": {"Emphysema", "Lung nodule"},
              "valid_1_a_1": {"Pleural effusion"}}
    for split, names in (("train", ["train_1_a_1", "train_1_a_2", "train_2_a_1"]), ("valid", ["valid_1_a_1"])):
        write_csv(ds / "multi_abnormality_labels" / f"{split}_predicted_labels.csv", ["VolumeName", *CT_LABELS.values()],
                  [[f"{n}.nii.gz", *[int(c in labels.get(n, ())) for c in CT_LABELS.values()]] for n in names])
    return top


def test_convert_release(release):
    conv = convert_ct_rate(release)
    assert conv.image_root == release / "dataset"
    assert conv.converted == 3 and conv.skipped == Counter({
        "no findings section (--target findings)": 1, "no usable metadata row (spacing / rescale unknown)": 1,
        "image file not found": 1, "no report row": 1})
    assert conv.examples["no report row"] == ["train_5_a_1"] and conv.examples["image file not found"] == ["train_4_a_1"]
    by = {r["id"]: r for r in conv.records}
    a1, a2, v = by["train_1_a_1"], by["train_1_a_2"], by["valid_1_a_1"]
    assert a1["patient_id"] == a2["patient_id"] == "train_1" and a1["split"] == a2["split"]
    assert v["split"] == "test" and v["patient_id"] == "valid_1"
    assert a1["images"] == [{"modality": "ct", "path": "train/train_1/train_1_a/train_1_a_1.nii.gz", "format": "nifti",
                             "spacing": [2.0, 0.5, 0.5], "rescale": {"slope": 1.0, "intercept": -1024.0}}]
    assert a2["images"][0]["spacing"] == [1.0, 0.5, 0.5]
    assert a1["messages"] == [
        {"role": "user", "content": "<ct>\nClinical information:\nClinical info train_1_a_1.\n\nWrite the radiology report."},
        {"role": "assistant", "content": "Findings of train_1_a_1. Emphysema."}]
    assert a1["meta"]["scan"] == "train_1_a" and a2["meta"]["reconstruction"] == 2
    assert {k for k, x in a1["meta"]["ct_labels"].items() if x} == {"emphysema", "lung_nodule"}
    assert sum(a1["meta"]["ct_labels"].values()) == 2 and len(a1["meta"]["ct_labels"]) == 18
    assert {k for k, x in v["meta"]["ct_labels"].items() if x} == {"pleural_effusion"}
    first = convert_ct_rate(release / "dataset", reconstructions="first", target="findings-impression")
    assert first.skipped["another reconstruction of the scan (--reconstructions first)"] == 1
    assert sorted(r["id"] for r in first.records) == ["train_1_a_1", "train_2_a_1", "valid_1_a_1"]
    assert next(r for r in first.records if r["id"] == "train_2_a_1")["messages"][1]["content"] == \
        "Impression: No acute findings."


def test_loader_applies_the_csv_spacing_and_rescale(release):
    conv = convert_ct_rate(release)
    root = conv.image_root
    for rec in conv.records:
        entry = rec["images"][0]
        wrong = load_image(root / entry["path"])  # the header as shipped
        assert wrong.spacing == (1.0, 1.0, 1.0)
        img = load_image(root / entry["path"], spacing=entry["spacing"], rescale=entry["rescale"])
        seed = ["train_1_a_1", "train_1_a_2", "train_2_a_1", "valid_1_a_1"].index(rec["id"])
        assert img.spacing == TRUE_SPACING[rec["id"]]
        np.testing.assert_array_equal(img.array, hu_volume(seed).astype(np.float32))  # HU, header scl ignored
        assert np.allclose(np.linalg.norm(img.affine[:3, :3], axis=0), TRUE_SPACING[rec["id"]])
    a2 = next(r for r in conv.records if r["id"] == "train_1_a_2")["images"][0]
    assert load_image(root / a2["path"]).array[0, 0, 0] == 2.0 * (hu_volume(1)[0, 0, 0] + 1024) + 5.0  # header scl
    assert load_image(root / a2["path"], rescale=a2["rescale"]).meta["header_rescale"] == [2.0, 5.0]


def test_manifest_to_pipeline_in_hu_with_true_spacing(release, tmp_path, cli):
    """prepare -> validate-data -> ManifestDataset: the CT tensor is the HU volume resampled with the CSV spacing."""
    out = tmp_path / "ct.jsonl"
    assert cli("prepare", "ct-rate", release, "--out", out, "--split", "train").code == 0
    assert check_manifest(out).ok and cli("validate-data", out).code == 0
    recs = read_manifest(out)
    assert [r["id"] for r in recs] == ["train_1_a_1", "train_1_a_2"]
    cfg = TransformConfig()
    cfg.ct.spacing, cfg.ct.windows = [2.0, 1.0, 1.0], [[4000.0, 0.0]]  # one linear window: x = (HU + 2000) / 4000
    pipe = ImagePipeline("ct", {"spatial_size": (4, 3, 3), "channels": 1, "mean": None, "std": None}, cfg)
    x = ManifestDataset(recs[:1], image_root(out), {"ct": pipe})[0]["pixels"]["ct"][0]
    # true spacing (2, 0.5, 0.5) -> (2, 1, 1): 4 x 3 x 3, no padding; the header's 1 mm would give 2 x 6 x 6
    assert x.shape == (1, 4, 3, 3)
    right = write_nifti(hu_volume(0), TRUE_SPACING["train_1_a_1"], tmp_path / "right_header.nii.gz")
    assert torch.allclose(x, pipe.preprocess(str(right)), atol=1e-6)  # as if the header had been right
    hu = x * 4000 - 2000
    assert -1000 <= hu.min() and hu.max() <= -1000 + 300 + 50 + 5  # HU of the volume, no air padding (-1024)
    src = image_source(recs[1]["images"][0], image_root(out) / recs[1]["images"][0]["path"])
    assert src["rescale"] == {"slope": 1.0, "intercept": -1024.0} and src["spacing"] == [1.0, 0.5, 0.5]
