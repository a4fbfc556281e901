"""Fixtures shared by the benchmark tests: JSONL files and a fake predictor."""

import json

import pytest


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class FakePredictor:
    """Answers from a dict (id -> text); records every id it generated and every likelihood call."""

    def __init__(self, answers=None, default="Yes", losses=None, fail_after=None):
        self.answers = answers or {}
        self.default = default
        self.losses = losses
        self.generated = []
        self.likelihood_calls = []
        self.fail_after = fail_after

    def generate(self, batch):
        if self.fail_after is not None and len(self.generated) >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.generated += [r["id"] for r in batch]
        return [self.answers.get(r["id"], self.default) for r in batch]

    def choice_losses(self, record, choices):
        self.likelihood_calls.append((record, list(choices)))
        return self.losses(record, choices)


@pytest.fixture
def jsonl():
    """``jsonl.write(path, rows)`` / ``jsonl.read(path)``."""

    class J:
        write = staticmethod(write_jsonl)
        read = staticmethod(read_jsonl)

    return J


@pytest.fixture
def fake_predictor():
    """The :class:`FakePredictor` class."""
    return FakePredictor
