"""The "add a benchmark" tutorial of docs/benchmarks.md, run as it is written: its files become a
benchmark package, its registry lines are added to the registries, its test, commands and Python run.

``evaluate()`` runs the new benchmark with its declared option and answer length without knowing
its name."""

import importlib
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

import medmllm.evaluation.benchmarks as benchmarks_pkg
from medmllm.errors import InputError
from medmllm.registry import BENCHMARKS, FORMATS

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
PACKAGE = "medmllm.evaluation.benchmarks.nodule_count"


def tutorial_blocks():
    """``(language, code)`` of each fenced block of the tutorial section."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Add a benchmark"):]
    section = section[:section.index("\n## ", 3)]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def block(lang, first_line):
    found = [code for lg, code in tutorial_blocks() if lg == lang and code.startswith(first_line)]
    assert len(found) == 1, (lang, first_line)
    return found[0]


@pytest.fixture
def nodule_count(tmp_path, monkeypatch):
    """The tutorial's package installed under medmllm.evaluation.benchmarks and listed in the registries;
    its release written to ``tmp_path/nodules``; the current folder is ``tmp_path``. Undone afterwards."""
    from PIL import Image

    pkg = tmp_path / "src" / "nodule_count"
    pkg.mkdir(parents=True)
    folder = PACKAGE.replace(".", "/")
    files = [code for lg, code in tutorial_blocks() if lg == "python" and code.startswith(f"# {folder}/")]
    assert len(files) == 3
    for code in files:
        (pkg / code.splitlines()[0].rsplit("/", 1)[1]).write_text(code, encoding="utf-8")
    monkeypatch.setattr(benchmarks_pkg, "__path__", [*benchmarks_pkg.__path__, str(pkg.parent)])
    registry = block("python", "FORMATS = Registry(")
    for reg, line in zip((FORMATS, BENCHMARKS), registry.splitlines()):
        (module,) = re.findall(r'"(medmllm\.[\w.]+)"', line)
        reg.names()  # the real entries first
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))
        monkeypatch.setattr(reg, "_modules", (*reg._modules, module))
        monkeypatch.setattr(reg, "_loaded", False)
    release = tmp_path / "nodules"
    questions = json.loads(block("json", "[{\"id\": 1"))
    for q in questions:
        (release / q["image"]).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (40 * q["count"], 0, 0)).save(release / q["image"])
    (release / "questions.json").write_text(json.dumps(questions))
    monkeypatch.chdir(tmp_path)
    yield questions
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def commands(code):
    """The shell commands of a bash block, without the leading ``medmllm``."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "medmllm", line
            out.append(words[1:])
    return out


def fake_export(folder):
    folder.mkdir(parents=True)
    (folder / "medmllm.yaml").write_text("format: medmllm-export\nmodel: {}\n")
    return folder


def test_evaluate_runs_a_new_benchmark_with_its_option(nodule_count, cli, monkeypatch, fake_predictor, jsonl):
    from medmllm.evaluation.evaluate import evaluate
    from medmllm.inference import Predictor

    loads = []
    answers = {"nodule-count-1": "There are 2 nodules.", "nodule-count-2": "1", "nodule-count-3": "none"}

    def load(cls, checkpoint, **kwargs):
        loads.append(kwargs)
        return fake_predictor(answers=answers)

    monkeypatch.setattr(Predictor, "load", classmethod(load))
    assert "nodule-count" in BENCHMARKS and "nodule-count" in FORMATS
    assert cli("prepare", "nodule-count", "nodules", "--out", "nodules.jsonl").code == 0
    export = fake_export(Path("export"))
    # counts 2, 0, 1: answer 2 right; 1 off by one; "none" unparsed
    exact = evaluate(export, "nodule-count", "nodules.jsonl", "out")
    assert (exact["accuracy"], exact["tolerance"], exact["unparsed"], exact["n"]) == (pytest.approx(100 / 3), 0, 1, 3)
    assert loads[-1]["max_new_tokens"] == 8  # the benchmark's declared answer length
    assert json.loads(Path("out/run.json").read_text())["generation"] == {"max_new_tokens": 8}
    loose = evaluate(export, "nodule-count", "nodules.jsonl", "out", options={"tolerance": 1})
    assert (loose["accuracy"], loose["tolerance"], loose["resumed"], loose["predicted"]) == (
        pytest.approx(200 / 3), 1, 3, 0)  # the same answers, rescored
    assert [r["parsed"] for r in jsonl.read(Path("out/results.samples.jsonl"))] == [2, 1, None]
    r = cli("evaluate", "--checkpoint", export, "--benchmark", "nodule-count", "--data", "nodules.jsonl",
            "--out", "short", "--max-new-tokens", "3", "--quiet")
    assert r.code == 0, r
    assert loads[-1]["max_new_tokens"] == 3 and "| 33.33 | 0 | 1 |" in Path("short/results.md").read_text()
    with pytest.raises(InputError, match="--tolerance: 'two' is not a valid int"):
        evaluate(export, "nodule-count", "nodules.jsonl", "out", options={"tolerance": "two"})
    r = cli("evaluate", "--checkpoint", export, "--benchmark", "nodule-count", "--data", "nodules.jsonl",
            "--out", "x", "--method", "generation")
    assert r.code == 2 and r.err == "error: --method does not apply to nodule-count\n"


@pytest.mark.slow
def test_tutorial_runs_as_written(nodule_count, cli, tiny_exports, capsys):
    untrained, _ = tiny_exports
    shutil.copytree(untrained, "runs/quickstart/export")
    test_code = block("python", "# tests/benchmarks/test_nodule_count.py")
    scope = {}
    exec(compile(test_code, "test_nodule_count.py", "exec"), scope)
    tests = [f for name, f in scope.items() if name.startswith("test_")]
    assert tests
    for t in tests:
        t()
    for args in commands(block("bash", "medmllm prepare nodule-count")):
        r = cli(*args)
        assert r.code == 0, (args, r)
    results = json.loads(Path("results/nodules/results.json").read_text())
    rescored = json.loads(Path("results/nodules-rescored.json").read_text())
    assert results["benchmark"] == rescored["benchmark"] == "nodule-count" and results["n"] == 3
    assert rescored["accuracy"] == results["accuracy"] and results["tolerance"] == 0
    assert json.loads(Path("results/nodules/run.json").read_text())["generation"] == {"max_new_tokens": 8}
    capsys.readouterr()
    exec(compile(block("python", "from medmllm.evaluation.evaluate import evaluate"), "tutorial.py", "exec"), {})
    accuracy, tolerance, resumed = capsys.readouterr().out.split()
    assert (tolerance, resumed) == ("1", "3") and float(accuracy) >= results["accuracy"]
    assert importlib.import_module(f"{PACKAGE}.score").NoduleCount.max_new_tokens == 8
