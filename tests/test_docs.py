"""The documentation's commands: every `medmllm ...` line in README.md and docs/ parses (scripts/docs_check.py)."""

from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def _docs_check():
    return load_script("scripts/docs_check.py")


def test_every_documented_command_parses():
    dc = _docs_check()
    problems = [(f.relative_to(ROOT), no, argv, msg) for f in dc.doc_files() for no, argv in dc.documented_commands(f)
                if (msg := dc.check_argv(argv))]
    assert not problems, "\n".join(f"{f}:{no}: medmllm {' '.join(a)}: {m}" for f, no, a, m in problems)


def test_the_checker_catches_a_bad_flag(tmp_path):
    dc = _docs_check()
    page = tmp_path / "page.md"
    page.write_text("```bash\nmedmllm inspect a.dcm --jsn\nmedmllm train --config c.yaml \\\n  --train.max_steps=3\n"
                    "python -m medmllm no-such-command\n```\n\n```text\nmedmllm ignored --nope\n```\n")
    found = dc.documented_commands(page)
    assert [no for no, _ in found] == [2, 3, 5]
    msgs = [dc.check_argv(argv) for _, argv in found]
    assert "unrecognized arguments: --jsn" in msgs[0] and msgs[1] is None and "invalid choice" in msgs[2]


def _blocks(page):
    """The ``bash`` blocks of a tutorial page, in order."""
    out, cur, inside = [], [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            if inside:
                out.append("\n".join(cur))
                cur, inside = [], False
            elif line.strip() == "```bash":
                inside = True
            continue
        if inside:
            cur.append(line)
    return out


TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_written(page, tmp_path):
    """Every bash block of the tutorial, in order, in one shell, in an empty folder."""
    import os
    import subprocess
    import sys

    script = "set -euo pipefail\n" + "\n".join(_blocks(page))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               MEDMLLM_CACHE=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")
    env.pop("MEDMLLM_PLUGINS", None)
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1100)
    assert r.returncode == 0, f"{page.name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    for rel in EXPECTED.get(page.stem, ()):
        assert (tmp_path / rel).exists(), f"{page.name}: {rel} was not made"
    if page.stem == "train-on-your-data":
        import json

        res = json.loads((tmp_path / "eval" / "results.json").read_text())
        assert res["n"] > 0 and set(res["controls"]) == {"shuffled_images", "constant_normal"}
        assert "converted 24, skipped 0" in r.stdout
    if page.stem == "run-the-app":
        assert int(r.stdout.strip().splitlines()[-1]) > 0  # the page is Gradio's
    if page.stem == "add-an-encoder":
        assert r.stdout.splitlines()[0].strip() == "1"  # `medmllm info` lists the plugin's encoder
        assert "name: tiny_cnn" in (tmp_path / "runs" / "cnn" / "export" / "medmllm.yaml").read_text()


EXPECTED = {"train-on-your-data": ("cases.jsonl", "resolved.yaml", "runs/mine/export/COMPLETE", "predictions.jsonl",
                                   "eval/results.json"),
            "add-an-encoder": ("runs/cnn/export/COMPLETE",),
            "evaluate-and-compare": ("eval-s2/results.json", "eval-s8/results.md", "eval-mme/results.json",
                                     "compare.json"),
            "run-the-app": ("page.html",)}
