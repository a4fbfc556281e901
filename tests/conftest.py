"""Shared test set-up: offline, passive OpenMP threads, helpers to run the CLI in-process."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli(capsys):
    """``cli('inspect', path, '--json')`` runs ``medmllm`` in-process; returns code, stdout, stderr."""
    from medmllm.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


# Per-test time limits (pytest-timeout): ``timeout`` in pyproject.toml for ordinary tests, this for the
# tests marked slow; a test may set its own with @pytest.mark.timeout(N). A hang fails with the test's name.
SLOW_TIMEOUT_S = 900


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s (still runs in CI)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
