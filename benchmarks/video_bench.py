"""Benchmark: clip decoding speed, tokens per clip, and the motion probe (video model vs one frame).

1. Decode speed, frames/s, best of N, each against a bare baseline in the same process:
   - cine DICOM, JPEG Baseline YBR (pydicom-data's ``color3d_jpeg_baseline.dcm``, 120 x 480 x 640):
     ``load_image`` (every frame) and ``load_video(num_frames=8)`` vs ``pydicom.pixels.iter_pixels``
     (decode + YBR->RGB, uint8, no float conversion);
   - cine DICOM, uncompressed 8-bit grayscale XA (written here, 200 x 512 x 512): the same;
   - H.264 MP4 (written here, 300 x 480 x 640): ``load_image`` vs PyAV's ``to_ndarray('rgb24')`` loop,
     and ``load_video(num_frames=8)`` (seeks).
2. Tokens per clip of the video slot configurations in docs/video.md.
3. The learnability probe (``medmllm.training.probes.run_probe``): held-out accuracy of the
   video model (8 frames) and of the single-frame control, with the shuffled-frames control.

    python benchmarks/video_bench.py [--repeats 3] [--no-probe]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def pydicom_frames(path: Path) -> int:
    import pydicom
    from pydicom.pixels import iter_pixels

    return sum(1 for _ in iter_pixels(pydicom.dcmread(path)))


def pyav_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for f in c.decode(c.streams.video[0]) if f.to_ndarray(format="rgb24") is not None)


def decode_table(tmp: Path, repeats: int) -> None:
    from pydicom.data import get_testdata_file

    from medmllm.io import load_image, load_video
    from medmllm.io.video_writers import write_cine_dicom, write_video_file

    rng = np.random.default_rng(0)
    xa = write_cine_dicom(rng.random((200, 512, 512)), tmp / "xa.dcm", modality="XA")
    ramp = np.linspace(0, 0.8, 640)[None, None, :, None]
    mp4 = write_video_file(rng.random((300, 480, 640, 3)) * 0.2 + ramp, tmp / "clip.mp4", fps=30)
    cases = [("JPEG Baseline YBR cine, 120 x 480 x 640", Path(get_testdata_file("color3d_jpeg_baseline.dcm")),
              120, pydicom_frames, "pydicom iter_pixels"),
             ("uncompressed XA, 200 x 512 x 512", xa, 200, pydicom_frames, "pydicom iter_pixels"),
             ("H.264 MP4, 300 x 480 x 640", mp4, 300, pyav_frames, "PyAV to_ndarray")]
    print(f"{'clip':<42} {'reader':<26} {'s':>7} {'frames/s':>9} {'vs baseline':>12}")
    for name, path, n, base_fn, base_name in cases:
        base = best(lambda: base_fn(path), repeats)
        full = best(lambda: load_image(path), repeats)
        eight = best(lambda: load_video(path, num_frames=8), repeats)
        print(f"{name:<42} {base_name:<26} {base:7.3f} {n / base:9.0f} {'1.00x':>12}")
        print(f"{'':<42} {'load_image (all frames)':<26} {full:7.3f} {n / full:9.0f} {full / base:11.2f}x")
        print(f"{'':<42} {'load_video(num_frames=8)':<26} {eight:7.3f} {8 / eight:9.0f} {eight / base:11.2f}x")


def token_table() -> None:
    from medmllm.models.mllm import MedMLLM

    vit = {"name": "vit2d", "image_size": 224, "patch_size": 16, "channels": 3, "hidden_size": 64, "num_layers": 1,
           "num_heads": 2}
    slots = {
        "frames2d (16 f, ViT/16) + temporal_attn grid 4, 2 time tokens": {
            "encoder": {"name": "frames2d", "num_frames": 16, "encoder": vit},
            "connector": {"name": "temporal_attn", "grid": 4, "time_tokens": 2, "heads": 2}},
        "frames2d (16 f, ViT/16) + perceiver 64": {
            "encoder": {"name": "frames2d", "num_frames": 16, "encoder": vit},
            "connector": {"name": "perceiver", "num_latents": 64, "depth": 1, "heads": 2}},
        "frames2d (16 f, ViT/16) + spatial_pool [16, 4, 4]": {
            "encoder": {"name": "frames2d", "num_frames": 16, "encoder": vit},
            "connector": {"name": "spatial_pool", "grid": [16, 4, 4]}},
        "vit3d (16 x 224 x 224, tubelet 2 x 16 x 16) + spatial_pool [4, 4, 4]": {
            "encoder": {"name": "vit3d", "image_size": [16, 224, 224], "patch_size": [2, 16, 16], "channels": 3,
                        "hidden_size": 64, "num_layers": 1, "num_heads": 2},
            "connector": {"name": "spatial_pool", "grid": [4, 4, 4]}},
    }
    print(f"\n{'video slot':<70} {'encoder tokens':>15} {'LLM tokens':>11}")
    for name, slot in slots.items():
        m = MedMLLM.build({"modalities": {"video": slot}, "llm": {"name": "tiny", "hidden_size": 64, "num_layers": 1,
                                                                  "num_heads": 4}})
        spec = m.input_spec("video")
        shape = (spec["channels"], *spec["spatial_size"])
        print(f"{name:<70} {m.encoders['video'].num_tokens(shape):>15} {m.num_image_tokens('video', shape):>11}")


def probe_table() -> None:
    import torch

    from medmllm.training.probes import run_probe

    torch.set_num_threads(2)
    print(f"\n{'probe (direction of motion, 128 held-out clips)':<50} {'accuracy':>9} {'shuffled':>9} {'s':>6}")
    for name, kw in (("video model, frames2d + temporal_attn, 8 frames", {}),
                     ("video model, vit3d tubelets, 8 frames", {"encoder": "vit3d"}),
                     ("single-frame control (middle frame)", {"num_frames": 1})):
        t0 = time.perf_counter()
        res = run_probe(**kw)
        print(f"{name:<50} {res['accuracy']:9.3f} {res['shuffled_frames']:9.3f} {time.perf_counter() - t0:6.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-probe", action="store_true", help="skip the probe (about a minute on 2 cores)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="medmllm-video-bench-") as tmp:
        decode_table(Path(tmp), args.repeats)
    token_table()
    if not args.no_probe:
        probe_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
