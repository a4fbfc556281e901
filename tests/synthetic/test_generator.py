"""medmllm synth: files on disk, the manifest, determinism, loading through medmllm.io, the CLI."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from medmllm.data.schema import read_manifest, resolve_image_path
from medmllm.data.synthetic import SynthConfig, generate, render_case
from medmllm.io import load_image

SMALL = SynthConfig(xray_size=(64, 64), ct_shape=(8, 32, 32), xray_depth=16, png_share=0.5, mono1_share=0.3,
                    nifti_share=0.4)


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "a"
    summary = generate(out, 8, seed=5, config=SMALL, progress=False)
    return out, summary


def test_same_seed_same_bytes_whatever_the_worker_count(written, tmp_path):
    out, _ = written
    again = tmp_path / "b"
    generate(again, 8, seed=5, config=SMALL, workers=2, progress=False)
    a, b = tree_digest(out), tree_digest(again)
    assert a == b
    assert any(k.endswith(".dcm") for k in a) and any(k.endswith(".nii.gz") for k in a) and "manifest.jsonl" in a
    other = tmp_path / "c"
    generate(other, 8, seed=6, config=SMALL, progress=False)
    assert tree_digest(other)["manifest.jsonl"] != a["manifest.jsonl"]


def test_every_image_loads_through_medmllm_io_and_matches_the_render(written):
    out, summary = written
    records = read_manifest(out / "manifest.jsonl")  # validates every record
    assert summary["records"] == len(records) and summary["cases"] == 8
    formats, checked = set(), set()
    for rec in records:
        for im in rec["images"]:
            if im["path"] in checked:
                continue
            checked.add(im["path"])
            img = load_image(resolve_image_path(out, im["path"]))
            case = render_case(5, int(rec["meta"]["case"].split("-")[1]), SMALL)
            formats.add((im["modality"], img.source_format))
            if im["modality"] == "xray":
                assert img.kind == "xray" and img.array.shape == (64, 64)
                tol = 0.5 / 255 + 1e-6 if img.source_format == "png" else 0.5 / 4095 + 1e-6
                assert np.abs(img.array - case.xray).max() <= tol  # bone bright whatever the photometry
            else:
                assert img.kind == "ct" and img.array.shape == (8, 32, 32)
                assert np.array_equal(img.array, case.ct)
                assert np.allclose(img.spacing, case.ct_spacing, rtol=1e-4)
                # voxel (0, 0, 0) sits at the patient's right, front, bottom: negative LPS x, y, z
                assert (img.affine[:3, 3] < 0).all()
    assert {("xray", "dicom"), ("xray", "png"), ("ct", "dicom-series"), ("ct", "nifti")} <= formats
    import pydicom

    photometric = {pydicom.dcmread(p, stop_before_pixels=True).PhotometricInterpretation
                   for p in out.glob("cases/*/cxr.dcm")}
    assert photometric == {"MONOCHROME1", "MONOCHROME2"}


def test_manifest_patients_splits_and_case_truth(written):
    out, summary = written
    records = read_manifest(out / "manifest.jsonl")
    by_patient = {}
    for rec in records:
        by_patient.setdefault(rec["patient_id"], set()).add(rec["split"])
        assert rec["id"].startswith(rec["meta"]["case"] + "-" + rec["meta"]["lang"])
    assert len(by_patient) == 8 and all(len(s) == 1 for s in by_patient.values())
    truth = json.loads((out / "cases" / "000003" / "case.json").read_text(encoding="utf-8"))
    rec = next(r for r in records if r["meta"]["case"] == "case-000003")
    assert truth["labels"] == rec["labels"] and truth["patient"] == rec["patient"]
    assert sum(summary["splits"].values()) == 8
    assert json.loads((out / "synth.json").read_text())["seed"] == 5


def test_existing_folders_are_protected(tmp_path, written):
    out, _ = written
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    from medmllm.errors import InputError

    with pytest.raises(InputError, match="not empty"):
        generate(foreign, 2, config=SMALL, progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="--overwrite"):
        generate(out, 2, seed=5, config=SMALL, progress=False)


def test_cli_writes_cases_and_preview(cli, tmp_path):
    out = tmp_path / "cli"
    r = cli("synth", "--out", out, "--cases", 3, "--seed", 1, "--lang", "zh", "--xray-size", 64,
            "--ct-shape", "8,32,32", "--tasks", "report", "--preview", tmp_path / "p.png", "--preview-cases", 2,
            "--workers", 1)
    assert r.code == 0, r
    records = read_manifest(out / "manifest.jsonl")
    assert len(records) == 3 * 6 and {rec["meta"]["lang"] for rec in records} == {"zh"}
    assert records[0]["messages"][1]["content"].startswith("所见：")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("synth", "--out", out, "--cases", 3, "--ct-shape", "8,32")
    assert r.code == 2 and "ct-shape" in r.err and r.err.count("\n") == 1
    r = cli("synth", "--out", out, "--cases", 3)
    assert r.code == 2 and "--overwrite" in r.err
    r = cli("synth", "--cases", 3)
    assert r.code == 2 and "--out" in r.err
