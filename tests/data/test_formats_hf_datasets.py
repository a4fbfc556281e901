"""hf-datasets: save_to_disk folders and parquet files, image bytes or paths, columns chosen by --columns."""

import io
import sys
from collections import Counter

import numpy as np
import pytest

from medmllm.data.formats.hf_datasets import convert_hf_datasets, parse_columns
from medmllm.data.schema import check_manifest, read_manifest
from medmllm.errors import InputError, MissingDependencyError
from medmllm.io import load_image
from medmllm.io.writers import write_png

datasets = pytest.importorskip("datasets", reason="the optional extra medmllm[datasets]")


def png_bytes(value):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((6, 5), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A DatasetDict (train / validation / test) with an Image feature holding PNG bytes."""
    root = tmp_path_factory.mktemp("hf")
    feats = datasets.Features({"image": datasets.Image(), "findings": datasets.Value("string"),
                               "impression": datasets.Value("string"), "patient_id": datasets.Value("string"),
                               "uid": datasets.Value("string")})

    def part(rows):
        return datasets.Dataset.from_dict({k: [r[i] for r in rows] for i, k in enumerate(feats)}, features=feats)

    dd = datasets.DatasetDict({
        "train": part([({"bytes": png_bytes(10), "path": None}, "Clear lungs.", "Normal.", "pt1", "a"),
                       ({"bytes": png_bytes(10), "path": None}, "Same image again.", "", "pt1", "b"),
                       ({"bytes": b"not an image", "path": None}, "Bad bytes.", "", "pt2", "c")]),
        "validation": part([({"bytes": png_bytes(200), "path": None}, "", "", "pt3", "d")]),
        "test": part([({"bytes": png_bytes(90), "path": None}, "", "Effusion.", "pt4", "e")])})
    dd.save_to_disk(str(root / "dd"))
    return root


def test_save_to_disk_with_image_bytes(saved, tmp_path):
    cols = "findings=findings,impression=impression,patient=patient_id,id=uid"
    conv = convert_hf_datasets(saved / "dd", images=tmp_path / "img", columns=cols)
    assert conv.converted == 3 and conv.skipped == Counter({
        "image bytes are not PNG, JPEG, TIFF or DICOM": 1, "no findings or impression": 1})
    by = {r["id"]: r for r in conv.records}
    assert by["a"]["split"] == "train" and by["e"]["split"] == "test" and by["a"]["patient_id"] == "pt1"
    assert by["a"]["images"] == by["b"]["images"]  # the same bytes are written once, named by their hash
    assert len(list((tmp_path / "img").rglob("*.png"))) == 2
    assert load_image(tmp_path / "img" / by["a"]["images"][0]["path"]).array.shape == (6, 5)
    assert by["a"]["messages"] == [{"role": "user", "content": "<xray>\nWrite the radiology report."},
                                   {"role": "assistant", "content": "Findings: Clear lungs.\nImpression: Normal."}]
    assert by["e"]["messages"][1]["content"] == "Impression: Effusion."
    only = convert_hf_datasets(saved / "dd", images=tmp_path / "img", columns=cols, split="test")
    assert only.converted == 1 and only.skipped["in split train (--split test)"] == 3
    with pytest.raises(InputError, match="--images DIR"):
        convert_hf_datasets(saved / "dd", columns=cols)


def test_parquet_with_paths_and_questions(tmp_path, cli):
    src = tmp_path / "pq"
    for split, n in (("train", 3), ("test", 2)):
        t = datasets.Dataset.from_dict({"file": [f"img/{split}{i}.png" for i in range(n)],
                                        "question": [f"Is there an effusion? ({i})" for i in range(n)],
                                        "answer": ["Yes" if i % 2 else "No" for i in range(n)]})
        t.to_parquet(str(src / "data" / f"{split}-00000-of-00001.parquet"))
        for i in range(n):
            write_png(np.full((4, 4), 0.5), src / "img" / f"{split}{i}.png")
    (src / "img" / "test1.png").unlink()
    out = tmp_path / "m.jsonl"
    r = cli("prepare", "hf-datasets", src, "--out", out, "--images", src,
            "--columns", "image=file,prompt=question,report=answer")
    assert r.code == 0, r
    assert r.out.splitlines()[:2] == ["converted 4, skipped 1", "  skipped 1: image file not found (e.g. test-1)"]
    recs = read_manifest(out)
    assert Counter(x["split"] for x in recs) == Counter({"train": 3, "test": 1})
    by = {x["id"]: x for x in recs}
    assert by["train-1"]["task"] == "vqa" and by["train-1"]["messages"] == [
        {"role": "user", "content": "<xray>\nIs there an effusion? (1)"}, {"role": "assistant", "content": "Yes"}]
    assert check_manifest(out).ok
    r = cli("prepare", "hf-datasets", src, "--out", out, "--columns", "image=nope")
    assert r.code == 2 and "no column(s) nope" in r.err


def test_columns_flag_and_missing_package(monkeypatch, tmp_path, cli):
    assert parse_columns("image=img, report=text") == {"image": "img", "report": "text"}
    assert parse_columns("findings=f") == {"image": "image", "findings": "f"}
    with pytest.raises(InputError, match="KEY=COLUMN"):
        parse_columns("picture=img")
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if the extra were not installed
    with pytest.raises(MissingDependencyError, match=r"medmllm\[datasets\]"):
        convert_hf_datasets(tmp_path)
    r = cli("prepare", "hf-datasets", tmp_path, "--out", tmp_path / "m.jsonl")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "pip install 'medmllm[datasets]'" in r.err
