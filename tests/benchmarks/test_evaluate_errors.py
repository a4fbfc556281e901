"""`medmllm evaluate`'s one-line errors (before any model is loaded) and the run_checkpoint hook."""

import json

import pytest

from medmllm.data.schema import new_record, write_manifest
from medmllm.evaluation.benchmarks.base import Benchmark
from medmllm.evaluation.benchmarks.options import Option


def mme_manifest(path, n=2):
    recs = [new_record(id=f"mme-{i}", split="test", task="vqa", images=[{"modality": "xray", "path": f"{i}.jpg"}],
                       messages=[{"role": "user", "content": "<xray>\nIs it red? Please answer yes or no."}],
                       answer="Yes", meta={"benchmark": "mme", "subtask": "color", "image": f"{i}.jpg",
                                           "question": "Is it red? Please answer yes or no."}) for i in range(n)]
    write_manifest(path, recs)
    return path


def fake_export(folder):
    folder.mkdir()
    (folder / "medmllm.yaml").write_text("format: something-else\nmodel: {}\n")
    return folder


def one_line(r, *needles):
    assert r.code == 2, r
    assert r.err.startswith("error: ") and r.err.count("\n") == 1, r.err
    for n in needles:
        assert n in r.err, (n, r.err)


def test_one_line_errors(tmp_path, cli):
    data = mme_manifest(tmp_path / "mme.jsonl")
    ck = tmp_path / "no-such-export"
    base = ["evaluate", "--checkpoint", ck, "--data", data, "--out", tmp_path / "out"]
    one_line(cli(*base, "--benchmark", "mmmu"), "unknown benchmark 'mmmu'; valid:", "mme", "seed-bench", "scienceqa",
             "mllm-bench", "report", "clinical")
    one_line(cli(*base, "--benchmark", "mme"), f"{ck}: checkpoint folder not found")
    one_line(cli(*base[:2], fake_export(tmp_path / "exp"), *base[3:], "--benchmark", "mme"),
             "medmllm.yaml: not a medmllm export")
    one_line(cli(*base, "--benchmark", "seed-bench"),
             f"{data}: no seed-bench records in this manifest (it holds: mme 2)")
    one_line(cli(*base, "--benchmark", "mme", "--split", "val"), "no mme records of split 'val'")
    one_line(cli(*base, "--benchmark", "mme", "--method", "likelihood"), "--method does not apply to mme")
    one_line(cli(*base, "--benchmark", "report", "--judge", "http://x"), "--judge does not apply to report")
    one_line(cli(*base, "--benchmark", "mme", "--references", data), "--references applies to mllm-bench only")
    one_line(cli(*base, "--benchmark", "mme", "--batch-size", "0"), "batch size must be at least 1")
    one_line(cli(*base, "--benchmark", "mme", "--limit", "0"), "limit must be at least 1")
    one_line(cli(*base[:4], tmp_path / "missing.jsonl", *base[5:], "--benchmark", "mme"), "manifest not found")
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    one_line(cli(*base[:4], tmp_path / "bad.jsonl", *base[5:], "--benchmark", "mme"), "bad.jsonl: line 1:")
    both = [new_record(id=f"r-{lang}", task="report", split="test", report={"language": lang},
                       messages=[{"role": "user", "content": "Write the report."},
                                 {"role": "assistant", "content": "Findings: clear."}]) for lang in ("en", "zh")]
    write_manifest(tmp_path / "both.jsonl", both)
    one_line(cli(*base[:4], tmp_path / "both.jsonl", *base[5:], "--benchmark", "report"),
             "report records in several languages (en, zh): pick one with --lang")
    assert not (tmp_path / "out").exists()  # nothing written by a refused run


def test_out_dir_of_another_run_is_refused(tmp_path):
    from medmllm.errors import InputError
    from medmllm.evaluation.evaluate import check_run_identity

    out = tmp_path / "o"
    out.mkdir()
    check_run_identity(out, {"benchmark": "mme", "export": "abc", "generation": {"max_new_tokens": 16}})
    check_run_identity(out, {"benchmark": "mme", "export": "abc", "generation": {"max_new_tokens": 16}})  # same run
    with pytest.raises(InputError, match="export was 'abc', now 'def'"):
        check_run_identity(out, {"benchmark": "mme", "export": "def", "generation": {"max_new_tokens": 16}})
    (out / "run.json").write_text("{not json")
    with pytest.raises(InputError, match="run.json: unreadable"):
        check_run_identity(out, {"benchmark": "mme"})


LANG = Option("lang", "prompt language", choices=("en", "zh"))


class CheckpointScorer(Benchmark):
    """A benchmark that evaluates the checkpoint itself (like the encoder benchmark)."""

    name = "probe"
    evaluates_checkpoint = True
    options = (LANG,)
    calls = []

    def run_checkpoint(self, checkpoint, data, out_dir, *, limit=None, split=None, seed=0, lang=None, **settings):
        self.calls.append((str(checkpoint), str(data), out_dir.name, limit, split, seed, lang))
        results = {"benchmark": "probe", "n": 3, "accuracy": 0.5}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "results.json").write_text(json.dumps(results))
        return results


class AnyOptions(Benchmark):
    """A hook benchmark that records every keyword it is given."""

    name = "probe2"
    evaluates_checkpoint = True
    options = (LANG,)
    calls = []

    def run_checkpoint(self, checkpoint, data, out_dir, **options):
        self.calls.append(options)
        return {"benchmark": "probe2", "n": 1}


def test_run_checkpoint_hook_replaces_the_runner(tmp_path, cli, monkeypatch):
    from medmllm.registry import BENCHMARKS

    BENCHMARKS.names()  # load the real entries first
    monkeypatch.setitem(BENCHMARKS._entries, "probe", CheckpointScorer)
    ck = tmp_path / "encoder.safetensors"
    ck.write_bytes(b"x")
    data = tmp_path / "cases.jsonl"
    data.write_text("")
    r = cli("evaluate", "--checkpoint", ck, "--benchmark", "probe", "--data", data, "--out", tmp_path / "p",
            "--limit", "5", "--split", "test", "--seed", "3", "--lang", "zh", "--quiet")
    assert r.code == 0, r
    # the declared option reaches run_checkpoint with the settings
    assert CheckpointScorer.calls == [(str(ck), str(data), "p", 5, "test", 3, "zh")]
    assert "wrote" in r.out and "n = 3" in r.out
    one_line(cli("evaluate", "--checkpoint", tmp_path / "nope", "--benchmark", "probe", "--data", data,
                 "--out", tmp_path / "q"), "nope: checkpoint not found")
    one_line(cli("evaluate", "--checkpoint", ck, "--benchmark", "probe", "--data", data, "--out", tmp_path / "q",
                 "--method", "likelihood"), "--method does not apply to probe")
    # declared options go to run_checkpoint; settings left at None are not passed
    monkeypatch.setitem(BENCHMARKS._entries, "probe2", AnyOptions)
    r = cli("evaluate", "--checkpoint", ck, "--benchmark", "probe2", "--data", data, "--out", tmp_path / "p2",
            "--lang", "zh", "--no-controls", "--model", "enc-v1", "--quiet")
    assert r.code == 0, r
    assert AnyOptions.calls == [{"batch_size": 8, "seed": 0, "progress": False, "model": "enc-v1", "controls": [],
                                 "lang": "zh"}]
