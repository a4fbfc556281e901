"""A cine DICOM or video upload in the app: shown frame by frame behind a slider, passed to a model with a
video slot, refused in one line by a model without one."""

import numpy as np
import pytest

from medmllm.io.video_writers import write_cine_dicom, write_video_file


class ClipBackend:
    name = "fake-clip"
    modalities = frozenset(("xray", "ct", "video"))

    def __init__(self):
        self.requests = []

    def stream(self, request):
        self.requests.append(request)
        yield f"Findings: a clip of {request.video.array.shape[0]} frames."


@pytest.fixture
def cine(tmp_path):
    frames = np.zeros((12, 24, 32))
    for k in range(12):
        frames[k, :, k * 2:k * 2 + 4] = 1.0  # a bar moving right
    return write_cine_dicom(frames, tmp_path / "echo.dcm", modality="US", frame_time_ms=50)


def _run(app, **kw):
    args = dict(xray_file=None, ct_files=None, age="", sex="", outpatient="", inpatient="", task="report",
                question="", language="en", max_new_tokens=16, temperature=0.0, top_p=1.0, seed=0)
    args.update(kw)
    return list(app.generate(**args))


def test_clip_is_shown_frame_by_frame(app_tools, cine, tmp_path):
    from medmllm.app.ui import ReportApp

    app = ReportApp(app_tools.FakeBackend())
    try:
        view, slider, meta, warning = app.view_video(str(cine))
        assert view.dtype == np.uint8 and slider.maximum == 11 and slider.value == 6 and slider.interactive
        assert meta["kind"] == "video" and meta["shape"] == [12, 24, 32, 1] and meta["fps"] == pytest.approx(20.0)
        assert "burned-in" in warning or "identifiers" in warning  # ultrasound without the flag
        first, last = app.show_frame(str(cine), 0), app.show_frame(str(cine), 11)
        col = lambda img: int(np.argmax(img.mean(axis=(0, 2) if img.ndim == 3 else 0)))  # noqa: E731
        assert col(first) < col(last)  # the bar moved right
        mp4 = write_video_file(np.random.default_rng(0).random((100, 32, 32)), tmp_path / "long.mp4", fps=25)
        _, slider, meta, _ = app.view_video(str(mp4))
        assert slider.maximum == 63 and meta["frames_total"] == 100  # at most 64 evenly spaced frames shown
        png = tmp_path / "x.png"
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
        view, _, _, message = app.view_video(str(png))
        assert view is None and "x.png" in message and str(tmp_path) not in message
    finally:
        app.close()


def test_clip_goes_to_a_video_model_and_is_refused_by_others(app_tools, cine):
    from medmllm.app.ui import ReportApp

    backend = ClipBackend()
    app = ReportApp(backend)
    try:
        updates = _run(app, video_file=str(cine))
        assert "Done" in updates[-1][0] and updates[-1][1] == "Findings: a clip of 12 frames."
        (request,) = backend.requests
        assert request.modalities() == ["video"] and request.as_input()["video"] == str(cine)
    finally:
        app.close()
    app = ReportApp(app_tools.FakeBackend())
    try:
        updates = _run(app, video_file=str(cine))
        assert "this model reads CT and X-ray only; the clip cannot be used" in updates[-1][0]
    finally:
        app.close()
