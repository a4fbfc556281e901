"""A contact sheet of synthetic cases: radiograph, axial and coronal CT with the positive findings.

Meant for a person to check at a glance that each finding is visible where its label says.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medmllm.files import atomic_write_with

from .case import Case, render_case
from .config import SynthConfig


def _axial_index(case: Case) -> int:
    """The CT slice with the most lesion voxels (or one through the lower chest when normal)."""
    assert case.ct is not None
    lesions = (case.masks or {}).get("ct_lesions") or {}
    if lesions:
        total = sum(m.sum(axis=(1, 2)) for m in lesions.values())
        if total.max() > 0:
            return int(np.argmax(total))
    return int(case.ct.shape[0] * 0.35)


def write_preview(path: str | os.PathLike, seed: int, n: int = 8, config: SynthConfig | None = None,
                  cases: list[Case] | None = None) -> Path:
    """Draw ``n`` cases (rendered from ``seed``, or the given ``cases``) as a PNG grid.

    Each row shows one case: the radiograph, the axial CT slice with the most lesion voxels and a
    coronal CT reformat, titled with the case id and its positive findings.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = config or SynthConfig()
    if cases is None:
        cases = [render_case(seed, i, cfg, masks=True) for i in range(n)]
    rows = len(cases)
    cols_per = 3
    pairs = 2 if rows > 4 else 1
    grid_rows = (rows + pairs - 1) // pairs
    fig, axes = plt.subplots(grid_rows, cols_per * pairs, figsize=(3.0 * cols_per * pairs, 3.1 * grid_rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, case in enumerate(cases):
        r, c0 = k // pairs, (k % pairs) * cols_per
        keys = [f.key for f in case.findings] or ["normal"]
        if case.xray is not None:
            axes[r, c0].imshow(case.xray, cmap="gray", vmin=0, vmax=1)
        axes[r, c0].set_title(f"{case.case_id} ({case.split})\n" + ", ".join(keys), fontsize=7, loc="left")
        if case.ct is not None:
            z = _axial_index(case)
            d, h, w = case.ct_spacing
            axes[r, c0 + 1].imshow(case.ct[z], cmap="gray", vmin=-1100, vmax=300, aspect=h / w)
            axes[r, c0 + 1].set_title(f"CT axial {z}", fontsize=7)
            cor = case.ct[::-1, case.ct.shape[1] // 2 + case.ct.shape[1] // 10, :]
            axes[r, c0 + 2].imshow(cor, cmap="gray", vmin=-1100, vmax=300, aspect=d / w)
            axes[r, c0 + 2].set_title("CT coronal", fontsize=7)
    fig.tight_layout()
    try:
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    finally:
        plt.close(fig)
