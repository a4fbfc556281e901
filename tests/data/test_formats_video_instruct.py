"""Video instruction sets in their released layouts: ShareGPT4Video, VideoInstruct-100K, VCG+ 112K, ShareGemini,
ShareGPT-4o (video part) -> manifest records with one <video> each; skips counted per reason."""

import json

import pytest

from medmllm.data.schema import read_manifest


@pytest.fixture
def videos(tmp_path):
    """A video root: ActivityNet-style names, a WebVid file, a ShareGPT4Video zip folder unpacked."""
    root = tmp_path / "videos"
    for rel in ("v_k_n3D2WtzXk.mp4", "v_abc123.mkv", "webvid/1066693327.mp4", "panda_videos_1/AbCdEf_12.mp4",
                "gpt4o/clip_0001.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\x00\x00\x00\x18ftypisom")  # content is not read by prepare
    return root


def _write(path, items, jsonl=False):
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n" if jsonl else json.dumps(items), encoding="utf-8")
    return path


def _prepare(cli, fmt, src, videos, out):
    r = cli("prepare", fmt, src, "--videos", videos, "--out", out)
    assert r.code == 0, r
    return r.out, read_manifest(out)


def test_videoinstruct_q_a_items(cli, tmp_path, videos):
    src = _write(tmp_path / "VideoInstruct_Dataset.json", [
        {"q": "What is the man doing?", "a": "He is skiing down a slope.", "video_id": "v_k_n3D2WtzXk"},
        {"q": "Describe the scene.", "a": "A kitchen.", "video_id": "v_abc123"},
        {"q": "Where?", "a": "Outside.", "video_id": "v_missing"},
        {"q": "Who?", "video_id": "v_abc123"}])
    out, recs = _prepare(cli, "videoinstruct", src, videos, tmp_path / "vi.jsonl")
    assert "converted 2, skipped 2" in out and "video file not found (e.g. v_missing)" in out
    assert "no conversations, q/a pair or caption (e.g. v_abc123)" in out
    assert recs[0]["images"] == [{"modality": "video", "path": "v_k_n3D2WtzXk.mp4"}]
    assert recs[0]["messages"] == [{"role": "user", "content": "<video>\nWhat is the man doing?"},
                                   {"role": "assistant", "content": "He is skiing down a slope."}]
    assert recs[1]["images"][0]["path"] == "v_abc123.mkv" and recs[0]["meta"]["source"] == "videoinstruct"


def test_vcg_plus_and_sharegemini_conversations(cli, tmp_path, videos):
    src = _write(tmp_path / "vcg-plus_112K.json", [
        {"id": "v_k_n3D2WtzXk_0", "video": "v_k_n3D2WtzXk.mp4",
         "conversations": [{"from": "human", "value": "<video>\nWhat happens first?"},
                           {"from": "gpt", "value": "The skier adjusts his goggles."}]},
        {"id": 7, "video": "v_abc123", "conversations": [{"from": "human", "value": "Summarise the video."},
                                                         {"from": "gpt", "value": "Cooking."}]},
        {"id": "x", "video": "v_abc123.mkv", "conversations": [{"from": "human", "value": "<video>\n<video>\nTwo?"},
                                                              {"from": "gpt", "value": "No."}]},
        {"id": "y", "video": "../outside.mp4", "conversations": [{"from": "human", "value": "Q"},
                                                                 {"from": "gpt", "value": "A"}]}])
    out, recs = _prepare(cli, "vcg-plus", src, videos, tmp_path / "vcg.jsonl")
    assert "converted 2, skipped 2" in out and "more <video> placeholders than images (e.g. x)" in out
    assert "video path leaves the video root (e.g. y)" in out
    assert recs[0]["messages"][0]["content"] == "<video>\nWhat happens first?" and recs[0]["task"] == "vqa"
    assert recs[1]["id"] == "7" and recs[1]["messages"][0]["content"] == "<video>\nSummarise the video."
    gemini = _write(tmp_path / "sharegemini.json", [
        {"id": "1066693327", "video": "webvid/1066693327.mp4",
         "conversations": [{"from": "human", "value": "<image>\nDescribe the video in detail."},
                           {"from": "gpt", "value": "A drone shot over a river at dawn."}]}])
    _, (rec,) = _prepare(cli, "sharegemini", gemini, videos, tmp_path / "g.jsonl")
    assert rec["messages"][0]["content"] == "<video>\nDescribe the video in detail."
    assert rec["meta"]["source"] == "sharegemini"


def test_sharegpt4video_keyframe_captions_jsonl(cli, tmp_path, videos):
    src = _write(tmp_path / "sharegpt4video_40k.jsonl", [
        {"video_id": "AbCdEf_12", "video_path": "AbCdEf_12.mp4", "timestamp": [[0, 2.0], [2.0, 4.5]],
         "keyframe": [0, 60], "zip_folder": "panda_videos_1.zip",
         "captions": [{"idx": "0", "content": "A cat sits."}, {"idx": "1", "content": "The cat jumps."},
                      {"idx": "-1", "content": "A grey cat sits on a sofa, then jumps to the floor."}]},
        {"video_id": "NoWhole_1", "zip_folder": "panda_videos_1.zip", "captions": [{"idx": "0", "content": "x"}]}],
        jsonl=True)
    out, (rec,) = _prepare(cli, "sharegpt4video", src, videos, tmp_path / "s4v.jsonl")
    assert "skipped 1: no conversations, q/a pair or caption (e.g. NoWhole_1)" in out
    assert rec["images"][0]["path"] == "panda_videos_1/AbCdEf_12.mp4" and rec["task"] == "caption"
    assert rec["messages"] == [{"role": "user", "content": "<video>\nDescribe this video in detail."},
                               {"role": "assistant", "content": "A grey cat sits on a sofa, then jumps to the floor."}]


def test_sharegpt4o_video_conversations_jsonl(cli, tmp_path, videos):
    src = _write(tmp_path / "video_conversations.jsonl", [
        {"id": "gpt4o-video-1", "video": "gpt4o/clip_0001.mp4",
         "conversations": [{"from": "human", "value": "<video>\nWhat is shown?"},
                           {"from": "gpt", "value": "A street market."},
                           {"from": "human", "value": "Is it raining?"}, {"from": "gpt", "value": "No."}]}],
        jsonl=True)
    _, (rec,) = _prepare(cli, "sharegpt4o-video", src, videos, tmp_path / "o.jsonl")
    assert [m["role"] for m in rec["messages"]] == ["user", "assistant", "user", "assistant"]
    assert rec["messages"][0]["content"].count("<video>") == 1
    r = cli("prepare", "sharegpt4o-video", src, "--videos", tmp_path / "nope", "--out", tmp_path / "p.jsonl")
    assert r.code == 2 and "videos folder not found" in r.err
    r = cli("prepare", "llava", src, "--videos", videos, "--out", tmp_path / "q.jsonl")
    assert r.code == 2 and "--videos does not apply to format 'llava'" in r.err
