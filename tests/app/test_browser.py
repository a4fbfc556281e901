"""The report app in a real browser: headless Chromium (Debian's package, no browser download) driven
by Playwright. It opens the page, loads an example case with one click, generates, waits for the
streamed report, saves a screenshot, then switches the CT view to coronal and the bone window
(``MEDMLLM_SCREENSHOT=path.png`` keeps copies of both pictures).
"""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("MEDMLLM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_example_case_generates_a_report_in_the_browser(real_app, tmp_path):
    from playwright import sync_api  # the test extra: pip install 'medmllm[test]' (never `playwright install`)

    assert Path(CHROMIUM).exists(), "Chromium is missing: run scripts/setup.sh (installs Debian's chromium)"
    app, backend, url = real_app
    case = app.examples[0]
    shot = tmp_path / "report_app.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1500, "height": 1100})
        try:
            page = browser.new_page()
            page.goto(url, wait_until="networkidle")
            page.get_by_text(case.label, exact=True).click()  # one click fills images and context
            page.locator("#xray-view img").wait_for(timeout=30_000)  # the viewer shows the X-ray
            page.locator("#generate").click()
            page.locator("#status").get_by_text("Done in").wait_for(timeout=60_000)
            report = page.locator("#report textarea").input_value()
            labels = page.locator("#findings").inner_text()
            page.screenshot(path=str(shot), full_page=True)
            page.get_by_role("tab", name="CT").click()  # the CT viewer: plane and window change the view
            ct_img = page.locator("#ct-view img")
            ct_img.wait_for(timeout=30_000)
            axial = ct_img.get_attribute("src")
            page.get_by_label("coronal").check()
            page.wait_for_function("s => document.querySelector('#ct-view img')?.src !== s", arg=axial,
                                   timeout=30_000)
            page.get_by_label("bone").check()
            page.wait_for_timeout(1500)
            ct_shot = tmp_path / "ct_view.png"
            page.locator("#ct-view").screenshot(path=str(ct_shot))
        finally:
            browser.close()
    expected = backend.predictor.generate(_expected_input(case), max_new_tokens=256)[0]
    assert report == expected and report
    assert labels is not None
    assert shot.stat().st_size > 10_000
    if os.environ.get("MEDMLLM_SCREENSHOT"):
        shutil.copy(shot, os.environ["MEDMLLM_SCREENSHOT"])
        shutil.copy(ct_shot, Path(os.environ["MEDMLLM_SCREENSHOT"]).with_suffix(".ct.png"))


def _expected_input(case):
    """What the app hands to ``Predictor`` for this example (its prompt as the training cases word it)."""
    from medmllm.app.backend import ReportRequest, build_prompt, format_context, parse_age

    context = format_context(parse_age(case.age), case.sex, case.outpatient, "", case.language)
    request = ReportRequest(xray_source=case.xray, ct_source=case.ct[0], context=context, language=case.language)
    return {"xray": case.xray, "ct": case.ct[0], "prompt": build_prompt(request)}
