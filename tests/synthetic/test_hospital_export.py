"""`medmllm synth --layout hospital`: a hospital-export folder that `prepare p2med-dir` converts losslessly."""

import json

from medmllm.data.synthetic import SynthConfig, render_case

SMALL = ["--xray-size", "64", "--ct-shape", "8,32,32"]


def test_hospital_export_round_trips_through_p2med_dir(tmp_path, cli):
    out = tmp_path / "export"
    r = cli("synth", "--out", out, "--cases", "5", "--seed", "3", "--lang", "en", "--layout", "hospital", *SMALL)
    assert r.code == 0, r
    assert sorted(p.name for p in out.iterdir()) == [f"case_{i:06d}" for i in range(5)] + ["export.json"]
    case = out / "case_000002"
    assert sorted(p.name for p in case.iterdir()) == ["ct", "record.json", "report.txt", "xray"]
    assert len(list((case / "ct").glob("*.dcm"))) == 8
    r = cli("prepare", "p2med-dir", out, "--out", tmp_path / "cases.jsonl")
    assert r.code == 0 and "converted 5, skipped 0" in r.out, r
    recs = [json.loads(line) for line in (tmp_path / "cases.jsonl").read_text().splitlines()]
    cfg = SynthConfig(xray_size=(64, 64), ct_shape=(8, 32, 32), langs=("en",))
    for i, rec in enumerate(recs):
        truth = render_case(3, i, cfg)
        assert rec["labels"] == truth.labels
        assert rec["report"]["findings"] == truth.reports["en"]["both"]["findings"]
        assert rec["report"]["impression"] == truth.reports["en"]["both"]["impression"]
        assert rec["patient"]["age_months"] == truth.patient["age_months"]
        assert [im["modality"] for im in rec["images"]] == ["xray", "ct"]
    r = cli("validate-data", tmp_path / "cases.jsonl")
    assert r.code == 0 and "valid" in r.out


def test_hospital_export_refuses_what_it_did_not_write(tmp_path, cli):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    r = cli("synth", "--out", tmp_path / "mine", "--cases", "2", "--lang", "en", "--layout", "hospital", *SMALL)
    assert r.code == 2 and "not an earlier synthetic hospital export" in r.err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    r = cli("synth", "--out", tmp_path / "x", "--cases", "2", "--layout", "hospital", *SMALL)
    assert r.code == 2 and "one language" in r.err
