"""Recorded training prompts and the one prompt builder: generate, evaluate and the app word a request alike."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from medmllm.data.prompts import CONTEXT, DEFAULT_PROMPTS, PromptBook, record_prompts

ROOT = Path(__file__).resolve().parents[2]


def rec(pid, text, *, images=("xray",), lang="en", task="report", outpatient=None):
    head = "".join(f"<{m}>\n" for m in images)
    return {"id": f"{pid}-{len(text)}", "patient_id": pid, "task": task, "meta": {"lang": lang},
            "images": [{"modality": m, "path": f"{pid}.{m}"} for m in images],
            "records": {"outpatient": outpatient} if outpatient else None,
            "messages": [{"role": "user", "content": head + text}, {"role": "assistant", "content": "Findings: x."}]}


def test_the_defaults_are_the_synthetic_training_wording():
    from medmllm.data.synthetic.tasks import PROMPTS

    for lang in ("en", "zh"):
        for layout, source in (("xray", "xray"), ("ct", "ct"), ("xray+ct", "both")):
            assert DEFAULT_PROMPTS[lang][layout] == PROMPTS[lang][source][0]
        frame = DEFAULT_PROMPTS[lang]["context"]
        assert frame.replace("{context}", "R").replace("{prompt}", "") == PROMPTS[lang]["context"].format(record="R")


def test_recorded_wordings_counted_per_layout_with_the_context_marked_and_one_patient_texts_left_out():
    note = "Outpatient record\nPatient: 3 years old girl.\nChief complaint: Cough."
    records = [rec("p1", "Describe the chest X-ray."), rec("p2", "Describe the chest X-ray."),
               rec("p3", "Report this film."), rec("p4", "Report this film."), rec("p4", "Report this film."),
               rec("p5", "Only p5 asked this, with her name: Ana."),
               rec("p1", f"Clinical information:\n{note}\n\nDescribe the chest X-ray.", outpatient=note),
               rec("p2", f"Clinical information:\n{note.replace('3', '4')}\n\nDescribe the chest X-ray.",
                   outpatient=note.replace("3", "4")),
               rec("p1", "请描述胸片。", lang="zh"), rec("p2", "请描述胸片。", lang="zh"),
               rec("p1", "Describe both.", images=("xray", "ct")), rec("p2", "Describe both.", images=("xray", "ct"))]
    out = record_prompts(records)
    assert out["format"] == 1 and out["records"] == len(records)
    assert out["report"]["en"]["xray"] == [
        {"text": "Report this film.", "count": 3},  # most frequent first, ties in text order
        {"text": "Clinical information:\n{context}\n\nDescribe the chest X-ray.", "count": 2},
        {"text": "Describe the chest X-ray.", "count": 2}]
    assert out["report"]["zh"]["xray"] == [{"text": "请描述胸片。", "count": 2}]
    assert out["report"]["en"]["xray+ct"] == [{"text": "Describe both.", "count": 2}]
    assert "Ana" not in repr(out) and "Chief complaint" not in repr(out)
    assert record_prompts([rec("p1", "Just one patient.")]) is None


def test_the_default_prompt_is_the_recorded_one():
    book = PromptBook(record_prompts([rec("a", "Report this film."), rec("b", "Report this film."),
                                      rec("a", "Clinical information:\n{n}\n\nReport this film.".replace("{n}", "N1"),
                                          outpatient="N1 is long enough"),
                                      rec("c", "Write it."), rec("d", "Write it."), rec("e", "Write it.")]))
    assert book.is_recorded and book.language() == "en"
    assert book.text(["xray"]) == "Write it."  # the most frequent wording
    assert book.messages({"xray": 1})[0]["content"] == "<xray>\nWrite it."
    assert book.text(["xray"], prompt="Describe.") == "Describe."
    assert book.text(["ct"]) == DEFAULT_PROMPTS["en"]["ct"]  # nothing recorded for this layout: the default
    assert book.text(["xray"], language="zh") == DEFAULT_PROMPTS["zh"]["xray"]


def test_images_alone_is_recorded_but_the_default_only_when_nothing_else_was():
    alone = [rec(p, "") for p in "abcde"]  # the most frequent "wording": no instruction
    book = PromptBook(record_prompts(alone + [rec(p, "Report this film.") for p in "ab"]))
    assert {"text": "", "count": 5} in book.recorded["report"]["en"]["xray"]
    assert book.text(["xray"]) == "Report this film."
    assert book.text(["xray"], context="fever") == "Clinical information:\nfever\n\nReport this film."
    assert PromptBook(record_prompts(alone)).messages({"xray": 1})[0]["content"] == "<xray>\n"


def test_synthetic_reports_are_asked_in_varied_wordings_or_with_the_images_alone():
    from medmllm.data.synthetic import SynthConfig, render_case
    from medmllm.data.synthetic.tasks import PROMPTS

    asked = []
    for i in range(60):
        for t in render_case(0, i, SynthConfig(langs=("en",), tasks=("report",))).tasks["en"]:
            user = t.messages[0]["content"]
            if t.variant.endswith("-context"):
                assert user.split("\n\n")[-1] in PROMPTS["en"][t.variant.split("-")[1]]  # always an instruction
            else:
                asked.append("" if user.endswith(">") else user.split("\n")[-1])
    counts = {w: asked.count(w) for w in set(asked)}
    assert len(asked) == 180 and counts.get("", 0) >= 12 and len(counts) >= 16  # ~1 in 7: the images alone


def test_the_context_goes_where_training_put_it():
    note = "Outpatient record\nPatient: 2 years old boy."
    framed = "History:\n{context}\n---\nReport this film."
    book = PromptBook(record_prompts([rec(p, framed.replace(CONTEXT, note + p), outpatient=note + p)
                                      for p in ("a", "b")] + [rec(p, "Report this film.") for p in ("a", "b")]))
    assert book.text(["xray"], context="fever") == "History:\nfever\n---\nReport this film."
    assert book.text(["xray"], prompt="Any effusion?", context="fever") == "History:\nfever\n---\nAny effusion?"
    assert PromptBook().text(["xray"], prompt="Any effusion?", context="fever") == (
        "Clinical information:\nfever\n\nAny effusion?")


def test_generate_evaluate_and_the_app_default_to_the_recorded_prompt(export_copy, cases, record):
    from medmllm.app.backend import PredictorBackend, ReportRequest, build_prompt
    from medmllm.inference import Predictor

    recorded = record_prompts([rec("a", "Report this film."), rec("b", "Report this film.")])

    def with_prompts(folder, doc):
        doc["prompts"] = recorded

    folder = export_copy(with_prompts)
    pred = Predictor.from_pretrained(folder)
    assert pred.prepare({"xray": str(cases.image)})["messages"] == [
        {"role": "user", "content": "<xray>\nReport this film."}]
    bare = {**record(1, reference=None), "messages": [{"role": "user", "content": "<xray>\n"}]}  # evaluate's records
    assert pred.prepare(bare, cases.root)["messages"][0]["content"] == "<xray>\nReport this film."
    backend = PredictorBackend(folder)
    request = ReportRequest(xray_source=str(cases.image), context="fever")
    shown = backend.predictor.prepare(request.as_input())["messages"][0]["content"]
    assert shown == "<xray>\n" + build_prompt(request, backend.predictor.prompts)
    assert shown == "<xray>\nClinical information:\nfever\n\nReport this film."


@pytest.mark.slow  # two processes that load a model: ~15 s
def test_quiet_silences_the_libraries(export_copy, cases):
    def with_transforms(folder, doc):
        doc["data"] = {"transforms": {}}  # no warning of ours about missing transforms

    folder = export_copy(with_transforms)
    base = [sys.executable, "-m", "medmllm", "generate", "--checkpoint", str(folder), "--xray", str(cases.image),
            "--max-new-tokens", "2"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    loud = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    quiet = subprocess.run(base + ["--quiet"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert loud.returncode == quiet.returncode == 0, (loud.stderr, quiet.stderr)
    assert "Loading weights" in loud.stderr  # the noise is there without --quiet
    assert quiet.stderr == "" and quiet.stdout == loud.stdout
