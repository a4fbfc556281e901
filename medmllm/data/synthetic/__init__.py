"""Synthetic P2Med-MD-style cases: paired chest X-ray + chest CT + records + reports (English, Chinese).

``render_case(seed, index, config)`` renders one case in memory (arrays, texts, labels, task
conversations); ``generate(out, cases, seed, config)`` writes cases as DICOM / NIfTI / PNG files
with a manifest (the ``medmllm synth`` command). See the README section "Synthetic cases".
"""

from .case import Case, render_case
from .config import SynthConfig
from .generator import generate
from .population import Finding

__all__ = ["Case", "Finding", "SynthConfig", "generate", "render_case"]
