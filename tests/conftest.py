"""Shared test set-up: offline, passive OpenMP threads, helpers to run the CLI in-process."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # helper modules shared by test folders (text_images)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


def _zeros_deflate(prefix: bytes, total: int) -> bytes:
    """A raw deflate stream of ``prefix`` then zeros up to ``total`` bytes, built in O(output/1000): one
    compressed MiB of zeros, flushed so it stands alone, is repeated."""
    import zlib

    mib = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(b"\0" * mib) + c.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(total - len(prefix), mib)
    return head + block * n + c.compress(b"\0" * rest) + c.flush()


@pytest.fixture
def zeros_deflate():
    """``zeros_deflate(prefix, total) -> bytes``: a raw deflate stream of ``total`` bytes (a bomb, cheaply)."""
    return _zeros_deflate


@pytest.fixture
def zeros_gzip():
    """``zeros_gzip(path, prefix, total) -> path``: a gzip file of ``prefix`` then zeros, ``total`` bytes inside.

    The size field holds ``total mod 2**32`` as gzip does; the CRC is left wrong on purpose: a reader that
    gets as far as the trailer has already decompressed everything, which these tests refuse."""
    import struct

    def write(path, prefix: bytes, total: int):
        body = _zeros_deflate(prefix, total)
        path.write_bytes(b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + body + struct.pack("<II", 0, total % 2**32))
        return path

    return write


@pytest.fixture
def nifti_header():
    """``nifti_header(shape, dtype, pixdim=(1, 1, 1), qform_code=0, sform_code=0) -> bytes``: a single-file
    NIfTI-1 header (352 bytes, voxels follow), written as given: nibabel's writer would repair it."""
    import nibabel as nib

    def build(shape, dtype, pixdim=(1.0, 1.0, 1.0), qform_code=0, sform_code=0) -> bytes:
        hdr = nib.Nifti1Header()
        hdr.set_data_shape(shape)
        hdr.set_data_dtype(dtype)
        hdr["pixdim"][1:4] = pixdim
        hdr["qform_code"], hdr["sform_code"] = qform_code, sform_code
        hdr["vox_offset"], hdr["magic"] = 352, b"n+1"
        return hdr.binaryblock + b"\0" * 4

    return build


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """A real medmllm export: the tiny model of configs/tiny.yaml (random init), saved with ``save_pretrained``."""
    import torch

    from medmllm.config import load_config
    from medmllm.models.mllm import MedMLLM

    torch.manual_seed(0)
    model = MedMLLM.build(load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")["model"])
    out = tmp_path_factory.mktemp("export") / "tiny"
    model.save_pretrained(out)
    return out


@pytest.fixture
def cli(capsys):
    """``cli('inspect', path, '--json')`` runs ``medmllm`` in-process; returns code, stdout, stderr."""
    from medmllm.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


# Per-test time limits (pytest-timeout): ``timeout`` in pyproject.toml for ordinary tests, this for the
# tests marked slow; a test may set its own with @pytest.mark.timeout(N). A hang fails with the test's name.
SLOW_TIMEOUT_S = 900


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~10 s (still runs in CI)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


def load_script(relpath: str):
    """A script of the repository (``scripts/...``, ``benchmarks/...``) imported as a module, by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
