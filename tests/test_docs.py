"""The documentation's commands: every `medmllm ...` line in README.md and docs/ parses (scripts/docs_check.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _docs_check():
    spec = importlib.util.spec_from_file_location("docs_check", ROOT / "scripts" / "docs_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
