"""What the machine can do fast: bf16 where it is native, fp32 elsewhere.

bfloat16 is only fast where the hardware has it: CUDA GPUs of compute capability 8 and newer, and
CPUs with AVX512-BF16 or AMX. Elsewhere (AVX2-only CPUs: most laptops and many servers) PyTorch
emulates it: measured on an AMD EPYC with AVX2 only, a 1024x1024 bf16 matmul took 4,741 ms against
57 ms in fp32 (83x), an autocast Linear forward + backward 2,130 ms against 44 ms. ``precision:
auto`` (the default of every shipped config) therefore picks ``bf16-mixed`` only where bf16 is
native and ``32-true`` otherwise, and says why.
"""

from __future__ import annotations

import functools
import logging
import platform
from pathlib import Path

log = logging.getLogger(__name__)

# Measured on an AVX2-only AMD EPYC (2 cores): bf16 / fp32 time of a 1024x1024 matmul.
AVX2_BF16_SLOWDOWN = 83
PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true")
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def cpu_capability() -> str:
    """PyTorch's CPU kernel level (``AVX2``, ``AVX512``, ``DEFAULT`` ...); honours ``ATEN_CPU_CAPABILITY``."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # very old builds
        return "unknown"


def cpu_class() -> str:
    """A short name of the CPU class for logs and timings: ``amx``, ``avx512_bf16``, ``avx512``, ``avx2``, ``other``.

    It is what PyTorch will use: with ``ATEN_CPU_CAPABILITY=avx2`` an AMX machine reports ``avx2``.
    """
    cap = cpu_capability().upper()
    flags = cpu_flags()
    if cap.startswith("AVX512") or cap == "AMX":
        if "amx_bf16" in flags:
            return "amx"
        if "avx512_bf16" in flags:
            return "avx512_bf16"
        return "avx512"
    if cap == "AVX2":
        return "avx2"
    return "other" if platform.machine() not in ("arm64", "aarch64") else "arm"


def bf16_native(accelerator: str = "cpu") -> tuple[bool, str]:
    """Whether bf16 runs at hardware speed on ``accelerator`` (``cpu``, ``gpu``/``cuda``), and why."""
    import torch

    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            return False, "no CUDA GPU"
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"CUDA GPU {torch.cuda.get_device_name(0)} has bf16"
        return False, f"CUDA GPU {torch.cuda.get_device_name(0)} has no native bf16"
    klass = cpu_class()
    if klass in ("amx", "avx512_bf16"):
        return True, f"CPU has {'AMX' if klass == 'amx' else 'AVX512-BF16'}"
    return False, (f"CPU class {klass} (PyTorch kernels {cpu_capability()}) has no AVX512-BF16 or AMX: "
                   f"bf16 is emulated, about {AVX2_BF16_SLOWDOWN}x slower than fp32 for matmuls")


def resolve_precision(precision: str, accelerator: str) -> str:
    """Lightning precision for ``accelerator`` (``cpu`` / ``gpu``): ``auto`` follows the hardware.

    ``auto`` -> ``bf16-mixed`` where bf16 is native, else ``16-mixed`` on a CUDA GPU and ``32-true``
    on a CPU. An explicit bf16 on a CPU without it is kept but warned about; ``16-mixed`` on a CPU
    (fp16 autocast is GPU-only) becomes ``bf16-mixed`` when native, else ``32-true``.
    """
    native, why = bf16_native(accelerator)
    on_gpu = accelerator in ("gpu", "cuda")
    if precision == "auto":
        chosen = "bf16-mixed" if native else ("16-mixed" if on_gpu else "32-true")
        log.info("precision auto -> %s (%s)", chosen, why)
        return chosen
    if not on_gpu and precision in ("16-mixed", "16", "16-true"):
        chosen = "bf16-mixed" if native else "32-true"
        log.warning("precision %s is not available on CPU; using %s (%s)", precision, chosen, why)
        return chosen
    if not on_gpu and precision.startswith("bf16") and not native:
        log.warning("precision %s on this machine: %s; precision: auto (or 32-true) is much faster here",
                    precision, why)
    return precision


def default_dtype(dtype: str | None, device: str = "cpu") -> str | None:
    """The weights dtype to load for inference on ``device``: bf16/fp16 exports become fp32 on a CPU without bf16."""
    if dtype in ("bfloat16", "bf16", "float16", "fp16", "half") and not str(device).startswith("cuda"):
        native, why = bf16_native("cpu")
        if not native or dtype in ("float16", "fp16", "half"):
            log.info("loading %s weights as float32 on this CPU (%s)", dtype, why)
            return "float32"
    return dtype
