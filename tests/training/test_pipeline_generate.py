"""A two-stage pipeline (align -> instruct with LoRA), its exports, and inference on them."""

import json

import lightning as L
import pytest
import torch


class StartWeights(L.Callback):
    """Copies of the model's weights when each stage starts training."""

    def __init__(self):
        self.at_start = []

    def on_train_start(self, trainer, module):
        self.at_start.append({k: v.detach().clone() for k, v in module.model.state_dict().items()})


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, tiny_base, synth_manifest, tensor_cache):
    import copy

    from medmllm.training.train import train

    cfg = copy.deepcopy(tiny_base)
    cfg["data"].update(train=[{"path": str(synth_manifest)}], val=[{"path": str(synth_manifest)}],
                       cache_dir=str(tensor_cache))
    cfg["train"].update(max_steps=3, val_every_n_steps=3, limit_val_batches=1, checkpoint={"every_n_steps": 3},
                        eval={"num_samples": 1, "clinical_subset": 2, "max_new_tokens": 6},
                        run_dir=str(tmp_path_factory.mktemp("pipeline") / "run"))
    starts = StartWeights()
    result = train(cfg, quiet=True, callbacks=[starts])
    return result, starts, cfg


def test_second_stage_starts_from_first_export(pipeline_run):
    from safetensors.torch import load_file

    result, starts, _ = pipeline_run
    align, instruct = result.exports["align"], result.exports["instruct"]
    assert (align / "COMPLETE").is_file() and (instruct / "COMPLETE").is_file()
    assert result.export == instruct and (result.run_dir / "export").resolve() == instruct.resolve()
    exported = load_file(str(align / "mm.safetensors"))
    begin = starts.at_start[1]
    assert exported.keys() and all(torch.equal(exported[k], begin[k]) for k in exported)
    # the align stage trained the connectors: stage 2 does not start from the initial weights
    assert any(not torch.equal(starts.at_start[0][k], begin[k]) for k in exported if k.startswith("connectors."))
    llm = load_file(str(align / "llm" / "model.safetensors"))
    base = {k.replace("llm.base_model.model.", "").replace(".base_layer", ""): v for k, v in begin.items()
            if k.startswith("llm.") and "lora_" not in k}
    assert llm.keys() and all(torch.equal(llm[k], base[k]) for k in llm)
    assert any("lora_" in k for k in begin)  # stage 2 added the LoRA adapter of its config


def test_export_carries_config_provenance_and_card(pipeline_run):
    from medmllm.config import read_yaml

    result, _, cfg = pipeline_run
    doc = read_yaml(result.export / "medmllm.yaml")
    prov = doc["provenance"]
    assert set(prov) >= {"git_commit", "config_hash", "data_hash", "seed"} and prov["data_hash"]
    assert doc["stage"]["kind"] == "instruct" and doc["stage"]["steps"] == 3
    assert doc["train"]["stage"] == "instruct" and doc["data"]["train"] == cfg["data"]["train"]
    assert "val/loss" in doc["metrics"]
    card = (result.export / "README.md").read_text()
    for section in ("## Intended use", "## Data", "## Training", "## Metrics", "## Limitations"):
        assert section in card
    run_doc = read_yaml(result.run_dir / "config.yaml")
    assert [s["stage"] for s in run_doc["resolved_stages"]] == ["align", "instruct"]
    samples = [json.loads(x) for x in (result.run_dir / "01-instruct" / "samples.jsonl").read_text().splitlines()]
    assert samples and samples[0]["step"] == 3 and samples[0]["reference"]
    metrics = result.metrics["instruct"]
    assert metrics["val/loss"] > 0 and 0.0 <= metrics["val/clinical_macro_f1"] <= 1.0


def test_predictor_generate_stream_and_choice_losses(pipeline_run, synth_manifest):
    from medmllm.data.schema import image_root, read_manifest
    from medmllm.inference import Predictor

    result, _, _ = pipeline_run
    pred = Predictor.from_pretrained(result.export)
    rec = next(r for r in read_manifest(synth_manifest) if r["split"] == "val" and len(r["images"]) == 2)
    root = image_root(synth_manifest)
    batch = pred.generate([rec, rec], root=root, max_new_tokens=5)
    single = pred.generate(rec, root=root, max_new_tokens=5)
    assert len(batch) == 2 and batch[0] == batch[1] == single[0]
    streamed = "".join(pred.stream(rec, root=root, max_new_tokens=5))
    assert streamed.strip() == single[0]
    losses = pred.choice_losses(rec, ["No pleural effusion.", "Cardiomegaly.", "No pleural effusion."], root=root)
    assert len(losses) == 3 and losses[0] == pytest.approx(losses[2], abs=1e-6) and losses[0] != losses[1]
    assert all(l > 0 for l in losses)


def test_generate_cli_one_file_and_batch_resume(pipeline_run, synth_manifest, cli, tmp_path):
    from medmllm.data.schema import read_manifest

    result, _, _ = pipeline_run
    rec = next(r for r in read_manifest(synth_manifest) if len(r["images"]) == 2)
    xray = synth_manifest.parent / next(i["path"] for i in rec["images"] if i["modality"] == "xray")
    ct = synth_manifest.parent / next(i["path"] for i in rec["images"] if i["modality"] == "ct")
    r = cli("generate", "--checkpoint", result.export, "--xray", xray, "--ct", ct, "--context", "fever",
            "--max-new-tokens", "4", "--json")
    assert r.code == 0, r
    out = json.loads(r.out)
    assert isinstance(out["report"], str) and out["context_given"] is True

    pred = tmp_path / "pred.jsonl"
    r = cli("generate", "--checkpoint", result.export, "--data", synth_manifest, "--split", "val", "--limit", "3",
            "--out", pred, "--max-new-tokens", "3", "--quiet")
    assert r.code == 0, r
    first = pred.read_text().splitlines()
    assert len(first) == 3
    with open(pred, "a") as f:  # a torn line from an interrupted write
        f.write('{"id": "case-0000')
    r = cli("generate", "--checkpoint", result.export, "--data", synth_manifest, "--split", "val",
            "--out", pred, "--max-new-tokens", "3", "--quiet")
    assert r.code == 0, r
    rows = [json.loads(x) for x in pred.read_text().splitlines()]
    n_val = sum(1 for x in read_manifest(synth_manifest) if x["split"] == "val")
    assert "3 already there" in r.out and len(rows) == n_val
    assert pred.read_text().splitlines()[:3] == first
    assert len({x["id"] for x in rows}) == n_val and all(x["reference"] for x in rows)


def test_generate_cli_errors(pipeline_run, cli, tmp_path):
    result, _, _ = pipeline_run
    r = cli("generate", "--checkpoint", tmp_path / "nope", "--prompt", "hi")
    assert r.code == 2 and r.err.startswith("error: ") and "nope" in r.err and len(r.err.splitlines()) == 1
    r = cli("generate", "--checkpoint", result.export, "--out", tmp_path / "p.jsonl")
    assert r.code == 2 and "--out needs --data" in r.err
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    r = cli("generate", "--checkpoint", result.export, "--xray", bad)
    assert r.code == 2 and "broken.png" in r.err


def test_new_run_refuses_an_existing_run_folder(pipeline_run):
    from medmllm.errors import InputError
    from medmllm.training.train import train

    _, _, cfg = pipeline_run
    with pytest.raises(InputError, match="already holds a run; continue it with --resume"):
        train(cfg, quiet=True)


def test_export_records_its_training_prompts_and_inference_defaults_to_them(pipeline_run, synth_manifest):
    from collections import Counter

    from medmllm.config import read_yaml
    from medmllm.data.prompts import CONTEXT, strip_placeholders
    from medmllm.data.schema import read_manifest
    from medmllm.inference import Predictor

    result, _, _ = pipeline_run
    recorded = read_yaml(result.export / "medmllm.yaml")["prompts"]
    train = [r for r in read_manifest(synth_manifest) if r["split"] == "train"]
    assert recorded["format"] == 1 and recorded["records"] == len(train)
    both = [r for r in train if r["meta"]["variant"] == "report-both"]
    wordings = Counter(strip_placeholders(r["messages"][0]["content"]) for r in both)
    patients = {w: {r["patient_id"] for r in both if strip_placeholders(r["messages"][0]["content"]) == w}
                for w in wordings}
    shared = {w: n for w, n in wordings.items() if len(patients[w]) >= 2}
    entries = recorded["report"]["en"]["xray+ct"]
    plain = [e for e in entries if CONTEXT not in e["text"]]
    assert {e["text"]: e["count"] for e in plain} == shared  # every wording two patients share, counted
    framed = [e for e in entries if CONTEXT in e["text"]]
    assert framed and all(e["text"].startswith("Clinical information:\n{context}\n\n") for e in framed)
    assert not any("Chief complaint" in e["text"] for e in entries)  # no patient's record text
    pred = Predictor.from_pretrained(result.export)
    rec = next(r for r in both if r["split"] == "train")
    xray, ct = (str(synth_manifest.parent / im["path"]) for im in rec["images"])
    prompt = pred.prepare({"xray": xray, "ct": ct})["messages"][0]["content"]
    # the most frequent wording (ties in text order), never the images alone while a wording was recorded
    assert prompt == "<xray>\n<ct>\n" + min((w for w in shared if w), key=lambda w: (-shared[w], w))
    with_ctx = pred.prepare({"xray": xray, "ct": ct, "context": "Cough for 3 days."})["messages"][0]["content"]
    assert with_ctx == "<xray>\n<ct>\n" + framed[0]["text"].replace(CONTEXT, "Cough for 3 days.")
