"""Render the body as a frontal chest radiograph and as a CT volume.

The radiograph is a projection: the body is evaluated on a grid of ``xray_size`` rows (superior at
the top) by ``xray_size`` columns (patient's right on the image's left) by ``xray_depth`` samples
from front to back; each sample's attenuation relative to water, ``(HU + 1000) / 1000``, is summed
along the ray, so anything denser than aerated lung adds brightness wherever it lies (bone bright,
lungs dark, lesions add to the heart or ribs they overlap). A fixed display curve maps the
water-equivalent path (as a fraction of the body's thickness) to [0, 1]; it does not depend on
the image content, so a lesion changes only its own region.
"""

from __future__ import annotations

import numpy as np

from .lesions import paint_findings
from .phantom import Grid, add_bones, build_body, thin_bone_path
from .population import Anatomy, Finding

XRAY_FOV = {"z": (-1.0, 1.0), "y": (-0.75, 0.75), "x": (-1.0, 1.0)}
CT_FOV = {"z": (-0.86, 0.98), "y": (-1.0, 1.0), "x": (-1.0, 1.0)}


def _smooth2d(img: np.ndarray) -> np.ndarray:
    """A [1, 2, 1] / 4 blur along both axes (the detector's point spread), edges replicated."""
    p = np.pad(img, 1, mode="edge")
    rows = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    return 0.25 * rows[:, :-2] + 0.5 * rows[:, 1:-1] + 0.25 * rows[:, 2:]


def render_xray(anat: Anatomy, findings: list[Finding], size: tuple[int, int], depth: int,
                rng: np.random.Generator | None, masks: dict | None = None) -> tuple[np.ndarray, tuple[float, float]]:
    """The frontal radiograph ``(H, W)`` float32 in [0, 1] and its pixel spacing ``(row, col)`` in mm.

    Args:
        anat, findings: the case.
        size: ``(H, W)``.
        depth: samples along each ray.
        rng: noise source (None: no noise).
        masks: when a dict, receives ``{finding key: (H, W) bool}``, each lesion's projected footprint.
    """
    h, w = size
    grid = Grid.make((h, depth, w), XRAY_FOV["z"], XRAY_FOV["y"], XRAY_FOV["x"])
    body = build_body(anat, findings, grid)
    lesion3d: dict[str, np.ndarray] | None = {} if masks is not None else None
    paint_findings(body, findings, lesion3d)
    add_bones(body, thin=False)
    step_y = grid.step()[1]
    path = np.clip((body.hu + 1000.0) / 1000.0, 0.0, None).sum(axis=1) * step_y  # (H, W) water-equivalent
    path += thin_bone_path(body)
    q = path / (2.0 * anat.body_ay)
    img = np.tanh(1.6 * np.clip(q - 0.14, 0.0, None))  # lungs ~0.25, heart ~0.65, mediastinum ~0.9
    img = _smooth2d(img)
    if rng is not None:
        img = img + rng.normal(0.0, 0.012, img.shape)
    img = np.clip(img, 0.0, 1.0)[::-1].astype(np.float32)  # superior at the top
    if masks is not None and lesion3d is not None:
        for key, m in lesion3d.items():
            masks[key] = m.any(axis=1)[::-1].copy()
    span_z = (XRAY_FOV["z"][1] - XRAY_FOV["z"][0]) * anat.scale_mm
    span_x = (XRAY_FOV["x"][1] - XRAY_FOV["x"][0]) * anat.scale_mm
    return np.ascontiguousarray(img), (round(span_z / h, 4), round(span_x / w, 4))


def render_ct(anat: Anatomy, findings: list[Finding], shape: tuple[int, int, int], rng: np.random.Generator | None,
              masks: dict | None = None) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The CT volume ``(D, H, W)`` in HU (float32 holding integers) and its spacing ``(d, h, w)`` mm.

    Args:
        anat, findings: the case.
        shape: ``(D, H, W)``; D inferior -> superior, H anterior -> posterior, W right -> left.
        rng: noise source (None: no noise).
        masks: when a dict, receives ``"lobes"`` (uint8, 0 outside the lungs, ``i + 1`` for
            ``LOBES[i]``), ``"lung"`` (bool) and ``{finding key: bool}`` lesion masks.
    """
    grid = Grid.make(shape, CT_FOV["z"], CT_FOV["y"], CT_FOV["x"])
    body = build_body(anat, findings, grid)
    lesion3d: dict[str, np.ndarray] | None = {} if masks is not None else None
    paint_findings(body, findings, lesion3d)
    add_bones(body)
    hu = body.hu
    if rng is not None:
        hu = hu + rng.normal(0.0, 12.0, hu.shape).astype(np.float32)
    hu = np.clip(np.rint(hu), -1024, 3071).astype(np.float32)
    if masks is not None and lesion3d is not None:
        masks.update(lesion3d)
        masks["lobes"] = body.lobes()
        masks["lung"] = body.lung
    s = anat.scale_mm
    spacing = tuple(round((fov[1] - fov[0]) * s / n, 4) for fov, n in
                    zip((CT_FOV["z"], CT_FOV["y"], CT_FOV["x"]), shape))
    return hu, spacing  # type: ignore[return-value]
