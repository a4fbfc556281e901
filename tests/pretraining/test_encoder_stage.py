"""The ``encoder`` stage end to end on synthetic cases: training, export, hand-off to align, benchmark.

One module-scoped run of ``medmllm train``: a pipeline (encoder on the reports -> align on the
closed questions), plus the same align stage from an untrained encoder. The align stage trains the
connectors and the from-scratch LLM (encoders frozen) on yes/no questions about the findings, whose
answers only the image gives; its validation loss on held-out cases is lower when it starts from the
pretrained encoder. Marked slow (one to two minutes on 2 cores).
"""

import copy
import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

ENC_STEPS, ALIGN_STEPS = 150, 400
PROBE = 300  # training images of the linear probe


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """1000 synthetic cases (64x64 X-ray PNG, 8x32x32 CT NIfTI), reports and closed questions in English;
    75/10/15% train/val/test patients."""
    from medmllm.data.synthetic import SynthConfig, generate

    out = tmp_path_factory.mktemp("enc-synth")
    cfg = SynthConfig(xray_size=(64, 64), ct_shape=(8, 32, 32), langs=("en",), tasks=("report", "vqa"),
                      prevalence="balanced", split=(0.75, 0.1, 0.15), png_share=1.0, mono1_share=0.0,
                      nifti_share=1.0, vqa_per_case=4)
    generate(out, cases=1000, seed=13, config=cfg, progress=False, workers=2)
    return out / "manifest.jsonl"


def _config(manifest, run_dir, cache):
    data = {"train": [{"path": str(manifest)}], "val": [{"path": str(manifest)}], "tasks": ["report"],
            "batch_size": 32, "num_workers": 0, "cache_dir": str(cache),
            "transforms": {"augment": {"enabled": False}, "ct": {"spacing": None}}}
    model = {"modalities": {
        "xray": {"encoder": {"name": "resnet2d", "image_size": 64, "channels": 1, "widths": [16, 16, 32, 64],
                             "mean": [0.43], "std": [0.31]}, "connector": {"name": "mlp2x_gelu"}},
        "ct": {"encoder": {"name": "resnet3d", "image_size": [8, 32, 32], "channels": 1, "widths": [8, 8, 16, 32]},
               "connector": {"name": "mlp2x_gelu"}}},
        "llm": {"name": "tiny", "hidden_size": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 512, "seed": 0},
        "max_length": 512}
    train = {"precision": "32-true", "log_every_n_steps": 10, "run_dir": str(run_dir), "seed": 0,
             "checkpoint": {"save_top_k": 0}, "eval": {"num_samples": 0, "clinical_subset": 0}}
    pipeline = [
        {"name": "encoder", "train": {"stage": "encoder", "max_steps": ENC_STEPS, "val_every_n_steps": ENC_STEPS,
                                      "optim": {"lr": 3e-3},
                                      "pretrain": {"embed_dim": 32, "label_weight": 5.0,
                                                   "text": {"name": "small", "width": 64, "layers": 1, "heads": 2}}}},
        {"name": "align", "data": {"tasks": ["vqa"]},
         "train": {"stage": "align", "max_steps": ALIGN_STEPS, "val_every_n_steps": ALIGN_STEPS,
                   "trainable": {"llm": "full"}, "optim": {"lr": 3e-3}}},
    ]
    return {"model": model, "data": data, "train": train, "pipeline": pipeline}


@pytest.fixture(scope="module")
def runs(cases, tmp_path_factory):
    """The encoder -> align pipeline, and the same align stage from an untrained encoder."""
    from medmllm.training.train import train

    root = tmp_path_factory.mktemp("enc-runs")
    cfg = _config(cases, root / "pipeline", root / "cache")
    pipe = train(copy.deepcopy(cfg), quiet=True)
    scratch = copy.deepcopy(cfg)
    scratch["pipeline"] = scratch["pipeline"][1:]
    scratch["train"]["run_dir"] = str(root / "scratch")
    random_align = train(scratch, quiet=True)
    return pipe, random_align


def test_export_holds_model_and_heads_and_align_starts_from_its_encoders(runs):
    from safetensors.torch import load_file

    from medmllm.config import read_yaml

    pipe, _ = runs
    enc, align = pipe.exports["encoder"], pipe.exports["align"]
    for name in ("mm.safetensors", "medmllm.yaml", "pretrain_heads.safetensors", "pretrain_heads.yaml", "README.md"):
        assert (enc / name).is_file(), name
    assert not (align / "pretrain_heads.yaml").exists()
    a, b = load_file(str(enc / "mm.safetensors")), load_file(str(align / "mm.safetensors"))
    keys = [k for k in a if k.startswith("encoders.")]
    assert {k.split(".")[1] for k in keys} == {"xray", "ct"}
    assert all(torch.equal(a[k], b[k]) for k in keys)  # loaded identically and kept frozen (BN stats too)
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("connectors."))  # align trained these
    doc = read_yaml(align / "medmllm.yaml")
    assert doc["trainable"]["trainable"]["encoders"] == 0 and doc["trainable"]["trainable"]["connectors"] > 0
    heads = read_yaml(enc / "pretrain_heads.yaml")
    assert heads["modalities"] == ["xray", "ct"] and heads["embed_dim"] == 32 and len(heads["labels"]) == 16
    first = read_yaml(enc / "medmllm.yaml")
    assert first["stage"]["kind"] == "encoder" and first["stage"]["steps"] == ENC_STEPS
    assert first["metrics"]["val/xray/head_auroc"] > 0.8


def test_encoder_export_initialises_any_model_with_identical_weights(runs):
    from medmllm.models.checkpoint import read_export
    from medmllm.models.mllm import MedMLLM

    pipe, _ = runs
    enc = pipe.exports["encoder"]
    _, doc = read_export(enc)
    cfg = copy.deepcopy(doc["model"])
    for m in ("xray", "ct"):
        cfg["modalities"][m]["encoder"]["init_from"] = str(enc)
    cfg["modalities"]["xray"]["connector"] = {"name": "spatial_pool", "grid": [2, 2]}  # another connector: still fits
    model = MedMLLM.build(cfg)
    exported = MedMLLM.from_pretrained(enc)
    for m in ("xray", "ct"):
        sa, sb = model.encoders[m].state_dict(), exported.encoders[m].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_align_from_pretrained_encoder_beats_untrained_encoder(runs):
    """Same steps, data and seed; only the frozen encoders differ (pretrained vs untrained)."""
    pipe, random_align = runs
    pre, rnd = pipe.metrics["align"]["val/loss"], random_align.metrics["align"]["val/loss"]
    print(f"align val/loss after {ALIGN_STEPS} steps: pretrained encoder {pre:.4f}, untrained {rnd:.4f}")
    assert pre < rnd - 0.01, (pre, rnd)


def test_held_out_retrieval_and_benchmark_numbers(runs, cases, tmp_path):
    from medmllm.data.dataset import ManifestDataset
    from medmllm.data.schema import image_root, read_manifest
    from medmllm.data.transforms import build_pipelines
    from medmllm.config import TransformConfig, from_dict
    from medmllm.pretraining.features import eval_items
    from medmllm.pretraining.metrics import linear_probe_auroc, retrieval_recall
    from medmllm.pretraining.heads import load_pretrainer
    from medmllm.registry import BENCHMARKS
    from medmllm.pretraining.data import report_text

    pipe, _ = runs
    enc = pipe.exports["encoder"]
    res = BENCHMARKS.build("encoder").run_checkpoint(str(enc), str(cases), tmp_path / "eval", batch_size=64,
                                                     probe_limit=PROBE)
    for name in ("results.json", "results.md", "results.samples.jsonl", "results.auroc.png"):
        assert (tmp_path / "eval" / name).is_file(), name
    assert res["eval_split"] == "test" and res["heads"] is True
    x = res["xray"]
    # held-out retrieval: recall@1 at least 5x chance, both directions
    assert x["retrieval"]["i2t_r1"] >= 5 * x["retrieval"]["chance_r1"], x["retrieval"]
    assert x["retrieval"]["t2i_r1"] >= 5 * x["retrieval"]["chance_r1"], x["retrieval"]
    assert x["linear_probe"]["mean_auroc"] > 0.7 and x["head"]["mean_auroc"] > 0.7
    # the same numbers from the embeddings computed here, through the metric functions directly
    pre = load_pretrainer(enc)
    records = read_manifest(cases)
    tcfg = from_dict(TransformConfig, {"augment": {"enabled": False}, "ct": {"spacing": None}})
    ds = ManifestDataset([], image_root(cases), build_pipelines({"xray": pre.model.input_spec("xray")}, tcfg))
    test = eval_items([r for r in records if r["split"] == "test"], "xray")
    train_items = eval_items([r for r in records if r["split"] == "train"], "xray")[:PROBE]
    with torch.no_grad():
        def pooled(items):
            return pre.pooled("xray", torch.stack([ds.image(im, r["id"]) for r, im in items]))
        p_test, p_train = pooled(test), pooled(train_items)
        img = torch.nn.functional.normalize(pre.image_proj["xray"](p_test), dim=-1).numpy()
        reports = [report_text(r) for r, _ in test]
        txt = pre.text_embedding(reports).numpy()
    ref = retrieval_recall(img, txt, ks=(1, 5, 10), groups=reports)
    for k, v in ref.items():
        assert x["retrieval"][k] == pytest.approx(v, abs=1e-9), k
    keys = list(pre.label_keys)

    def y(items):
        return np.array([[float(r["labels"][k]) for k in keys] for r, _ in items])

    probe = linear_probe_auroc(p_train.numpy(), y(train_items), p_test.numpy(), y(test), keys)
    for k, v in probe.items():
        assert x["linear_probe"]["auroc"][k] == (pytest.approx(v, abs=1e-6) if v is not None else None), k
    rows = [json.loads(line) for line in (tmp_path / "eval" / "results.samples.jsonl").read_text().splitlines()]
    assert len(rows) == res["n"] == res["sizes"]["xray"]["n_eval"] + res["sizes"]["ct"]["n_eval"]
