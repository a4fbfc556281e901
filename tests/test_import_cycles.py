"""Import cycles (scripts/import_cycles.py over the whole medmllm package): none between modules, none between packages."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "import_cycles.py"
UNTANGLED = ["medmllm.training", "medmllm.models", "medmllm.pretraining"]


def cycles(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_no_cycle_touches_the_untangled_packages():
    r = cycles("medmllm", "--only", *UNTANGLED)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 cycle(s) touching " in r.stdout


def test_no_import_cycle_anywhere_in_medmllm():
    """Module level (function-level imports included) and package level (medmllm.data <-> medmllm.models ...)."""
    for args in ((), ("--depth", "2")):
        r = cycles(ROOT / "medmllm", *args)
        assert r.returncode == 0 and " 0 cycle(s)" in r.stdout, r.stdout + r.stderr


def test_the_script_sees_lazy_and_relative_imports_and_package_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n    return b\n")  # function-level import
    (pkg / "sub" / "b.py").write_text("from .. import a\n")  # relative import back
    (pkg / "c.py").write_text("import pkg.a\n")  # imports the cycle, is not in it
    r = cycles(pkg)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "5 modules, 3 import edges, 1 cycle(s)" in r.stdout
    assert "- 2 members: pkg.a, pkg.sub.b" in r.stdout and "e.g. pkg.a -> pkg.sub.b -> pkg.a" in r.stdout
    assert cycles(pkg, "--only", "pkg.c").returncode == 0
    assert cycles(pkg, "--only", "pkg.sub").returncode == 1
    r = cycles(pkg, "--depth", "2")  # pkg.a <-> pkg.sub: a cycle between packages
    assert r.returncode == 1 and "- 2 members: pkg.a, pkg.sub" in r.stdout
    (pkg / "sub" / "b.py").write_text("import os\n")
    assert cycles(pkg).returncode == 0
