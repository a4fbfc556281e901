"""Exact resume, mid-epoch sample accounting, and crash safety of checkpoints and exports."""

import pytest
import torch
import lightning as L

from medmllm.errors import InputError


class Crash(L.Callback):
    """Simulates a crash right after optimiser step ``at``."""

    def __init__(self, at):
        self.at = at

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


class Record(L.Callback):
    """Loss of every optimiser step and the ids of every training sample, in order."""

    def __init__(self):
        self.losses, self.ids = {}, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.ids.extend(batch["ids"])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses[trainer.global_step] = float(outputs["loss"])


def trainable_state(module):
    return {n: p.detach().clone() for n, p in module.model.named_parameters() if p.requires_grad}


def settings(tiny_cfg, run):
    # LoRA dropout makes the steps depend on the RNG; 8-sample batches: 9 batches per epoch, so the
    # 12 steps cross an epoch boundary and the crash at 7 / resume from 5 are mid-epoch.
    cfg = tiny_cfg("instruct", max_steps=12, val_every_n_steps=5, limit_val_batches=1,
                   checkpoint={"every_n_steps": 5}, eval={"num_samples": 1, "clinical_subset": 1, "max_new_tokens": 4})
    cfg["model"]["llm"]["lora"] = {"r": 2, "dropout": 0.1}
    cfg["data"]["batch_size"] = 8
    cfg["train"]["run_dir"] = str(run)
    return cfg


@pytest.mark.slow
def test_resume_equals_uninterrupted_and_accounts_samples(tiny_cfg, tmp_path):
    from medmllm.training.train import train

    first, second, whole = Record(), Record(), Record()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(settings(tiny_cfg, tmp_path / "a"), quiet=True, callbacks=[Crash(7), first])
    ckpts = sorted(p.name for p in (tmp_path / "a" / "00-instruct" / "checkpoints").glob("*.ckpt"))
    assert ckpts == ["best-step000005.ckpt", "last.ckpt", "step-000005.ckpt"]
    resumed = train(resume=tmp_path / "a", quiet=True, callbacks=[second])
    full = train(settings(tiny_cfg, tmp_path / "b"), quiet=True, callbacks=[whole])

    # losses of steps 1-5 (first run) + 6-12 (resumed) equal the uninterrupted run's
    assert sorted(second.losses) == list(range(6, 13))
    for step in range(1, 13):
        got = first.losses[step] if step <= 5 else second.losses[step]
        assert got == pytest.approx(whole.losses[step], abs=1e-5), step
    a, b = trainable_state(resumed.modules["instruct"]), trainable_state(full.modules["instruct"])
    assert a.keys() == b.keys() and any("lora_" in k for k in a)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5

    # samples: the resumed run continues exactly after the 5 checkpointed batches (40 samples)
    assert first.ids[:40] + second.ids == whole.ids
    assert len(whole.ids) == 96 and len(set(whole.ids[:72])) == 72  # epoch 0 sees every sample once
    assert sorted(whole.ids[72:]) != sorted(whole.ids[:24])  # epoch 1 is a new order


def test_crash_during_checkpoint_save_leaves_previous_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    import medmllm.training.checkpointing as ck
    from medmllm.training.train import train

    cfg = tiny_cfg("align", max_steps=4, val_every_n_steps=None, checkpoint={"every_n_steps": 2})
    real_save = torch.save
    calls = []

    def failing_save(obj, f, *a, **kw):
        calls.append(1)
        if len(calls) >= 3:  # step 4: last.ckpt is being rewritten when the "power fails"
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError("disk full")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(ck.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        train(cfg, quiet=True)
    folder = tmp_path / "run" / "00-align" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt", "step-000002.ckpt"]  # no partial file
    state = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 2
    monkeypatch.setattr(ck.torch, "save", real_save)
    result = train(resume=tmp_path / "run", quiet=True)
    assert (result.export / "COMPLETE").is_file()


def test_crash_during_export_leaves_no_export(tiny_cfg, tmp_path, monkeypatch):
    from medmllm.inference import Predictor
    from medmllm.training.checkpointing import require_complete
    from medmllm.training.train import train

    cfg = tiny_cfg("align", max_steps=2, val_every_n_steps=None, checkpoint={"every_n_steps": 2})

    def broken(model, path, **kw):
        (path / "mm.safetensors").write_bytes(b"partial")
        raise OSError("killed while exporting")

    monkeypatch.setattr("medmllm.models.checkpoint.write_export", broken)  # what a stage's export writes with
    with pytest.raises(OSError, match="killed"):
        train(cfg, quiet=True)
    stage = tmp_path / "run" / "00-align"
    assert not (stage / "export").exists()
    assert not [p for p in stage.iterdir() if p.name.startswith(".export")]
    with pytest.raises(InputError, match="export folder not found"):
        require_complete(stage / "export")
    with pytest.raises(InputError):
        Predictor.from_pretrained(stage / "export")
    monkeypatch.undo()
    result = train(resume=tmp_path / "run", quiet=True)  # finishes from last.ckpt and exports
    assert require_complete(result.export) == stage / "export"
