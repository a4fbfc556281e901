"""Image-entry load overrides (spacing, rescale): validated by validate-data, part of the cache keys, carried by
inference inputs."""

import json

import numpy as np

from medmllm.data.cache import TensorCache, source_key
from medmllm.data.schema import image_source, new_record, validate_record, write_manifest
from medmllm.inference import build_messages, normalise_input
from medmllm.io.writers import write_nifti

MSGS = [{"role": "user", "content": "<ct>\nWrite the radiology report."}, {"role": "assistant", "content": "x"}]


def ct_record(**entry):
    return new_record(id="c", split="train", task="report", messages=MSGS,
                      images=[{"modality": "ct", "path": "v.nii.gz", "format": "nifti", **entry}])


def test_validate_record_checks_overrides():
    assert validate_record(ct_record(spacing=[1.5, 0.75, 0.75], rescale={"slope": 1, "intercept": -1024})) == []
    assert validate_record(ct_record(spacing=[1.5, 0.75])) == [
        "images[0].spacing: expected 3 positive numbers (mm) for a ct image, got [1.5, 0.75]"]
    assert validate_record(ct_record(spacing=[1.5, 0, 1]))[0].startswith("images[0].spacing: expected 3 positive")
    assert validate_record(ct_record(rescale={"slope": 0, "intercept": 1}))[0].startswith("images[0].rescale: expected")
    assert validate_record(ct_record(rescale=[1, -1024]))[0].startswith("images[0].rescale: expected")
    xray = new_record(id="x", split="train", task="report", messages=[{"role": "user", "content": "<xray>\nq"},
                                                                          {"role": "assistant", "content": "a"}],
                      images=[{"modality": "xray", "path": "x.png", "rescale": {"slope": 1, "intercept": 0}}])
    assert validate_record(xray) == ["images[0].rescale: only for ct volumes (NIfTI / NRRD)"]


def test_validate_data_cli_names_line_and_field(tmp_path, cli):
    write_nifti(np.zeros((2, 4, 4)), (1, 1, 1), tmp_path / "v.nii.gz")
    write_manifest(tmp_path / "m.jsonl", [ct_record(spacing=[1.5, 0.75, 0.75]), dict(ct_record(spacing=[-1, 1, 1]),
                                                                                      id="d")])
    r = cli("validate-data", tmp_path / "m.jsonl")
    assert r.code == 2 and "line 2: images[0].spacing: expected 3 positive numbers" in r.out + r.err


def test_source_and_cache_keys(tmp_path):
    p = write_nifti(np.zeros((2, 4, 4)), (1, 1, 1), tmp_path / "v.nii.gz")
    plain = {"modality": "ct", "path": "v.nii.gz"}
    over = dict(plain, spacing=[2.0, 0.5, 0.5], rescale={"slope": 1.0, "intercept": -1024.0})
    assert image_source(plain, p) == str(p)
    assert image_source(over, p) == {"path": str(p), "spacing": [2.0, 0.5, 0.5],
                                     "rescale": {"slope": 1.0, "intercept": -1024.0}}
    assert source_key(image_source(over, p)) == (str(p), None, (2.0, 0.5, 0.5), (1.0, -1024.0))
    cache = TensorCache(tmp_path / "cache")
    k_plain = cache.key(str(p), "cfg")[0]
    assert k_plain == cache.key({"path": str(p), "series": None}, "cfg")[0]  # entries without overrides: same key
    k_over = cache.key(image_source(over, p), "cfg")[0]
    other = dict(over, spacing=[2.0, 0.6, 0.6])
    assert len({k_plain, k_over, cache.key(image_source(other, p), "cfg")[0]}) == 3


def test_inference_inputs_carry_overrides(tmp_path):
    rec = ct_record(spacing=[2.0, 0.5, 0.5], rescale={"slope": 1.0, "intercept": -1024.0})
    s = normalise_input(json.loads(json.dumps(rec)), tmp_path)
    assert s["images"]["ct"] == [{"path": str(tmp_path / "v.nii.gz"), "spacing": [2.0, 0.5, 0.5],
                                  "rescale": {"slope": 1.0, "intercept": -1024.0}}]
    assert build_messages({"xray": 2}, context="Cough.") == [
        {"role": "user", "content": "<xray>\n<xray>\nClinical information:\nCough.\n\n"
                                    "Write the radiology report for this chest radiograph."}]
