"""validate-data on a good and a bad manifest: every problem with its line number and field."""

import json

from medmllm.data.schema import check_manifest, new_record, write_manifest


def rec(i, **kw):
    base = dict(id=f"r{i}", patient_id=f"p{i}", split="train", task="report",
                images=[{"modality": "xray", "path": "img/a.png"}],
                messages=[{"role": "user", "content": "<xray>\nWrite the radiology report."},
                          {"role": "assistant", "content": "Findings: clear."}])
    base.update(kw)
    return new_record(**base)


def test_good_manifest(tmp_path, cli):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"x")
    write_manifest(tmp_path / "m.jsonl", [rec(1), rec(2, split="val")])
    r = cli("validate-data", tmp_path / "m.jsonl")
    assert r.code == 0, r
    assert r.out.splitlines() == ["2 record(s); splits: train 1, val 1; tasks: report 2; images: xray 2",
                                  f"{tmp_path / 'm.jsonl'}: valid"]


def test_bad_manifest_lists_every_problem(tmp_path, cli):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"x")
    lines = [
        json.dumps(rec(1)),
        "{not json",
        json.dumps(rec(3, split="training")),
        json.dumps(rec(4, images=[{"modality": "xray", "path": "../outside.png"}])),
        json.dumps(rec(5, images=[{"modality": "xray", "path": "img/missing.png"}])),
        json.dumps(rec(6, images=[])),
        json.dumps(rec(1, patient_id="p7")),
        json.dumps(rec(8, patient_id="p1", split="test")),
        json.dumps({k: v for k, v in rec(9).items() if k != "messages"}),
        json.dumps(rec(10, labels={"nodule": 2})),
    ]
    m = tmp_path / "bad.jsonl"
    m.write_text("\n".join(lines) + "\n")
    res = check_manifest(m)
    assert res.records == 10
    assert res.problems == [
        "line 2: record: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        "line 3: split: 'training' is not one of train, val, test",
        "line 4: images[0].path: image path '../outside.png' leaves the image root",
        f"line 5: images[0].path: 'img/missing.png' not found under {tmp_path}",
        "line 6: messages: 1 <xray> placeholder(s) but 0 xray image(s)",
        "line 7: id: 'r1' already used on line 1",
        "line 9: messages: missing",
        "line 10: labels.nodule: expected 1, 0, -1 or null, got 2",
        "line 8: patient_id: patient 'p1' is in more than one split: train (line 1), test (line 8)",
    ]
    r = cli("validate-data", m)
    assert r.code == 2
    err = r.err.splitlines()
    assert err[0] == f"{m}: line 2: record: invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    assert err[-1] == f"error: {m}: 9 problem(s) in 10 record(s)"
    assert check_manifest(m, check_files=False).problems[3] == "line 6: messages: 1 <xray> placeholder(s) but 0 xray image(s)"


def test_sidecar_root_and_missing_manifest(tmp_path, cli):
    root = tmp_path / "images"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(b"x")
    write_manifest(tmp_path / "out" / "m.jsonl", [rec(1)], image_root="../images")
    assert cli("validate-data", tmp_path / "out" / "m.jsonl").code == 0
    r = cli("validate-data", tmp_path / "nope.jsonl")
    assert r.code == 2 and r.err.strip() == f"error: {tmp_path / 'nope.jsonl'}: manifest not found"
