"""Encoder-stage batches: report text, record selection, the collator."""

import torch

from medmllm.pretraining.data import EncoderCollator, report_text, select_records


def _rec(i, images, report=None, answer=None, labels=None):
    msgs = [{"role": "user", "content": "<xray>\nWrite the report."}]
    if answer is not None:
        msgs.append({"role": "assistant", "content": answer})
    return {"id": f"r{i}", "images": images, "report": report, "messages": msgs, "labels": labels}


XRAY = [{"modality": "xray", "path": "a.png"}]
BOTH = [{"modality": "xray", "path": "a.png"}, {"modality": "ct", "path": "ct/"}]


def test_report_text_prefers_the_report_then_the_last_assistant_turn():
    r = _rec(0, XRAY, report={"findings": " Right lower lobe consolidation. ", "impression": "Pneumonia."},
             answer="Findings: something else")
    assert report_text(r) == "Right lower lobe consolidation. Pneumonia."
    empty = {"findings": "", "impression": None}
    assert report_text(_rec(1, XRAY, report=empty, answer="  A caption. ")) == "A caption."
    msgs = [{"role": "assistant", "content": "first"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "second"}]
    assert report_text({"messages": msgs}) == "second"
    assert report_text(_rec(2, XRAY)) is None


def test_select_records_keeps_imaged_records_once_per_images_and_report():
    rep = {"findings": "Clear lungs.", "impression": "Normal."}
    recs = [_rec(0, XRAY, rep), _rec(1, XRAY, rep),  # same image, same report: the context variant
            _rec(2, BOTH, rep),  # other images
            _rec(3, XRAY, {"findings": "Effusion.", "impression": ""}),  # other report
            _rec(4, [], rep)]  # no image
    assert [r["id"] for r in select_records(recs)] == ["r0", "r2", "r3"]
    assert [r["id"] for r in select_records(recs, dedupe=False)] == ["r0", "r1", "r2", "r3"]


def test_collator_batches_pixels_texts_and_labels_per_sample():
    x = [torch.full((1, 8, 8), float(i)) for i in range(3)]
    ct = torch.zeros(2, 4, 8, 8)
    samples = [{"id": "a", "pixels": {"xray": [x[0]]}, "report": {"findings": "A.", "impression": "a"},
                "labels": {"normal": 1}},
               {"id": "b", "pixels": {"ct": [ct]}, "messages": [{"role": "assistant", "content": "B"}], "labels": None},
               {"id": "c", "pixels": {"xray": [x[1], x[2]]}, "labels": {"nodule": 1}}]
    b = EncoderCollator()(samples)
    assert b["ids"] == ["a", "b", "c"] and b["texts"] == ["A. a", "B", None]
    assert b["label_dicts"] == [{"normal": 1}, None, {"nodule": 1}]
    assert b["pixel_values"]["xray"].shape == (3, 1, 8, 8) and b["pixel_values"]["ct"].shape == (1, 2, 4, 8, 8)
    assert b["image_sample_index"]["xray"].tolist() == [0, 2, 2] and b["image_sample_index"]["ct"].tolist() == [1]
    assert b["pixel_values"]["xray"][:, 0, 0, 0].tolist() == [0.0, 1.0, 2.0]
