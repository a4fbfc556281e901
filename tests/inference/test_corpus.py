"""Hostile inputs to generate / evaluate / validate-data / validate / synth, built here: each ends in one line
``error: <file or key>: <problem>`` with exit status 2, before any model loads, and nothing is written."""

import errno
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from medmllm.inference.predictions import PredictionsFile, locked_folder

ROOT = Path(__file__).resolve().parents[2]


def gen(ck, *args):
    return ["generate", "--checkpoint", ck, *args]


def evaluate(ck, data, out, *args):
    return ["evaluate", "--checkpoint", ck, "--benchmark", "report", "--data", data, "--out", out, "--no-controls",
            *args]


# ---- the predictions file ----------------------------------------------------------------------------
def test_an_existing_file_that_is_not_a_predictions_file_is_refused_untouched(cli, cases, record, tiny_export,
                                                                                no_model_load, one_line, tmp_path):
    ck = tiny_export
    data = cases([record(1), record(2)])
    readme = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", readme)
    before = readme.read_bytes()
    one_line(cli(*gen(ck, "--data", data, "--out", readme)), f"{readme}: line 1: not a JSON object, so not a "
                                                              "predictions file; nothing was changed")
    assert readme.read_bytes() == before and len(before) > 1_000
    manifest_bytes = data.read_bytes()
    one_line(cli(*gen(ck, "--data", data, "--out", data)), "is the input manifest itself")
    assert data.read_bytes() == manifest_bytes
    one_line(cli(*gen(ck, "--data", data, "--out", tmp_path)), f"{tmp_path}: is a folder")
    other = cases([record(1, id="x1"), record(2, id="x2")], name="other.jsonl")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "x1", "prediction": "a", "reference": null}\n')
    one_line(cli(*gen(ck, "--data", data, "--out", pred)), "holds 1 id(s) that are not records of", "x1")
    assert other.is_file() and pred.read_text() == '{"id": "x1", "prediction": "a", "reference": null}\n'
    manifest_rows = tmp_path / "rows.jsonl"
    manifest_rows.write_bytes(manifest_bytes)  # a copy of the manifest: rows with ids but no predictions
    one_line(cli(*gen(ck, "--data", data, "--out", manifest_rows)), "line 1: not a prediction row (no 'prediction')")
    assert manifest_rows.read_bytes() == manifest_bytes


def test_a_second_writer_is_refused_while_the_first_holds_the_file(cli, cases, record, tiny_export,
                                                                   no_model_load, one_line, tmp_path):
    data = cases([record(1)])
    pred = tmp_path / "pred.jsonl"
    with PredictionsFile(pred, require=("prediction",)) as first:
        first.append([{"id": "r1", "prediction": "x", "reference": None}])
        one_line(cli(*gen(tiny_export, "--data", data, "--out", pred)),
                 "another medmllm run is writing this predictions file right now")
        out = tmp_path / "eval"
        with locked_folder(out):  # an evaluate run into the same folder
            r = cli(*evaluate(tiny_export, data, out))
        one_line(r, f"{out}: another medmllm run is writing into this folder")
    assert pred.read_text().count("\n") == 1  # the first writer's row, once


def test_resume_keeps_every_line_and_cuts_only_a_torn_last_line(cli, cases, record, tiny_export, tmp_path):
    data = cases([record(i) for i in range(1, 5)])
    pred = tmp_path / "pred.jsonl"
    kept = '{"id": "r1", "prediction": "a", "reference": "x"}\n\n{"id": "r2", "prediction": "b", "reference": "y"}\n'
    pred.write_text(kept + '{"id": "r3", "predic')  # a blank line in the middle, a torn last line
    r = cli(*gen(tiny_export, "--data", data, "--out", pred, "--max-new-tokens", "2", "--quiet"))
    assert r.code == 0, r
    assert "4 predictions (2 already there, 2 new)" in r.out
    text = pred.read_text()
    assert text.startswith(kept)
    assert [json.loads(x)["id"] for x in text.splitlines() if x.strip()] == ["r1", "r2", "r3", "r4"]
    run = json.loads((tmp_path / "pred.jsonl.run.json").read_text())
    assert run["generation"] == {"max_new_tokens": 2}
    r = cli(*gen(tiny_export, "--data", data, "--out", pred, "--max-new-tokens", "3", "--quiet"))
    assert r.code == 2 and "holds predictions of another run (generation was {'max_new_tokens': 2}" in r.err
    assert pred.read_text() == text


def test_a_complete_last_row_without_its_line_break_is_kept(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "prediction": "x"}\n{"id": "b", "prediction": "y"}')
    with PredictionsFile(p, require=("prediction",)) as pf:
        assert pf.done == {"a", "b"} and not pf.truncated
        pf.append([{"id": "c", "prediction": "z"}])
    assert [json.loads(x)["id"] for x in p.read_text().splitlines()] == ["a", "b", "c"]
    q = tmp_path / "notes.txt"
    q.write_text("no line break at all")  # not a torn row: refused, never cut
    with pytest.raises(Exception, match="not a JSON object"):
        PredictionsFile(q).open()
    assert q.read_text() == "no line break at all"
    assert not (tmp_path / "new.jsonl").exists()
    with PredictionsFile(tmp_path / "new.jsonl"):  # a run that wrote nothing leaves no file
        pass
    assert not (tmp_path / "new.jsonl").exists()


# ---- settings and exports ------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, needle", [
    (["--max-new-tokens", "-5"], "--max-new-tokens: must be between 1 and"),
    (["--temperature", "-1"], "--temperature: must be 0 (greedy) or positive, got -1.0"),
    (["--temperature", "nan"], "--temperature: must be a finite number"),
    (["--temperature", "0.7", "--top-p", "2"], "--top-p: must be in (0, 1], got 2.0"),
    (["--top-p", "0"], "--top-p: must be in (0, 1]"),
    (["--num-beams", "0"], "--num-beams: must be at least 1, got 0"),
    (["--repetition-penalty", "-1"], "--repetition-penalty: must be positive"),
    (["--batch-size", "0"], "--batch-size: must be at least 1"),
])
def test_bad_generation_settings(cli, cases, record, tiny_export, no_model_load, one_line, tmp_path, flags,
                                 needle):
    ck, data = tiny_export, cases([record(1)])
    one_line(cli(*gen(ck, "--xray", cases.image, *flags)), needle)
    one_line(cli(*gen(ck, "--data", data, "--out", tmp_path / "p.jsonl", *flags)), needle)
    if flags[0] not in ("--batch-size", "--repetition-penalty"):  # evaluate has no such flag
        one_line(cli(*evaluate(ck, data, tmp_path / "out", *flags)), needle)
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "out").exists()


def test_damaged_exports_are_refused_before_loading(cli, cases, export_copy, no_model_load, one_line, tmp_path):
    def as_stage(folder, doc):
        doc["stage"] = {"name": "report", "kind": "report", "index": 0, "steps": 3}

    incomplete = export_copy(as_stage, "incomplete")
    one_line(cli(*gen(incomplete, "--xray", cases.image)), f"{incomplete}: incomplete export: no COMPLETE marker")
    garbage = export_copy(name="garbage")
    header = garbage / "mm.safetensors"
    header.write_bytes(b"\xff" * 8 + header.read_bytes()[8:])
    one_line(cli(*gen(garbage, "--xray", cases.image)), f"{header}: unreadable safetensors file")
    llm = export_copy(name="garbage-llm")
    (llm / "llm" / "model.safetensors").write_bytes(b"{not a header at all")
    one_line(cli(*gen(llm, "--xray", cases.image)), "model.safetensors: unreadable safetensors file")
    one_line(cli(*evaluate(llm, cases([record_only()]), tmp_path / "o")), "unreadable safetensors file")
    temp = export_copy(name=".export.abcd.tmp")
    one_line(cli(*gen(temp, "--xray", cases.image)), "temporary folder of an interrupted save")


def record_only():
    return {"id": "e1", "split": "test", "task": "report", "images": [],
            "messages": [{"role": "user", "content": "Write the radiology report."},
                         {"role": "assistant", "content": "Findings: Clear."}]}


def test_a_huge_model_is_refused_by_its_estimate_with_the_number(cli, cases, record, export_copy, no_model_load,
                                                                 one_line, tmp_path):
    def huge(folder, doc):
        cfg = json.loads((folder / "llm" / "config.json").read_text())
        cfg.update(hidden_size=65536, intermediate_size=4 * 65536)
        (folder / "llm" / "config.json").write_text(json.dumps(cfg))

    big = export_copy(huge, "huge")
    line = one_line(cli(*gen(big, "--xray", cases.image)), f"{big}: the model declares about", "B parameters")
    billions = float(line.split("about ")[1].split(" B")[0].replace(",", ""))
    # two 65,536-wide MLP blocks (12 h^2 = 51.5 B each; attention keeps its 4 x 16 head width) + the connectors
    assert 100 < billions < 115
    one_line(cli(*evaluate(big, cases([record(1)]), tmp_path / "o")), "B parameters", "GiB of weights alone")
    assert not (tmp_path / "o").exists()
    cfg = ROOT / "configs" / "tiny.yaml"
    for command in ("validate", "train"):
        r = cli(command, "--config", cfg, "--model.llm.hidden_size=65536", f"--train.run_dir={tmp_path / 'run'}")
        one_line(r, "model: the model declares about", "B parameters", "hidden_size")
    assert not (tmp_path / "run").exists()


def test_the_estimate_counts_the_parameters_of_the_built_model(tiny_export):
    from safetensors import safe_open

    from medmllm.config import load_config, read_yaml
    from medmllm.models.estimate import estimate, export_estimate

    built = 0  # every parameter of the saved model, counted from the weight files' headers
    for f in tiny_export.rglob("*.safetensors"):
        with safe_open(str(f), framework="pt") as st:
            built += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())
    est = estimate(load_config(ROOT / "configs" / "tiny.yaml")["model"])
    # vocab_size is an upper bound: the BPE trained on a small corpus may hold fewer tokens
    assert not est.unknown and built <= est.total_params <= 1.03 * built, (est.params, built)
    exported = export_estimate(tiny_export, read_yaml(tiny_export / "medmllm.yaml"))
    assert exported.total_params == built  # from the export's own llm/config.json: exact


# ---- manifests and records -----------------------------------------------------------------------------
def test_bad_manifests(cli, cases, record, tiny_export, no_model_load, one_line, tmp_path):
    ck = tiny_export
    empty = cases([], name="empty.jsonl")
    one_line(cli(*gen(ck, "--data", empty, "--out", tmp_path / "p.jsonl")), f"{empty}: the manifest has no records")
    r = cli("validate-data", empty)
    assert r.code == 2 and "no records: the manifest is empty" in r.err
    dup = cases([record(1), record(2), record(1, image="img/b.png")], name="dup.jsonl")
    one_line(cli(*gen(ck, "--data", dup, "--out", tmp_path / "p.jsonl")), "1 record id(s) appear more than once: r1")
    deep = cases([record(1)], name="deep.jsonl")
    with open(deep, "a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    one_line(cli(*gen(ck, "--data", deep, "--out", tmp_path / "p.jsonl")), "line 2: JSON nested too deeply")
    one_line(cli(*evaluate(ck, deep, tmp_path / "out")), "line 2: JSON nested too deeply")
    r = cli("validate-data", deep)
    assert r.code == 2 and "line 2: record: JSON nested too deeply" in r.err
    bare = cases([record(1, reference=None), record(2, reference=None)], name="bare.jsonl")
    one_line(cli(*evaluate(ck, bare, tmp_path / "out")), "no report records in this manifest",
             "2 record(s) have no reference to score against: `medmllm generate --data` writes their reports")
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "out").exists()


def test_unreadable_images_are_listed_then_one_error(cli, cases, record, tiny_export, no_model_load, one_line,
                                                     tmp_path, caplog):
    huge = cases.root / "img" / "huge.dcm"
    with open(huge, "wb") as f:  # a sparse file over the 2 GiB image limit (no disk used)
        f.truncate(2 * 1024**3 + 1)
    data = cases([record(1, image="../../outside.png"), record(2, image="img/huge.dcm"),
                  record(3, image="img/missing.png")])
    pred = tmp_path / "p.jsonl"
    r = cli(*gen(tiny_export, "--data", data, "--out", pred))
    one_line(r, f"{data}: 3 of 3 records could not be generated", "nothing was written")
    lines = [rec.getMessage() for rec in caplog.records if rec.levelname == "ERROR"]  # stderr before the error line
    assert len(lines) == 3
    assert "record r1: images[0]: image path '../../outside.png' leaves the image root" in lines[0]
    assert "record r2: images[0]: 'img/huge.dcm' is 2.0 GiB, over the image size limit of 2.0 GiB" in lines[1]
    assert "record r3: images[0]: 'img/missing.png' not found" in lines[2]
    assert not pred.exists() and not (tmp_path / "p.jsonl.run.json").exists()
    one_line(cli(*evaluate(tiny_export, data, tmp_path / "out")), "3 record(s) with images that cannot be read")


def test_good_records_are_written_when_others_fail(cli, cases, record, tiny_export, one_line, tmp_path, caplog):
    broken = cases.root / "img" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    data = cases([record(1), record(2, image="img/broken.png")])
    pred = tmp_path / "p.jsonl"
    r = cli(*gen(tiny_export, "--data", data, "--out", pred, "--max-new-tokens", "2", "--quiet"))
    one_line(r, "1 of 2 records could not be generated", f"1 predictions are in {pred}", alone=False)
    assert any("record r2: " in m and "broken.png" in m for m in caplog.messages)
    assert [json.loads(x)["id"] for x in pred.read_text().splitlines()] == ["r1"]


@pytest.mark.slow  # the report scorers (pycocoevalcap, METEOR): ~15 s
def test_prompt_only_records_are_generated_and_scored_where_a_reference_exists(cli, cases, record, tiny_export,
                                                                               tmp_path):
    from medmllm.data.prompts import DEFAULT_PROMPTS
    from medmllm.inference.inputs import normalise_input

    bare = {**record(3, reference=None), "messages": []}  # not even a user turn: the default prompt
    data = cases([record(1), record(2, reference=None), bare])
    assert normalise_input(bare, cases.root)["messages"] == [
        {"role": "user", "content": "<xray>\n" + DEFAULT_PROMPTS["en"]["xray"]}]
    r = cli("validate-data", data)
    assert r.code == 0 and "prompt-only (no target, not for training): 2" in r.out
    r = cli("validate-data", data, "--training")
    assert r.code == 2 and "messages: no assistant turn to learn from" in r.err
    pred = tmp_path / "p.jsonl"
    r = cli(*gen(tiny_export, "--data", data, "--out", pred, "--max-new-tokens", "2", "--quiet"))
    assert r.code == 0, r
    rows = {x["id"]: x for x in map(json.loads, pred.read_text().splitlines())}
    assert set(rows) == {"r1", "r2", "r3"} and rows["r2"]["reference"] is None and rows["r1"]["reference"]
    r = cli(*evaluate(tiny_export, data, tmp_path / "out", "--max-new-tokens", "2", "--quiet"))
    assert r.code == 0, r
    assert json.loads((tmp_path / "out" / "results.json").read_text())["n"] == 1  # the record with a reference


def test_synth_on_a_full_disk_leaves_no_folder(cli, monkeypatch, one_line, tmp_path):
    from medmllm.data.synthetic import generator

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "synth"
    args = ["synth", "--out", out, "--cases", "2", "--xray-size", "32", "--ct-shape", "8,32,32", "--tasks", "report",
            "--workers", "1", "--quiet"]
    monkeypatch.setattr(generator, "write_manifest", full)
    one_line(cli(*args), f"{out}: no space left on device; nothing was written")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert cli(*args).code == 0
    before = (out / "manifest.jsonl").read_bytes()
    monkeypatch.setattr(generator, "write_manifest", full)
    one_line(cli(*args, "--overwrite", "--seed", "3"), "no space left on device")
    assert (out / "manifest.jsonl").read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["synth"]


def test_generate_series_chooses_one_of_two(cli, tiny_export, one_line, tmp_path):
    import numpy as np

    from medmllm.io.writers import write_ct_series

    vol = np.random.default_rng(0).normal(0, 300, (8, 32, 32)).astype("float32")
    write_ct_series(vol, (2.5, 0.7, 0.8), tmp_path / "ct" / "a", series_uid="1.2.3.1")
    write_ct_series(vol, (2.5, 0.7, 0.8), tmp_path / "ct" / "b", series_uid="1.2.3.2")
    ck = tiny_export
    last = one_line(cli(*gen(ck, "--ct", tmp_path / "ct", "--max-new-tokens", "2", "--quiet")), "holds 2 series",
                    alone=False)  # after the warning that this export records no data.transforms
    assert "generate --ct ... --series UID" in last
    r = cli(*gen(ck, "--ct", tmp_path / "ct", "--series", "1.2.3.2", "--max-new-tokens", "2", "--quiet"))
    assert r.code == 0, r
    one_line(cli(*gen(ck, "--xray", tmp_path / "nope.png")), "nope.png: --xray: file or folder not found")
