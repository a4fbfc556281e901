"""Video files (MP4, WebM, AVI, MKV) through PyAV: frames, times, sampling by time, seeking, bad files."""

import json

import numpy as np
import pytest

from medmllm.io import load_image, load_video, sniff
from medmllm.io.errors import ImageLoadError
from medmllm.io.video_writers import write_video_file

N, FPS, H, W = 40, 10, 32, 64


def _bar_clip(n=N):
    """A bright vertical bar 8 pixels wide whose left edge is at column ``k`` in frame ``k`` (mod 56)."""
    frames = np.zeros((n, H, W))
    for k in range(n):
        x = k % (W - 8)
        frames[k, :, x:x + 8] = 1.0
    return frames


def _bar_left(frame: np.ndarray) -> int:
    cols = frame.mean(axis=(0, 2))
    return int(np.flatnonzero(cols > 0.5)[0])


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "clip.avi", "clip.mkv"])
def test_containers_load_every_frame_at_its_time(tmp_path, name):
    path = write_video_file(_bar_clip(), tmp_path / name, fps=FPS)
    assert sniff(path) == "video"
    img = load_image(path)
    assert img.kind == "video" and img.source_format == "video" and img.shape == (N, H, W, 3)
    assert img.meta["fps"] == pytest.approx(FPS) and img.meta["duration_s"] == pytest.approx(N / FPS)
    assert img.meta["frames_total"] == N and img.meta["timing"] == "container"
    assert [_bar_left(f) for f in img.array[:6]] == [0, 1, 2, 3, 4, 5]  # frame k shows the bar at column k
    assert img.meta["frame_times_s"][:3] == pytest.approx([0.0, 0.1, 0.2])


def test_uniform_and_fps_sampling_pick_the_frames_shown_at_those_times(tmp_path):
    path = write_video_file(_bar_clip(), tmp_path / "clip.mp4", fps=FPS)
    img = load_video(path, num_frames=5)
    assert img.meta["frame_indices"] == [4, 12, 20, 28, 36] and img.shape == (5, H, W, 3)
    assert [_bar_left(f) for f in img.array] == [4, 12, 20, 28, 36]
    fps = load_video(path, num_frames=6, sampling="fps", fps=2)  # every 0.5 s: 8 times over 3.9 s, thinned to 6
    assert fps.meta["sampling"] == "fps" and len(fps.meta["frame_indices"]) == 6
    assert [_bar_left(f) for f in fps.array] == [i % (W - 8) for i in fps.meta["frame_indices"]]


def test_long_video_is_read_by_seeking(tmp_path, monkeypatch):
    import medmllm.io.video_file as vf

    path = write_video_file(_bar_clip(300), tmp_path / "long.mp4", fps=FPS)  # 30 s
    monkeypatch.setattr(vf, "SEEK_GAP_S", 2.0)  # frames 7.5 s apart: each one is reached by a seek
    img = load_video(path, num_frames=4)
    assert img.meta["frame_indices"] == [37, 112, 187, 262]
    assert [_bar_left(f) for f in img.array] == [i % (W - 8) for i in (37, 112, 187, 262)]


def test_bad_video_files_are_one_line(cli, assert_error, tmp_path):
    good = write_video_file(_bar_clip(), tmp_path / "clip.mp4", fps=FPS)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[:200])  # header box only: no movie data
    assert_error(cli("inspect", cut), cut, "video")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 2000)
    assert_error(cli("inspect", junk), junk, "not a readable video")
    with pytest.raises(ImageLoadError, match="40 frames to load is over the limit of 8"):
        load_video(good, max_frames=8)
    assert_error(cli("inspect", tmp_path / "clip.mp4", "--max-bytes", "100k"), tmp_path / "clip.mp4",
                 "decoded size", "sample fewer frames")
    png = tmp_path / "x.png"
    from medmllm.io.writers import write_png

    write_png(np.zeros((4, 4)), png)
    with pytest.raises(ImageLoadError, match="a png file is not a clip"):
        load_video(png)


def test_inspect_json_of_a_video_file(cli, tmp_path):
    path = write_video_file(_bar_clip(), tmp_path / "clip.webm", fps=FPS)
    r = cli("inspect", path, "--json", "--frames", "4")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["kind"] == "video" and info["shape"] == [4, H, W, 3] and info["frames_total"] == N
    assert info["fps"] == pytest.approx(FPS) and info["duration_s"] == pytest.approx(4.0)
    assert info["meta"]["codec"] == "vp9" and info["meta"]["frame_times_s"] == pytest.approx([0.5, 1.5, 2.5, 3.5])
