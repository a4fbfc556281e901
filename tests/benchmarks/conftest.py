"""Fixtures shared by the benchmark tests: JSONL files, a fake predictor, a fake chat endpoint and a
trained tiny export."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def chat_server():
    """Starts local fake OpenAI-compatible endpoints: ``url = chat_server(respond)``, where
    ``respond(handler, body)`` returns ``(status, payload)`` (a dict is sent as JSON, bytes as they
    are). The servers stop after the test."""
    servers = []

    def start(respond):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = respond(self, body)
                data = json.dumps(payload).encode() if isinstance(payload, dict) else payload
                self.send_response(status)
                if isinstance(payload, dict):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}/v1"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


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


# ---- a real tiny checkpoint for `medmllm evaluate` (test_evaluate*.py) -------------------------------

BRIGHTNESS_Q = "What is the brightness of the image?"
BRIGHT_YN_Q = "Is the image bright? Please answer yes or no."


def write_gray_jpeg(path, bright, rng):
    """A 32x32 RGB JPEG, bright (0.8-0.9) or dark (0.1-0.2) with pixel noise; the path."""
    import numpy as np
    from PIL import Image

    a = (0.8 if bright else 0.1) + 0.1 * rng.random((32, 32))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.stack([a] * 3, -1) * 255).astype("uint8")).save(path, quality=95)
    return path


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory):
    """The tiny model (configs/tiny.yaml) saved twice: untrained, and after 60 full-batch steps on a toy
    preference: "bright"/"dark" to BRIGHTNESS_Q and "Yes"/"No" to BRIGHT_YN_Q, by the image's brightness.

    Returns ``(untrained_dir, trained_dir)``.
    """
    import numpy as np
    import torch

    from medmllm.config import load_config
    from medmllm.inference import Predictor, collate_prompts
    from medmllm.models.mllm import MedMLLM

    root = tmp_path_factory.mktemp("tiny-exports")
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml")["model"]
    torch.manual_seed(0)
    model = MedMLLM.build(cfg)
    model.save_pretrained(root / "untrained")
    pred = Predictor(model, None, "cpu")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(8):
        bright = i % 2 == 0
        img = write_gray_jpeg(root / "train-images" / f"{i}.jpg", bright, rng)
        for k, (question, answer) in enumerate(((BRIGHTNESS_Q, "bright" if bright else "dark"),
                                                (BRIGHT_YN_Q, "Yes" if bright else "No"))):
            s = pred.prepare({"id": f"{i}-{k}", "images": [{"modality": "xray", "path": str(img)}],
                              "messages": [{"role": "user", "content": "<xray>\n" + question}]})
            s["messages"] = s["messages"] + [{"role": "assistant", "content": answer}]
            samples.append(s)
    batch = collate_prompts(model, samples, generation=False, max_length=512)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        out = model(batch["input_ids"], batch["attention_mask"], batch["labels"], batch["pixel_values"],
                    batch["image_sample_index"])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.3 * losses[0], losses  # it learned something
    model.eval().save_pretrained(root / "trained")
    return root / "untrained", root / "trained"


@pytest.fixture
def brightness():
    """``write(path, bright, rng)`` for test images, and the two questions the trained export knows."""
    from types import SimpleNamespace

    return SimpleNamespace(write=write_gray_jpeg, question=BRIGHTNESS_Q, yes_no=BRIGHT_YN_Q)
