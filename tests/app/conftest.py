"""Fixtures of the report-app tests.

The app is the package ``medmllm.app`` (``apps/report_app.py`` is its launcher). The
deterministic ``FakeBackend`` is used ONLY by tests of UI mechanics (uploads, errors, streaming,
downloads); end-to-end tests use a real medmllm export.
"""

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class FakeBackend:
    """Deterministic stand-in for a model: a report that names what it was given, word by word."""

    name = "fake"
    modalities = frozenset(("xray", "ct"))

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.fail_with = None  # an exception to raise after the first piece
        self.requests = []

    def text_for(self, request) -> str:
        parts = []
        if request.xray is not None:
            parts.append(f"X-ray {request.xray.array.shape[0]}x{request.xray.array.shape[1]}")
        if request.ct is not None:
            parts.append("CT " + "x".join(str(s) for s in request.ct.array.shape))
        seen = " and ".join(parts)
        if request.question:
            return f"Answer: the question was read ({seen})."
        if request.language == "zh":
            return f"检查所见：{seen}。右肺下叶实变。印象：右肺下叶肺炎。"
        return f"Findings: {seen}. Consolidation in the right lower lobe. Impression: right lower lobe pneumonia."

    def stream(self, request):
        self.requests.append(request)
        text = self.text_for(request)
        for i in range(0, len(text), 6):  # pieces of 6 characters, like a few tokens each
            if self.delay:
                time.sleep(self.delay)
            yield text[i:i + 6]
            if self.fail_with is not None:
                raise self.fail_with


class AppTools:
    """Helpers handed to tests: the fake backend class, in-process launch, a gradio_client."""

    FakeBackend = FakeBackend

    @staticmethod
    def launch(app) -> str:
        """Start ``app`` (a ``ReportApp``) in this process on a free 127.0.0.1 port; return its URL."""
        app.launch(host="127.0.0.1", port=None, prevent_thread_lock=True, quiet=True)
        return app.blocks.local_url

    @staticmethod
    def client(url: str):
        from gradio_client import Client

        return Client(url, verbose=False, download_files=False)


@pytest.fixture(scope="session")
def app_tools():
    return AppTools


@pytest.fixture(scope="session")
def real_app(tiny_export, tmp_path_factory):
    """The app on the tiny export with two synthetic example cases, served in this process.

    Yields ``(app, backend, url)``.
    """
    from medmllm.app.backend import PredictorBackend
    from medmllm.app.examples import example_cases
    from medmllm.app.ui import ReportApp

    examples = example_cases(n=2, cache_dir=tmp_path_factory.mktemp("examples"), cases=6)
    backend = PredictorBackend(tiny_export)
    app = ReportApp(backend, examples=examples, stream_interval=0.0)  # the tiny model writes 24 tokens in ~50 ms
    url = AppTools.launch(app)
    yield app, backend, url
    app.close()
