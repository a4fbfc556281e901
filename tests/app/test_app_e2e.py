"""The report app end to end with a real medmllm export (a tiny model built from configs/tiny.yaml and
saved with ``save_pretrained``), driven over HTTP with gradio_client: an example case, the real chest
X-ray asset, and streaming whose final text equals ``medmllm generate``'s greedy output.
"""

import json
from pathlib import Path

import pytest
from gradio_client import handle_file

pytestmark = pytest.mark.slow  # builds a model, synthetic cases and a server: ~20-40 s on 2 cores

MAX_NEW = 24


@pytest.fixture(scope="module")
def served(real_app, app_tools):
    app, backend, url = real_app
    return app, backend, app_tools.client(url)


def _args(xray, ct, *, age="", sex="", outpatient="", language="en"):
    return (handle_file(str(xray)) if xray else None, [handle_file(str(p)) for p in ct] if ct else None,
            age, sex, outpatient, "", "report", "", language, MAX_NEW, 0.0, 1.0, 0)


def _path(value):
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value.get("path") if isinstance(value, dict) else value


def test_report_for_an_example_case(served):
    app, backend, client = served
    assert len(app.examples) == 2 and all(e.xray and e.ct for e in app.examples)
    case = app.examples[0]
    status, report, findings, txt, js = client.predict(
        *_args(case.xray, case.ct, age=case.age, sex=case.sex, outpatient=case.outpatient,
               language=case.language), api_name="/generate")
    assert status.startswith("Done in") and report
    expected = backend.predictor.generate(expected_input(case), max_new_tokens=MAX_NEW)[0]
    assert report == expected
    doc = json.loads(Path(_path(js)).read_text(encoding="utf-8"))
    assert doc["text"] == report and doc["model"] == "tiny" and set(doc["images"]) == {"xray", "ct"}


def expected_input(case):
    """What the app hands to ``Predictor`` for this example (its prompt as the training cases word it)."""
    from medmllm.app.backend import ReportRequest, build_prompt, format_context, parse_age

    context = format_context(parse_age(case.age), case.sex, case.outpatient, "", case.language)
    request = ReportRequest(xray_source=case.xray, ct_source=case.ct[0], context=context, language=case.language)
    return {"xray": case.xray, "ct": case.ct[0], "prompt": build_prompt(request)}


def test_report_for_the_real_chest_xray_asset(served):
    from pydicom.data import get_testdata_file

    from medmllm.app.backend import ReportRequest, build_prompt

    _, backend, client = served
    path = get_testdata_file("RG1_UNCR.dcm")
    image, meta, status = client.predict(handle_file(path), api_name="/view_xray")
    assert status == "" and meta["modality"] == "CR" and meta["shape"] == [1955, 1841]
    page = json.dumps(meta)
    for secret in ("CompressedSamples", "9RG1", "19400305", "Hamburg", "20040826"):
        assert secret not in page
    status, report, *_ = client.predict(*_args(path, None), api_name="/generate")
    assert status.startswith("Done in") and report
    prompt = build_prompt(ReportRequest(xray_source=path))
    assert prompt == "Write the radiology report for this chest radiograph."
    assert report == backend.predictor.generate({"xray": path, "prompt": prompt}, max_new_tokens=MAX_NEW)[0]


def test_stream_arrives_in_parts_and_equals_medmllm_generate(served, cli):
    app, _, client = served
    case = app.examples[1]  # the Chinese example
    assert case.language == "zh"
    job = client.submit(*_args(case.xray, case.ct, age=case.age, sex=case.sex, outpatient=case.outpatient,
                               language="zh"), api_name="/generate")
    updates = [out[1] for out in job if isinstance(out, (list, tuple)) and isinstance(out[1], str)]
    final = job.result()[1]
    partial = [u for u in dict.fromkeys(updates) if u and u.strip() != final]
    assert len(partial) >= 2, updates
    result = cli("generate", "--checkpoint", app.backend.checkpoint, "--xray", case.xray, "--ct", case.ct[0],
                 "--prompt", expected_input(case)["prompt"], "--max-new-tokens", MAX_NEW, "--json", "--quiet")
    assert result.code == 0, result
    assert final == json.loads(result.out)["report"]
