"""Settings of the synthetic-case generator (one dataclass, checked once)."""

from __future__ import annotations

import dataclasses
from typing import Any

from medmllm.errors import ConfigError

LANGS = ("en", "zh")
TASK_GROUPS = ("report", "vqa", "diagnosis", "summary")
PREVALENCES = ("realistic", "balanced")


@dataclasses.dataclass
class SynthConfig:
    """What to render and write for each synthetic case.

    Attributes:
        xray_size: ``(H, W)`` of the frontal radiograph.
        ct_shape: ``(D, H, W)`` of the CT volume (D inferior -> superior).
        xray_depth: samples along the antero-posterior ray when projecting the 3D body.
        langs: languages of reports, records and conversations (``en``, ``zh``).
        prevalence: ``realistic`` (pediatric-pneumonia clinic frequencies) or ``balanced``
            (every abnormal key about equally often; for learning curves and probes).
        max_findings: most abnormal findings in one case.
        png_share, mono1_share: shares of X-rays written as PNG and as DICOM MONOCHROME1
            (the rest: DICOM MONOCHROME2).
        nifti_share: share of CTs written as NIfTI (the rest: a DICOM series).
        split: train/val/test fractions (assigned per patient).
        tasks: task groups turned into conversations.
        vqa_per_case: closed questions per case and language (yes/no, plus laterality).
        render_xray, render_ct: skip a modality to save time (its reports are still written).
        noise: add acquisition noise (off gives noise-free images, for tests and figures).
    """

    xray_size: tuple[int, int] = (128, 128)
    ct_shape: tuple[int, int, int] = (32, 64, 64)
    xray_depth: int = 32
    langs: tuple[str, ...] = ("en", "zh")
    prevalence: str = "realistic"
    max_findings: int = 3
    png_share: float = 0.15
    mono1_share: float = 0.25
    nifti_share: float = 0.2
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    tasks: tuple[str, ...] = TASK_GROUPS
    vqa_per_case: int = 4
    render_xray: bool = True
    render_ct: bool = True
    noise: bool = True

    def __post_init__(self) -> None:
        self.xray_size = _ints(self.xray_size, 2, "xray_size", 32, 2048)
        self.ct_shape = _ints(self.ct_shape, 3, "ct_shape", 8, 1024)
        if not 4 <= int(self.xray_depth) <= 512:
            raise ConfigError(None, f"xray_depth: expected 4..512, got {self.xray_depth}")
        self.langs = tuple(self.langs)
        bad = [lang for lang in self.langs if lang not in LANGS]
        if bad or not self.langs:
            raise ConfigError(None, f"langs: expected a non-empty subset of {LANGS}, got {list(self.langs)}")
        if self.prevalence not in PREVALENCES:
            raise ConfigError(None, f"prevalence: expected one of {PREVALENCES}, got {self.prevalence!r}")
        if not 1 <= int(self.max_findings) <= 6:
            raise ConfigError(None, f"max_findings: expected 1..6, got {self.max_findings}")
        for name in ("png_share", "mono1_share", "nifti_share"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ConfigError(None, f"{name}: expected a fraction in [0, 1], got {v}")
        if self.png_share + self.mono1_share > 1.0 + 1e-9:
            raise ConfigError(None, "png_share + mono1_share must not exceed 1")
        split = tuple(float(s) for s in self.split)
        if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1.0) > 1e-6:
            raise ConfigError(None, f"split: expected three fractions summing to 1, got {list(self.split)}")
        self.split = split  # type: ignore[assignment]
        self.tasks = tuple(self.tasks)
        bad = [t for t in self.tasks if t not in TASK_GROUPS]
        if bad:
            raise ConfigError(None, f"tasks: unknown {bad}; valid: {', '.join(TASK_GROUPS)}")
        if not 0 <= int(self.vqa_per_case) <= 16:
            raise ConfigError(None, f"vqa_per_case: expected 0..16, got {self.vqa_per_case}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _ints(value: Any, n: int, name: str, lo: int, hi: int) -> tuple[int, ...]:
    if isinstance(value, int):
        value = (value,) * n
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(None, f"{name}: expected {n} integers, got {value!r}") from None
    if len(out) != n or any(not lo <= v <= hi for v in out):
        raise ConfigError(None, f"{name}: expected {n} integers in {lo}..{hi}, got {list(out)}")
    return out
