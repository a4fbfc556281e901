"""Video-MME: the release (parquet or JSON, videos, subtitles) -> manifest; the official scoring rule; with and
without subtitles through evaluate, score-benchmark and compare."""

import json

import numpy as np
import pytest

from medmllm.data.schema import read_manifest
from medmllm.evaluation.benchmarks.video_mme import INSTRUCTION
from medmllm.evaluation.benchmarks.video_mme.score import VideoMME, extract_answer
from medmllm.evaluation.benchmarks.video_mme.subtitles import read_srt, subtitle_text
from medmllm.io.video_writers import write_video_file

SRT = """1
00:00:00,000 --> 00:00:01,500
Hello and <i>welcome</i>.

2
00:00:01,500 --> 00:00:04,000
Today we fold paper cranes.
"""


def _question(vid, video_id, duration, k, answer="A", **extra):
    return {"video_id": video_id, "duration": duration, "domain": "Knowledge", "sub_category": "Humanity & History",
            "url": f"https://www.youtube.com/watch?v={vid}", "videoID": vid, "question_id": f"{video_id}-{k}",
            "task_type": "Counting Problem" if k == 1 else "Action Recognition",
            "question": f"Question {k} about {vid}?", "options": ["A. one.", "B. two.", "C. three.", "D. four."],
            "answer": answer, **extra}


@pytest.fixture
def release(tmp_path):
    """A Video-MME release in miniature: videomme/*.parquet, data/*.mp4, subtitle/*.srt."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "Video-MME"
    (root / "videomme").mkdir(parents=True)
    frames = np.zeros((10, 32, 32))
    frames[:, 8:24, 8:24] = np.linspace(0, 1, 10)[:, None, None]
    for vid in ("vidShort01", "vidLong0001"):
        write_video_file(frames, root / "data" / f"{vid}.mp4", fps=5)
    (root / "subtitle").mkdir()
    (root / "subtitle" / "vidLong0001.srt").write_text(SRT, encoding="utf-8")
    rows = [_question("vidShort01", "001", "short", k, answer="ABC"[k - 1]) for k in (1, 2, 3)]
    rows += [_question("vidLong0001", "601", "long", k, answer="D") for k in (1, 2, 3)]
    rows += [_question("vidMissing", "602", "long", 1), _question("vidShort01", "003", "short", 1, answer="E")]
    pq.write_table(pa.Table.from_pylist(rows), root / "videomme" / "test-00000-of-00001.parquet")
    return root


def test_prepare_parquet_release_with_videos_and_subtitles(cli, release, tmp_path):
    out = tmp_path / "vmme.jsonl"
    r = cli("prepare", "video-mme", release, "--out", out)
    assert r.code == 0, r
    assert "converted 6, skipped 2" in r.out and "skipped 1: image file not found (e.g. 602-1)" in r.out
    assert "answer is not one of A, B, C, D (e.g. 003-1)" in r.out and "3 of 6 question(s) have subtitles" in r.out
    recs = read_manifest(out)
    first = recs[0]
    assert first["id"] == "video-mme-001-1" and first["task"] == "mcq" and first["answer"] == "A"
    assert first["images"] == [{"modality": "video", "path": "data/vidShort01.mp4"}]
    assert first["messages"][0]["content"] == ("<video>\n" + INSTRUCTION + "\nQuestion 1 about vidShort01?\n"
                                               "A. one.\nB. two.\nC. three.\nD. four.\nThe best answer is:")
    assert first["choices"] == ["one.", "two.", "three.", "four."]
    assert first["meta"]["duration"] == "short" and first["meta"]["subtitle_path"] is None
    assert recs[3]["meta"]["subtitle_path"] == "subtitle/vidLong0001.srt"
    assert recs[3]["meta"]["task_type"] == "Counting Problem" and recs[3]["meta"]["domain"] == "Knowledge"
    assert json.loads((tmp_path / "vmme.jsonl.meta.json").read_text())["image_root"].endswith("Video-MME")


def test_prepare_nested_json_layout_and_separate_video_folder(cli, release, tmp_path):
    videos = [{"video_id": "001", "duration_category": "short", "video_category": "Knowledge",
               "video_subcategory": "Humanity & History", "videoID": "vidShort01",
               "questions": [{"question_id": "001-1", "task_type": "OCR Problems", "question": "What is written?",
                              "choices": ["one", "two", "three", "four"], "answer": "B"}]}]
    qfile = tmp_path / "questions.json"
    qfile.write_text(json.dumps(videos))
    out = tmp_path / "m.jsonl"
    assert cli("prepare", "video-mme", qfile, "--videos", release / "data", "--out", out).code == 0
    (rec,) = read_manifest(out)
    assert rec["images"][0]["path"] == "vidShort01.mp4" and rec["answer"] == "B"
    assert rec["meta"]["domain"] == "Knowledge" and rec["meta"]["task_type"] == "OCR Problems"
    assert "B. two\n" in rec["messages"][0]["content"]  # bare option texts get their letters


@pytest.mark.parametrize("text, letter", [
    ("B", "B"), ("C.", "C"), ("The best answer is: D", "D"), ("The answer is (A) one.", "A"),
    ("Based on the video, the answer is D.", "B"),  # official: the first capital A-D anywhere ("Based")
    ("the crane is folded by hand in this clip and then shown to the camera again", None),  # > 10 words, none
    ("no idea", None), ("Best answer:Best option: C", "C"), (None, None)])
def test_official_letter_extraction(text, letter):
    assert extract_answer(text) == letter


def _rows():
    rows = []
    for k, (dur, task, domain, answer, pred) in enumerate([
            ("short", "Counting Problem", "Knowledge", "A", "A"), ("short", "Counting Problem", "Knowledge", "B", "C"),
            ("medium", "OCR Problems", "Sports Competition", "C", "C"), ("long", "OCR Problems", "Knowledge", "D", "D"),
            ("long", "OCR Problems", "Knowledge", "A",
             "I cannot tell what happens in this video from the frames given")]):
        rows.append({"question_id": f"q{k}", "video_id": f"v{k // 2}", "duration": dur, "domain": domain,
                     "sub_category": "x", "task_type": task, "answer": answer, "prediction": pred})
    return rows


def test_official_aggregation_leaves_unanswered_out():
    res = VideoMME().score(_rows())
    assert res["answered"] == 4 and res["unparsed"] == 1 and res["subtitles"] == "without"
    assert res["overall"] == pytest.approx(75.0)  # 3 of the 4 answered
    assert res["accuracy_all"] == pytest.approx(60.0)  # 3 of 5 (lmms-eval convention)
    assert res["per_duration"] == {"short": 50.0, "medium": 100.0, "long": 100.0}
    assert res["per_task_type"] == {"OCR Problems": 100.0, "Counting Problem": 50.0}  # official task order
    assert res["per_domain"] == {"Knowledge": pytest.approx(200 / 3), "Sports Competition": 100.0}
    with pytest.raises(Exception, match="rows mix answers made with and without subtitles"):
        VideoMME().score([dict(r, subtitles=s) for r, s in zip(_rows(), ["with", "without"] * 3)])


def test_subtitles_are_the_lines_shown_at_sampled_times(tmp_path):
    path = tmp_path / "a.srt"
    path.write_text(SRT, encoding="utf-8")
    cues = read_srt(path)
    assert cues == [(0.0, 1.5, "Hello and welcome."), (1.5, 4.0, "Today we fold paper cranes.")]
    assert subtitle_text(cues, times=4) == "Hello and welcome.\nToday we fold paper cranes."


def test_with_subtitles_changes_the_prompt_of_subtitled_videos_only(cli, release, tmp_path):
    from medmllm.data.schema import image_root

    manifest = tmp_path / "vmme.jsonl"
    assert cli("prepare", "video-mme", release, "--out", manifest).code == 0
    records = read_manifest(manifest)
    seen = []

    class Capture:
        def generate(self, batch):
            seen.extend(r["messages"][-1]["content"] for r in batch)
            return ["A"] * len(batch)

    bench = VideoMME(subtitles="with")
    bench.bind(tmp_path / "r.json", image_root(manifest))
    rows = bench.predict(Capture(), records)
    assert {r["subtitles"] for r in rows} == {"with"}
    assert seen[0] == records[0]["messages"][0]["content"]  # short video: no subtitles, the plain prompt
    assert seen[3].startswith("<video>\nThis video's subtitles are listed below:\nHello and welcome.\n"
                              "Today we fold paper cranes.\n" + INSTRUCTION)
    assert seen[3].endswith("D. four.\nThe best answer is:")


def test_evaluate_score_and_compare_with_and_without_subtitles(cli, release, tmp_path, jsonl):
    import torch

    from medmllm.models.mllm import MedMLLM

    manifest = tmp_path / "vmme.jsonl"
    assert cli("prepare", "video-mme", release, "--out", manifest).code == 0
    vit = {"name": "vit2d", "image_size": 32, "patch_size": 8, "channels": 3, "hidden_size": 32, "num_layers": 1,
           "num_heads": 2}
    torch.manual_seed(0)
    model = MedMLLM.build({"modalities": {"video": {"encoder": {"name": "frames2d", "num_frames": 4, "encoder": vit},
                                                    "connector": {"name": "temporal_attn", "grid": 2, "heads": 2}}},
                           "llm": {"name": "tiny", "hidden_size": 64, "num_layers": 1, "num_heads": 4,
                                   "vocab_size": 512},
                           "max_length": 512})
    model.save_pretrained(tmp_path / "export")
    results = {}
    for setting in ("without", "with"):
        out = tmp_path / f"res-{setting}"
        r = cli("evaluate", "--checkpoint", tmp_path / "export", "--benchmark", "video-mme", "--data", manifest,
                "--out", out, "--subtitles", setting, "--max-new-tokens", "4")
        assert r.code == 0, r
        res = json.loads((out / "results.json").read_text())
        assert res["benchmark"] == "video-mme" and res["n"] == 6 and res["subtitles"] == setting
        assert {row["subtitles"] for row in jsonl.read(out / "predictions.jsonl")} == {setting}
        again = cli("score-benchmark", "video-mme", "--predictions", out / "predictions.jsonl", "--references",
                    manifest, "--out", tmp_path / f"rescored-{setting}.json")
        assert again.code == 0, again
        rescored = json.loads((tmp_path / f"rescored-{setting}.json").read_text())
        assert rescored["overall"] == res["overall"] and rescored["per_duration"] == res["per_duration"]
        results[setting] = out
    r = cli("compare", results["without"], results["with"])
    assert r.code == 0 and "overall" in r.out
    r = cli("score-benchmark", "video-mme", "--predictions", results["with"] / "predictions.jsonl",
            "--subtitles", "without", "--out", tmp_path / "x.json")
    assert r.code == 2 and "rows were made with subtitles, not without" in r.err
