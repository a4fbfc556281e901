"""Cine DICOM (US / XA / RF / ES) as kind ``video``: pydicom's real clips, written clips, timing, sampling, limits."""

import json

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut, pixel_array

from medmllm.io import load_image, load_video
from medmllm.io.errors import ImageLoadError
from medmllm.io.frames import select_frames, uniform_indices
from medmllm.io.video_writers import write_cine_dicom


def _clip(t=12, h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w)) / 255.0


def test_jpeg_baseline_ybr_ultrasound_clip_is_rgb_frames_with_frame_time():
    path = get_testdata_file("examples_ybr_color.dcm")  # 30 frames, JPEG Baseline, YBR_FULL_422, FrameTime 33.333
    img = load_image(path)
    assert img.kind == "video" and img.source_format == "dicom" and img.shape == (30, 240, 320, 3)
    assert img.array.dtype == np.float32 and img.meta["modality"] == "US"
    assert img.meta["timing"] == "FrameTime" and img.meta["frame_time_ms"] == pytest.approx(33.333)
    assert img.meta["fps"] == pytest.approx(30.0, abs=1e-3) and img.meta["duration_s"] == pytest.approx(1.0, abs=1e-4)
    assert img.meta["frame_times_s"][:3] == pytest.approx([0.0, 0.033333, 0.066666], abs=1e-5)
    reference = pixel_array(pydicom.dcmread(path))  # pydicom's own decode (YBR -> RGB)
    for k in (0, 17, 29):
        np.testing.assert_allclose(img.array[k], reference[k] / 255.0, atol=1e-6)
    assert img.meta["burned_in_annotation"] == "likely"  # ultrasound without the flag


def test_uniform_sampling_decodes_only_the_chosen_frames_and_matches_the_full_clip():
    path = get_testdata_file("examples_ybr_color.dcm")
    full = load_image(path).array
    img = load_video(path, num_frames=4)
    assert img.meta["frame_indices"] == [3, 11, 18, 26] and img.meta["frames_total"] == 30
    assert img.meta["sampling"] == "uniform" and img.shape == (4, 240, 320, 3)
    np.testing.assert_array_equal(img.array, full[[3, 11, 18, 26]])
    assert img.meta["frame_times_s"] == pytest.approx([0.1, 0.366663, 0.599994, 0.866658], abs=1e-5)


def test_palette_and_rle_rgb_clips():
    path = get_testdata_file("OBXXXX1A_2frame.dcm")  # US, PALETTE COLOR, 16-bit lookup tables
    img = load_image(path)
    ds = pydicom.dcmread(path)
    assert img.kind == "video" and img.shape == (2, 600, 800, 3)
    np.testing.assert_allclose(img.array, apply_color_lut(ds.pixel_array, ds) / 65535.0, atol=1e-6)
    rle = load_image(get_testdata_file("OBXXXX1A_rle_2frame.dcm"))  # the same clip, RLE Lossless
    np.testing.assert_allclose(rle.array, img.array, atol=1e-6)
    rgb = load_image(get_testdata_file("SC_rgb_rle_2frame.dcm"))  # multi-frame secondary capture, RLE
    ref = pydicom.dcmread(get_testdata_file("SC_rgb_rle_2frame.dcm")).pixel_array / 255.0
    assert rgb.kind == "video" and rgb.shape == (2, 100, 100, 3)
    np.testing.assert_allclose(rgb.array, ref, atol=1e-6)
    assert rgb.meta["timing"] is None and rgb.meta["fps"] is None and rgb.meta["duration_s"] is None


def test_single_frame_ultrasound_is_a_2d_image_or_a_one_frame_clip():
    path = get_testdata_file("US1_UNCR.dcm")  # one RGB frame
    assert load_image(path).kind == "xray"  # the 2D slot can take it
    clip = load_video(path)
    assert clip.kind == "video" and clip.shape == (1, 480, 640, 3)
    np.testing.assert_allclose(clip.array[0], load_image(path, kind="image").array, atol=1e-6)


@pytest.mark.parametrize("timing", ["FrameTime", "CineRate", "FrameTimeVector"])
@pytest.mark.parametrize("modality", ["XA", "RF"])
def test_grayscale_angiography_and_fluoroscopy_round_trip(tmp_path, timing, modality):
    frames = _clip()
    path = write_cine_dicom(frames, tmp_path / "run.dcm", modality=modality, frame_time_ms=62.5, timing=timing)
    img = load_image(path)
    assert img.kind == "video" and img.shape == (12, 24, 32, 1) and img.meta["modality"] == modality
    np.testing.assert_allclose(img.array[..., 0], frames, atol=1e-6)  # 8-bit shown as stored
    assert img.meta["timing"] == timing and img.meta["fps"] == pytest.approx(16.0)
    assert img.meta["duration_s"] == pytest.approx(0.75)
    assert img.meta["frame_times_s"][-1] == pytest.approx(11 * 0.0625)


def test_window_and_endoscopy_colour(tmp_path):
    path = write_cine_dicom(_clip(), tmp_path / "xa.dcm", modality="XA")
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 128, 128  # values 64..192 span the display
    ds.save_as(path)
    img = load_image(path)
    stored = ds.pixel_array.astype(np.float64)
    expected = np.clip((stored - (128 - 0.5)) / 127 + 0.5, 0, 1)  # DICOM linear window (PS3.3 C.11.2.1.2)
    np.testing.assert_allclose(img.array[..., 0], expected, atol=2e-3)
    assert img.meta["voi"] == "window"
    rgb = np.stack([_clip(6, 16, 16, seed=s) for s in range(3)], axis=-1)
    es = load_image(write_cine_dicom(rgb, tmp_path / "es.dcm", modality="ES", frame_time_ms=40))
    assert es.kind == "video" and es.shape == (6, 16, 16, 3) and es.meta["fps"] == pytest.approx(25.0)
    np.testing.assert_allclose(es.array, rgb, atol=1e-6)


def test_fps_sampling_keeps_the_time_scale_and_pads_short_clips(tmp_path):
    path = write_cine_dicom(_clip(20), tmp_path / "us.dcm", modality="US", frame_time_ms=100)  # 2 s at 10 frames/s
    img = load_video(path, num_frames=8, sampling="fps", fps=2)
    assert img.meta["frame_indices"] == [0, 5, 10, 15, 15, 15, 15, 15] and img.meta["padded_frames"] == 4
    thin = load_video(path, num_frames=3, sampling="fps", fps=5)  # 10 times at 5/s, thinned to 3
    assert thin.meta["frame_indices"] == [2, 10, 16] and thin.meta["padded_frames"] == 0
    untimed = write_cine_dicom(_clip(20), tmp_path / "untimed.dcm", modality="US", frame_time_ms=None)
    assert load_video(untimed, num_frames=4, sampling="fps", fps=2).meta["sampling"] == "uniform"


def test_frame_selection_rules():
    assert uniform_indices(30, 4).tolist() == [3, 11, 18, 26]
    assert uniform_indices(9, 1).tolist() == [4]  # one frame: the middle one
    assert uniform_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # a short clip is stretched
    assert select_frames(5, None).indices.tolist() == [0, 1, 2, 3, 4]
    sel = select_frames(5, 2, "all")
    assert sel.sampling == "all" and len(sel.indices) == 5


@pytest.mark.parametrize("value, phrase", [(-5, "FrameTime is -5; expected a finite positive number"),
                                           (0, "FrameTime is 0")])
def test_bad_frame_time_is_one_line(cli, assert_error, tmp_path, value, phrase):
    path = write_cine_dicom(_clip(4), tmp_path / "bad.dcm", modality="US")
    ds = pydicom.dcmread(path)
    ds["FrameTime"].value = value
    ds.save_as(path)
    assert_error(cli("inspect", path), path, phrase)


def test_limits_are_one_line_errors(cli, assert_error, tmp_path):
    path = write_cine_dicom(_clip(12), tmp_path / "us.dcm", modality="US")
    with pytest.raises(ImageLoadError, match="12 frames to load is over the limit of 10"):
        load_video(path, max_frames=10)
    assert load_video(path, num_frames=10, max_frames=10).shape[0] == 10
    with pytest.raises(ImageLoadError, match="frames of 32 x 24 pixels are over the limit of 500 pixels"):
        load_video(path, max_pixels=500)
    assert_error(cli("inspect", path, "--max-bytes", "20k"), path, "decoded size", "over the limit of 20.0 KiB")
    assert cli("inspect", path, "--max-bytes", "20k", "--frames", "4").code == 0
    r = cli("inspect", path, "--frames", "0")
    assert r.code == 2 and "--frames must be at least 1" in r.err


def test_inspect_json_reports_frames_timing_and_preview(cli, tmp_path):
    path = write_cine_dicom(_clip(12), tmp_path / "us.dcm", modality="US", frame_time_ms=50, burned_in="NO")
    r = cli("inspect", path, "--json", "--frames", "6", "--preview", tmp_path / "p.png")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["kind"] == "video" and info["shape"] == [6, 24, 32, 1] and info["frames"] == 6
    assert info["frames_total"] == 12 and info["fps"] == pytest.approx(20.0)
    assert info["duration_s"] == pytest.approx(0.6)
    assert info["meta"]["frame_indices"] == [1, 3, 5, 7, 9, 11]
    from PIL import Image

    assert Image.open(tmp_path / "p.png").size == (6 * 32 + 5 * 4, 24)  # six frames side by side
    text = cli("inspect", path)
    assert text.code == 0 and "(T, H, W, C)" in text.out and "duration_s" in text.out
