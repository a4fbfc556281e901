"""medmllm inspect: load one image and print its facts (optionally a preview PNG)."""

NAME = "inspect"
HELP = "load one image (DICOM file/folder/zip, NIfTI, NRRD, PNG/JPEG/TIFF, cine DICOM or video) and print its facts"
DESCRIPTION = """Load one image the way training and inference do, and print what was loaded.

PATH is a DICOM file (X-ray, CT slice, enhanced CT, cine clip: multi-frame US / XA / RF / ES), a
folder, zip or list of DICOM files (one CT series), a NIfTI / NRRD volume, a PNG / JPEG / TIFF
image, or a video file (MP4, MOV, WebM, MKV, AVI); the format is read from the content.
Values describe the loaded array: X-rays in [0, 1] (bone bright), CT in HU with axes (D, H, W) =
(inferior->superior, anterior->posterior, right->left), clips (T, H, W, C) in [0, 1] with their frame
time and duration (--frames N samples N frames uniformly). No patient identifiers are printed.

examples:
  medmllm inspect chest.dcm --preview chest.png
  medmllm inspect ct_folder/ --json
  medmllm inspect study.zip --series 1.2.840.113619.2.55.3.1234
  medmllm inspect echo.dcm --frames 16 --json --preview echo.png
"""
ORDER = 10


def parse_size(text: str) -> int:
    """'2G', '500M', '64k', '1073741824' -> bytes (binary units)."""
    import argparse

    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(num) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 2G, 500M, 1048576)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value


def add_arguments(parser):
    parser.add_argument("path", nargs="+", help="image file, DICOM folder or zip, or several DICOM files of one series")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--preview", metavar="PNG", help="write a preview PNG (CT: mid slices in a lung window)")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID (or SeriesNumber) when a folder holds several")
    parser.add_argument("--kind", choices=["xray", "image", "ct", "video"],
                        help="expected kind (forces a DICOM pipeline)")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help="clips: load N frames sampled uniformly (default: every frame, at most 4096)")
    parser.add_argument("--max-bytes", type=parse_size, default=None, metavar="SIZE",
                        help="largest decoded image, stored pixel data or decompressed content allowed "
                             "(default 2G; see docs/reading-images.md)")
    parser.add_argument("--max-files", type=int, default=None, metavar="N",
                        help="most files a folder or zip may hold (default 10000)")
    parser.add_argument("--workers", type=int, default=1, help="threads reading a DICOM series (default 1)")


def facts(img) -> dict:
    """The JSON facts of a :class:`~medmllm.io.MedicalImage` (values of the loaded array)."""
    arr = img.array
    out = {
        "kind": img.kind,
        "source_format": img.source_format,
        "modality": img.meta.get("modality"),
        "shape": list(arr.shape),
        "spacing": None if img.spacing is None else [round(float(s), 6) for s in img.spacing],
        "dtype": str(arr.dtype),
        "min": round(float(arr.min()), 6),
        "max": round(float(arr.max()), 6),
        "mean": round(float(arr.mean(dtype="float64")), 6),
        "photometric": img.meta.get("photometric"),
        "slices": int(arr.shape[0]) if img.kind == "ct" else None,
    }
    if img.kind == "video":
        out.update({k: img.meta.get(k) for k in ("frames_total", "frame_time_ms", "fps", "duration_s")})
        out["frames"] = int(arr.shape[0])
    out["meta"] = {k: v for k, v in img.meta.items() if k not in out}
    return out


def run(args):
    import json
    import logging

    from medmllm.io import load_image
    from medmllm.io.errors import printable
    from medmllm.io.phi import FLAGGED
    from medmllm.io.types import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES

    log = logging.getLogger("medmllm.inspect")
    source = args.path[0] if len(args.path) == 1 else list(args.path)
    if args.frames is not None or args.kind == "video":
        from medmllm.errors import InputError
        from medmllm.io import load_video

        if args.frames is not None and args.frames < 1:
            raise InputError(None, f"--frames must be at least 1, got {args.frames}")
        if not isinstance(source, str):
            raise InputError(None, "a clip is one file; give one PATH")
        img = load_video(source, num_frames=args.frames, max_bytes=args.max_bytes or DEFAULT_MAX_BYTES)
    else:
        img = load_image(source, series=args.series, kind=args.kind, workers=max(1, args.workers),
                         max_bytes=args.max_bytes or DEFAULT_MAX_BYTES, max_files=args.max_files or DEFAULT_MAX_FILES)
    info = facts(img)
    if args.preview:
        from medmllm.io.preview import write_preview

        info["preview"] = printable(write_preview(img, args.preview))  # a non-UTF-8 name shown as \xNN
    if info["meta"].get("burned_in_annotation") in FLAGGED:
        log.warning("pixels may carry burned-in annotation (identifiers); check before sharing")
    if args.json:
        print(json.dumps(info))
        return 0
    unit = " HU" if img.kind == "ct" else ""
    axes = {"ct": " (D, H, W)", "xray": " (H, W)", "image": " (H, W, C)", "video": " (T, H, W, C)"}[img.kind]
    print(f"{'kind':<22} {info['kind']} ({info['source_format']})")
    print(f"{'shape':<22} {' x '.join(map(str, info['shape']))}{axes}")
    if info["spacing"]:
        print(f"{'spacing':<22} {' x '.join(f'{s:.3f}' for s in info['spacing'])} mm")
    print(f"{'values':<22} {info['dtype']}, min {info['min']:.4g}{unit}, max {info['max']:.4g}{unit}, "
          f"mean {info['mean']:.4g}{unit}")
    for key in ("modality", "photometric", "slices", "frames_total", "frame_time_ms", "fps", "duration_s"):
        if info.get(key) is not None:
            print(f"{key:<22} {info[key]}")
    for key, value in info["meta"].items():
        if value not in (None, "", []):
            shown = value if not isinstance(value, list) else ", ".join(map(str, value)) if len(value) <= 16 \
                else f"{len(value)} values ({', '.join(map(str, value[:4]))} ...)"
            print(f"{key.replace('_', ' '):<22} {shown}")
    if args.preview:
        print(f"{'preview':<22} {info['preview']}")
    return 0
