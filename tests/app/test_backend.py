"""The app's request side without Gradio: context record, prompt wording, settings, labels, documents."""

import pytest

from medmllm.app.backend import (GenerationSettings, ReportRequest, build_prompt, format_context, parse_age,
                          result_documents)
from medmllm.app.highlight import highlight_findings, label_text


def test_context_is_laid_out_like_the_training_outpatient_record():
    assert format_context(38, "F", "Chief complaint: Cough.\nHistory: No fever.", "", "en") == (
        "Outpatient record\nPatient: 3 years 2 months old girl.\nChief complaint: Cough.\nHistory: No fever.")
    assert format_context(6, "M", " 主诉：咳嗽。 ", None, "zh") == "门诊病历\n患儿，男，6月龄。\n主诉：咳嗽。"
    assert format_context(None, "", "", "Admitted for IV antibiotics.", "en") == (
        "Inpatient record\nAdmitted for IV antibiotics.")
    assert format_context(None, "", None, "   ", "en") is None


def test_age_in_the_ways_people_write_it():
    assert [parse_age(a) for a in ("4", "4.5", "3 y 2 m", "3 years 2 months", "38 months", "3岁2月", "6月龄",
                                   " ", None, 2)] == [48, 54, 38, 38, 38, 38, 6, None, None, 24]
    for bad in ("three", "4 weeks", "-2", "200"):
        with pytest.raises(ValueError, match="age"):
            parse_age(bad)


def test_context_matches_a_synthetic_training_record(tmp_path):
    from medmllm.data.synthetic.clinical_text import age_text

    from medmllm.app.examples import _notes

    record = ("Outpatient record\nPatient: 3 years 2 months old girl, 14.2 kg.\nChief complaint: Cough.\n"
              "Plan: chest radiograph and chest CT.")
    rebuilt = format_context(parse_age(age_text(38, "en")), "F", _notes(record), "", "en")
    assert rebuilt == record.replace(", 14.2 kg.", ".")  # the app has no weight field


def test_prompt_uses_the_training_wording_for_each_image_combination():
    from medmllm.data.synthetic.tasks import PROMPTS

    both = ReportRequest(xray_source="x.dcm", ct_source="ct.zip")
    assert build_prompt(both) == PROMPTS["en"]["both"][0]
    assert build_prompt(ReportRequest(ct_source="ct.nii.gz", language="zh")) == PROMPTS["zh"]["ct"][0]
    ctx = ReportRequest(xray_source="x.dcm", context="Outpatient record\nPatient: 4 years old boy.")
    assert build_prompt(ctx) == ("Clinical information:\nOutpatient record\nPatient: 4 years old boy.\n\n"
                                 + PROMPTS["en"]["xray"][0])
    q = ReportRequest(xray_source="x.dcm", question="Is there an effusion?")
    assert build_prompt(q) == "Is there an effusion?" and q.task == "question"


def test_generation_settings_are_checked():
    assert GenerationSettings().temperature == 0.0  # greedy by default
    for bad in (dict(max_new_tokens=0), dict(temperature=-1.0), dict(top_p=0.0)):
        with pytest.raises(ValueError):
            GenerationSettings(**bad)


def test_labels_are_highlighted_from_the_report_text():
    text = "Findings: Consolidation in the right lower lobe. Small left pleural effusion. Impression: pneumonia."
    labels = label_text(text, "en")
    items = [x for x in highlight_findings(labels, "en") if x[1]]
    assert ("right lower lobe consolidation", "present") in items
    assert ("left pleural effusion", "present") in items
    normal = highlight_findings(label_text("Findings: The lungs are clear. Impression: Normal chest.", "en"), "en")
    assert normal == [("no abnormality", "normal")]
    assert highlight_findings(label_text("", "en")) == []
    zh = [x for x in highlight_findings(label_text("右肺下叶实变。", "zh"), "zh") if x[1]]
    assert zh == [("右肺下叶实变", "present")]
    # a probable reading is uncertain; a possibility raised is shown as one (it sets no label)
    hedged = label_text("Left pleural effusion is likely. A small right pneumothorax cannot be excluded.", "en")
    assert [x for x in highlight_findings(hedged, "en") if x[1]] == [("left pleural effusion", "uncertain"),
                                                                     ("right pneumothorax", "possible")]


def test_result_documents_carry_text_labels_and_settings():
    req = ReportRequest(xray_source="x.dcm", context="Outpatient record", language="zh",
                        settings=GenerationSettings(max_new_tokens=32))
    txt, doc = result_documents(req, " 右肺下叶实变。\n", {"findings": {"consolidation:RLL": 1}}, "tiny", 1.23456,
                                {"xray": {"kind": "xray"}})
    assert txt.endswith("右肺下叶实变。\n") and "不可用于临床诊断" in txt
    assert doc["findings"] == {"consolidation:RLL": 1} and doc["generation"]["max_new_tokens"] == 32
    assert doc["seconds"] == 1.235 and doc["task"] == "report" and doc["images"] == {"xray": {"kind": "xray"}}
