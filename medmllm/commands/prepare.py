"""medmllm prepare: convert a dataset in its published format into a medmllm manifest."""

NAME = "prepare"
HELP = "convert a dataset (public report datasets, general MLLM data, hospital folders) into a manifest"
DESCRIPTION = """Convert a dataset in its published format into a JSONL manifest.

Formats: iu-xray (OpenI XML + PNG), r2gen (R2Gen annotation.json, IU X-ray or MIMIC-CXR),
mimic-cxr (MIMIC-CXR-JPG / DICOM + reports + CSVs), chexpert-plus, ct-rate, hf-datasets
(save_to_disk folder or parquet), llava (LLaVA-Instruct, ShareGPT4V, ShareGPT-4o, ALLaVA,
LVIS-Instruct4V), scienceqa, seed-bench, mme (both folder layouts), mllm-bench, p2med-dir
(hospital case folders); text-rich images: icdar-lsvt, icdar-rctw, anyword (OCR), chartqa, dvqa,
docvqa, infovqa, image-text-pairs (WuKong-style captions), mplug-owl3-eval; video: video-mme and the
video instruction sets sharegpt4video, videoinstruct, vcg-plus, sharegemini, sharegpt4o-video (video
folder: --videos). docs/datasets.md, docs/text-rich.md and docs/video.md have one command per
public dataset.
Prints `converted N, skipped M` and one line per reason a sample was skipped. Image paths in the
manifest are relative to the image root (--images, or the dataset's own folder); when that is not
the manifest's folder it is written to the sidecar `<manifest>.meta.json`.

With --optimize DIR the converted samples are also preprocessed (transforms + tokens, see
--config) and written as litdata chunks that `data.streaming` can stream from a folder or an
object store.
"""
from pathlib import Path
from typing import Any

ORDER = 30

# CLI dest -> (converter keyword, default); only keywords a converter accepts are passed to it.
OPTIONS = {"images": None, "split": None, "check_images": True, "include_video": False, "keep_text": False,
           "ct_series": None, "ct_prefer": "most-slices", "xray_view": None, "task": None, "reports": None,
           "target": "findings", "context": True, "reconstructions": "all", "columns": None, "ocr_tasks": None,
           "videos": None, "subtitles": None}


def add_arguments(parser):
    parser.add_argument("format", help="dataset format (see `medmllm info` for the list)")
    parser.add_argument("src", help="the dataset file or folder")
    parser.add_argument("--out", required=True, metavar="MANIFEST", help="the JSONL manifest to write")
    parser.add_argument("--images", metavar="DIR", help="image root the dataset's image paths are relative to")
    parser.add_argument("--split", help="split to write (or, for datasets with splits, the split to keep); "
                        "p2med-dir, iu-xray: 'auto' = by a hash of the patient (the default)")
    parser.add_argument("--no-check-images", dest="check_images", action="store_false",
                        help="keep samples whose image file does not exist (default: skip and count them)")
    parser.add_argument("--task", help="llava: task written into every record (default caption/vqa by content)")
    parser.add_argument("--include-video", action="store_true", help="seed-bench: keep video questions")
    parser.add_argument("--videos", metavar="DIR",
                        help="video-mme and the video instruction sets: folder the video file names are relative to")
    parser.add_argument("--subtitles", metavar="DIR", help="video-mme: folder of the <videoID>.srt subtitles")
    parser.add_argument("--keep-text", action="store_true",
                        help="p2med-dir: do not scrub identifiers from report and record text")
    parser.add_argument("--ct-series", metavar="UID_OR_NUMBER",
                        help="p2med-dir: use this CT series where a case has it (default: the rule)")
    parser.add_argument("--ct-prefer", choices=("most-slices", "thinnest"), default="most-slices",
                        help="p2med-dir: CT rule after 'axial' (default most-slices, then thinnest)")
    parser.add_argument("--xray-view", metavar="ORDER",
                        help="p2med-dir, mimic-cxr, chexpert-plus: X-ray view order, e.g. AP,PA,LATERAL, or 'all' "
                        "(default PA,AP,LATERAL)")
    parser.add_argument("--target", choices=("findings", "findings-impression"), default="findings",
                        help="iu-xray, mimic-cxr, chexpert-plus, ct-rate: what the model writes (default: the "
                        "findings section; see docs/datasets.md for which papers use which)")
    parser.add_argument("--no-context", dest="context", action="store_false",
                        help="iu-xray, mimic-cxr, chexpert-plus, ct-rate: leave the indication out of the prompt")
    parser.add_argument("--reports", metavar="DIR",
                        help="mimic-cxr: the reports folder holding files/pXX/... (default SRC/mimic-cxr-reports)")
    parser.add_argument("--reconstructions", choices=("all", "first"), default="all",
                        help="ct-rate: one record per volume (all, default) or per scan (first)")
    parser.add_argument("--columns", metavar="KEY=COL,...",
                        help="hf-datasets (image-text-pairs: image, caption, id): column names, keys image, report, findings, impression, prompt, context, "
                        "id, patient, split (default image=image,report=report)")
    parser.add_argument("--ocr-tasks", metavar="KINDS",
                        help="icdar-lsvt, icdar-rctw, anyword: record kinds, some of read,region,question (default all)")
    parser.add_argument("--optimize", metavar="DIR", help="also write preprocessed litdata chunks to DIR")
    parser.add_argument("--config", metavar="YAML",
                        help="with --optimize: config whose model/data sections give transforms and tokenizer")


def converter_kwargs(fn, args) -> dict:
    """The options of ``args`` that ``fn`` accepts; a non-default option it does not accept is an error."""
    import inspect

    from medmllm.errors import InputError

    params = inspect.signature(fn).parameters
    kwargs = {}
    for dest, default in OPTIONS.items():
        value = getattr(args, dest, default)
        if dest in params:
            kwargs[dest] = value
        elif value != default:
            flag = {"check_images": "--no-check-images", "context": "--no-context"}.get(dest, "--" + dest.replace("_", "-"))
            raise InputError(None, f"{flag} does not apply to format '{args.format}'")
    return kwargs


def run(args):
    import os

    from medmllm.data.schema import sidecar_path, validate_record, write_manifest
    from medmllm.errors import InputError
    from medmllm.registry import FORMATS

    fn, _ = FORMATS.get(args.format)
    if args.optimize and not args.config:
        raise InputError(None, "--optimize needs --config (its model section gives sizes and the tokenizer)")
    if args.config and not args.optimize:
        raise InputError(None, "--config is used only with --optimize")
    src = Path(args.src)
    if not src.exists():
        raise InputError(src, "not found")
    conv = fn(src, **converter_kwargs(fn, args))
    for line in conv.summary_lines():
        print(line)
    if not conv.records:
        raise InputError(src, "no sample converted (see the reasons above)")
    for rec in conv.records:
        errs = validate_record(rec)
        if errs:
            raise InputError(src, f"sample '{rec.get('id')}' would be invalid: {errs[0]}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    root = Path(conv.image_root).resolve()
    if root == out.parent.resolve():
        sidecar_path(out).unlink(missing_ok=True)
        write_manifest(out, conv.records)
    else:
        write_manifest(out, conv.records, image_root=os.path.relpath(root, out.parent.resolve()))
    print(f"wrote {out} ({len(conv.records)} record(s); image root {root})")
    if args.optimize:
        optimize_from_cli(out, Path(args.optimize), args)
    return 0


def optimize_from_cli(manifest: Path, out: Path, args: Any) -> None:
    """``prepare --optimize``: build the model's pipelines and tokenizer from ``--config`` and write chunks."""
    from medmllm.config import DataConfig, from_dict, load_config
    from medmllm.data.collate import Collator
    from medmllm.data.dataset import ManifestDataset
    from medmllm.data.streaming import optimize_dataset
    from medmllm.data.transforms import build_pipelines
    from medmllm.errors import ConfigError
    from medmllm.models.mllm import build_model

    if not args.config:
        raise ConfigError(None, "--optimize needs --config (its model section gives sizes and the tokenizer)")
    cfg = load_config(args.config)
    model = build_model(cfg.get("model") or {})
    data_cfg = from_dict(DataConfig, cfg.get("data"), "data")
    pipes = build_pipelines({m: model.input_spec(m) for m in model.config.modalities}, data_cfg.transforms)
    ds = ManifestDataset.from_manifest(manifest, pipes, answer_as_target=data_cfg.answer_as_target)
    collator = Collator(model.tokenizer, model.num_image_tokens, model.config.max_length,
                        system_prompt=model.config.system_prompt)
    n = optimize_dataset(ds, out, collator=collator)
    print(f"wrote {n} preprocessed sample(s) as litdata chunks to {out}")
