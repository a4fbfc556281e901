"""Precision follows the hardware: bf16 only where it is native, and the reason is said."""

import logging
import os
import subprocess
import sys

import pytest

from medmllm import hardware


@pytest.fixture
def cpu(monkeypatch):
    def set_cpu(capability, flags):
        monkeypatch.setattr(hardware, "cpu_capability", lambda: capability)
        monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    return set_cpu


@pytest.mark.parametrize("capability, flags, klass, chosen", [
    ("AVX2", {"avx2", "fma"}, "avx2", "32-true"),
    ("AVX512", {"avx2", "avx512f"}, "avx512", "32-true"),
    ("AVX512", {"avx2", "avx512f", "avx512_bf16"}, "avx512_bf16", "bf16-mixed"),
    ("AVX512", {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "amx", "bf16-mixed"),
    ("AVX2", {"avx2", "avx512_bf16", "amx_bf16"}, "avx2", "32-true"),  # kernels capped: bf16 is emulated
    ("DEFAULT", set(), "other", "32-true"),
])
def test_auto_picks_bf16_only_where_native(cpu, caplog, capability, flags, klass, chosen):
    cpu(capability, flags)
    assert hardware.cpu_class() == klass
    with caplog.at_level(logging.INFO, logger="medmllm.hardware"):
        assert hardware.resolve_precision("auto", "cpu") == chosen
    assert f"precision auto -> {chosen} (" in caplog.text


def test_explicit_bf16_on_avx2_warns_with_the_slowdown(cpu, caplog):
    cpu("AVX2", {"avx2"})
    with caplog.at_level(logging.WARNING, logger="medmllm.hardware"):
        assert hardware.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert hardware.resolve_precision("16-mixed", "cpu") == "32-true"
    assert "about 83x slower than fp32" in caplog.text and "16-mixed is not available on CPU" in caplog.text


def test_bf16_exports_load_as_fp32_where_bf16_is_emulated(cpu):
    cpu("AVX2", {"avx2"})
    assert hardware.default_dtype("bfloat16", "cpu") == "float32"
    assert hardware.default_dtype("float16", "cpu") == "float32"
    assert hardware.default_dtype("bfloat16", "cuda:0") == "bfloat16"
    cpu("AVX512", {"avx512_bf16"})
    assert hardware.default_dtype("bfloat16", "cpu") == "bfloat16"
    assert hardware.default_dtype("float32", "cpu") == "float32"


def test_real_detection_with_kernels_capped_at_avx2():
    """PyTorch's own capability check, in a fresh process whose kernels are capped at AVX2."""
    code = "from medmllm.hardware import cpu_class, resolve_precision; print(cpu_class(), resolve_precision('auto', 'cpu'))"
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() in (["avx2", "32-true"], ["other", "32-true"])
