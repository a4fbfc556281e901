"""UI mechanics of the report app, driven over HTTP with gradio_client against a deterministic fake
backend: bad uploads give a message and the app keeps serving, streaming, viewer, downloads,
metadata without identifiers, logs without identifiers, limits, concurrent clients.

End-to-end tests with a real model are in ``test_app_e2e.py``.
"""

import json
import logging
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file

from medmllm.io.writers import write_ct_series, write_nifti, write_xray_dicom

PATIENT = {"name": "DOE^JANE", "id": "PID-778899", "birth_date": "20190304", "sex": "F"}
SECRETS = ("DOE", "JANE", "PID-778899", "20190304")
DEFAULTS = dict(age="4", sex="F", outpatient="Cough and fever for 3 days.", inpatient="", task="report",
                question="", language="en", max_new_tokens=64, temperature=0.0, top_p=1.0, seed=0)


def _xray01(h=96, w=80):
    yy, xx = np.mgrid[0:h, 0:w]
    return (0.2 + 0.6 * np.exp(-((xx - w / 2) ** 2) / 200.0) * (yy / h)).astype(np.float32)


def _volume(d=12, h=32, w=40):
    vol = np.full((d, h, w), -800.0, dtype=np.float32)
    vol[:, 10:20, 5:15] = 40.0
    vol[d - 1, 0, 0] = 1000.0
    return vol


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("uploads")
    f = {}
    f["xray"] = write_xray_dicom(_xray01(), root / "DOE_JANE_chest.dcm", patient=PATIENT)
    f["series"] = write_ct_series(_volume(), (2.5, 0.8, 0.8), root / "series", patient=PATIENT)
    f["nifti"] = write_nifti(_volume(), (2.5, 0.8, 0.8), root / "ct.nii.gz")
    with zipfile.ZipFile(root / "ct.zip", "w") as zf:
        for p in f["series"]:
            zf.write(p, f"ct/{p.name}")
    f["zip"] = root / "ct.zip"
    f["corrupt"] = root / "broken.dcm"
    f["corrupt"].write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 20)
    f["text"] = root / "notes.txt"
    f["text"].write_text("not an image\n")
    f["empty"] = root / "empty.png"
    f["empty"].write_bytes(b"")
    bomb = root / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ct/slice.dcm", b"\0" * (3 * 2**20))  # 3 MB of zeros, a few KB compressed
    f["bomb"] = bomb
    f["big"] = root / "big.png"
    f["big"].write_bytes(np.random.default_rng(0).bytes(int(1.5 * 2**20)))
    return f


@pytest.fixture(scope="module")
def served(app_tools):
    from medmllm.app.ui import ReportApp

    backend = app_tools.FakeBackend(delay=0.01)
    app = ReportApp(backend, max_upload_mb=1, concurrency=2, stream_interval=0.0)  # every piece is an update
    url = app_tools.launch(app)
    yield app, backend, app_tools.client(url)
    app.close()


def generate(client, xray=None, ct=None, **kw):
    args = {**DEFAULTS, **kw}
    ct_files = [handle_file(str(p)) for p in ct] if ct else None
    return client.predict(handle_file(str(xray)) if xray else None, ct_files, args["age"], args["sex"],
                          args["outpatient"], args["inpatient"], args["task"], args["question"],
                          args["language"], args["max_new_tokens"], args["temperature"], args["top_p"],
                          args["seed"], api_name="/generate")


def _path(value):
    """The server-side path of a file output (plain, or inside a component update)."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value.get("path") if isinstance(value, dict) else value


def test_corrupt_upload_gives_a_message_then_a_valid_request_works(served, files):
    _, backend, client = served
    status, report, findings, txt, js = generate(client, xray=files["corrupt"])
    assert "broken.dcm" in status and "Cannot use this input" in status
    assert report == "" and not _path(txt)
    for bad in ("text", "empty"):
        status, report, *_ = generate(client, xray=files[bad])
        assert files[bad].name in status and report == ""
    status, report, findings, *_ = generate(client, xray=files["xray"], ct=[files["zip"]])
    assert report == backend.text_for(backend.requests[-1])
    labels = [(f["token"], f["class_or_confidence"]) for f in findings if f["class_or_confidence"]]
    assert labels == [("right lower lobe consolidation", "present")]  # read from the text by the labeler
    assert report.startswith("Findings: X-ray 96x80 and CT 12x32x40.")
    assert status.startswith("Done in")


def test_model_errors_are_shown_and_the_app_keeps_serving(served, files):
    from medmllm.errors import InputError

    _, backend, client = served
    try:
        backend.fail_with = InputError("/srv/cache/abc/cxr.dcm", "the model has no 'ct' encoder (it has: xray)")
        status, report, *_ = generate(client, xray=files["xray"])
        assert "cxr.dcm: the model has no 'ct' encoder" in status and "/srv/cache" not in status
        assert report == ""
        backend.fail_with = RuntimeError("CUDA out of memory at /srv/secret")
        status, report, *_ = generate(client, xray=files["xray"])
        assert "Generation failed** (RuntimeError)" in status and "/srv/secret" not in status
    finally:
        backend.fail_with = None
    status, report, *_ = generate(client, xray=files["xray"])
    assert status.startswith("Done in") and report.startswith("Findings: X-ray 96x80.")


def test_images_the_model_cannot_read_are_left_out_with_a_note(served, files):
    _, backend, client = served
    try:
        backend.modalities = frozenset({"xray"})
        status, report, *_ = generate(client, xray=files["xray"], ct=[files["nifti"]])
        assert report.startswith("Findings: X-ray 96x80.") and "CT" not in report  # only the X-ray went in
        assert "The CT is shown but not used" in status
        status, report, *_ = generate(client, ct=[files["nifti"]])
        assert "this model reads X-ray only" in status and report == ""
    finally:
        del backend.modalities  # back to the class attribute


def test_limits_zip_bomb_and_oversized_upload(served, files):
    _, _, client = served
    status, report, *_ = generate(client, ct=[files["bomb"]])
    assert "bomb.zip" in status and "limit" in status and report == ""
    with pytest.raises(Exception):  # refused by the server before the function runs
        generate(client, xray=files["big"])
    status, report, *_ = generate(client, xray=files["xray"])
    assert report.startswith("Findings: X-ray 96x80.")


def test_missing_inputs_and_question_task(served, files):
    _, _, client = served
    status, report, *_ = generate(client)
    assert "upload a chest X-ray or CT" in status and report == ""
    status, report, *_ = generate(client, xray=files["xray"], task="question", question="")
    assert "type a question" in status
    status, report, *_ = generate(client, xray=files["xray"], age="four weeks")
    assert "age" in status and "3 y 2 m" in status and report == ""
    status, report, *_ = generate(client, xray=files["xray"], task="question", question="Is there an effusion?")
    assert report.startswith("Answer:")


def test_report_streams_in_several_updates(served, files):
    _, backend, client = served
    a = {**DEFAULTS}
    job = client.submit(handle_file(str(files["xray"])), None, a["age"], a["sex"], a["outpatient"],
                        a["inpatient"], "report", "", "zh", 64, 0.0, 1.0, 0, api_name="/generate")
    reports = [out[1] for out in job if isinstance(out, (list, tuple)) and isinstance(out[1], str)]
    final = job.result()[1]
    assert final == backend.text_for(backend.requests[-1]) and final.startswith("检查所见")
    partial = [r for r in dict.fromkeys(reports) if r and r != final]
    assert len(partial) >= 2, reports
    assert all(final.startswith(r) for r in partial)  # each update extends the previous text


def test_fast_pieces_are_coalesced_into_fewer_updates(app_tools, files):
    from medmllm.app.ui import ReportApp

    backend = app_tools.FakeBackend(delay=0.01)  # a piece every 10 ms
    app = ReportApp(backend, stream_interval=0.1)  # not launched: the handler is a plain generator
    a = DEFAULTS
    try:
        outs = list(app.generate(str(files["xray"]), None, a["age"], a["sex"], a["outpatient"], a["inpatient"],
                                 "report", "", "en", 64, 0.0, 1.0, 0))
    finally:
        app.close()
    pieces = len(list(backend.stream(backend.requests[-1])))
    streamed = [o[1] for o in outs[1:-1]]
    assert pieces >= 15 and 2 <= len(streamed) <= pieces // 2
    assert all(outs[-1][1].startswith(t) for t in streamed) and outs[-1][1] == backend.text_for(backend.requests[-1])


def test_downloads_and_page_hold_no_identifiers(served, files, caplog):
    _, backend, client = served
    caplog.set_level(logging.DEBUG)
    image, meta, status = client.predict(handle_file(str(files["xray"])), api_name="/view_xray")
    assert meta["kind"] == "xray" and meta["format"] == "dicom" and meta["shape"] == [96, 80]
    status, report, findings, txt, js = generate(client, xray=files["xray"], ct=list(files["series"]))
    doc = json.loads(Path(_path(js)).read_text(encoding="utf-8"))
    text = Path(_path(txt)).read_text(encoding="utf-8")
    assert doc["text"] == report and report in text and "Not for clinical use" in text
    assert doc["images"]["ct"]["shape"] == [12, 32, 40] and doc["generation"]["temperature"] == 0.0
    assert doc["context"] and "Cough and fever" in doc["context"]
    page = json.dumps([meta, status, doc], ensure_ascii=False) + text
    server_logs = "\n".join(r.getMessage() for r in caplog.records
                            if not r.name.startswith(("httpx", "httpcore", "gradio_client")))
    for secret in SECRETS + (files["xray"].name,):
        assert secret not in page
        assert secret not in server_logs


def test_ct_viewer_planes_windows_and_formats_agree(served, files):
    from PIL import Image

    _, _, client = served
    views = {}
    for name, ct in (("series", list(files["series"])), ("nifti", [files["nifti"]]), ("zip", [files["zip"]])):
        image, slider, meta, status = client.predict([handle_file(str(p)) for p in ct], "coronal", "lung",
                                                     api_name="/view_ct")
        assert status == "" and meta["shape"] == [12, 32, 40] and meta["spacing_mm"] == [2.5, 0.8, 0.8]
        assert slider["value"] == 16 and slider["maximum"] == 31  # coronal: H = 32 slices, starts mid-way
        views[name] = np.asarray(Image.open(_path(image)).convert("L"))
    assert views["series"].shape == (360, 384)  # 30 mm tall, 32 mm wide (0.8 mm pixels), enlarged for display
    np.testing.assert_array_equal(views["series"], views["nifti"])
    np.testing.assert_array_equal(views["series"], views["zip"])
    image, slider, meta, status = client.predict([handle_file(str(files["xray"]))], "axial", "lung",
                                                 api_name="/view_ct")
    assert image is None and "CT" in status  # an X-ray in the CT box is refused with a message


def test_four_concurrent_clients_are_all_served(served, files, app_tools):
    app, backend, client = served
    results, errors = [], []

    def one(i):
        try:
            c = app_tools.client(app.blocks.local_url)
            results.append(generate(c, xray=files["xray"], age=str(i + 1))[1])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 4
    assert all(r.startswith("Findings: X-ray 96x80.") for r in results)
