"""Lesions painted into the body in HU, inside the lung masks of :mod:`.phantom`.

Every lesion replaces aerated lung by something denser (or, for a pneumothorax, by free air), so
on the projected radiograph it adds to whatever overlies it: a left lower lobe consolidation
behind the heart stays visible as a retrocardiac opacity. Painting order: ground glass,
bronchopneumonia, consolidation, nodule, atelectasis, then pneumothorax and pleural fluid, which
replace the lung at the apex/lateral rim and at the base.
"""

from __future__ import annotations

import numpy as np

from medmllm.findings import LOBES

from .phantom import APEX_Z, Body, Grid, lattice_noise, tube
from .population import Finding


def _ellipsoid(g: Grid, centre_xyz, radii_xyz, power: float = 1.0):
    """Weights ``clip(1 - e, 0, 1) ** power`` (e: ellipsoid radius squared) in the ellipsoid's box."""
    cx, cy, cz = centre_xyz
    rx, ry, rz = radii_xyz
    sl = g.box((cz - rz, cy - ry, cx - rx), (cz + rz, cy + ry, cx + rx))
    if any(s.start >= s.stop for s in sl):
        return sl, None
    Z, Y, X = g.coords(sl)
    e = ((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2 + ((Z - cz) / rz) ** 2
    return sl, np.clip(1.0 - e, 0.0, 1.0) ** power


def _blend(hu: np.ndarray, sl, w: np.ndarray, value, only_raise: bool = True) -> None:
    sub = hu[sl]
    new = sub * (1 - w) + value * w
    hu[sl] = np.maximum(sub, new) if only_raise else new


def paint_findings(body: Body, findings: list[Finding], masks: dict[str, np.ndarray] | None = None) -> None:
    """Paint every finding into ``body.hu`` (in place); with ``masks`` also record each lesion's voxels."""
    g, hu, lung = body.grid, body.hu, body.lung
    tex = None

    def record(key: str, sl, m: np.ndarray) -> None:
        if masks is not None:
            full = masks.setdefault(key, np.zeros(hu.shape, bool))
            full[sl] |= m

    order = ("ground_glass", "bronchopneumonia", "consolidation", "nodule", "atelectasis", "pneumothorax",
             "pleural_effusion")
    for f in sorted(findings, key=lambda f: order.index(f.key.partition(":")[0]) if f.key.partition(":")[0] in order
                    else -1):
        base, d = f.key.partition(":")[0], f.detail
        if base == "ground_glass":
            for x, y, z, r in d["regions"]:
                sl, w = _ellipsoid(g, (x, y, z), (r, r * 0.9, r * 1.2), 0.6)
                if w is not None:
                    w = w * lung[sl]
                    _blend(hu, sl, w, d["hu"])
                    record(f.key, sl, w > 0.3)
        elif base == "bronchopneumonia":
            if tex is None:
                tex = lattice_noise(body.anat.texture_seed + 1, g, step=0.08)
            for x, y, z, r in d["patches"]:
                sl, w = _ellipsoid(g, (x, y, z), (r * 1.2, r * 1.2, r * 1.3), 1.0)
                if w is not None:
                    # ill-defined, irregular patches: soft edges modulated by smooth noise
                    w = np.clip(1.6 * w * (0.75 + 0.5 * tex[sl]), 0, 1) * lung[sl]
                    _blend(hu, sl, w, d["hu"])
                    record(f.key, sl, w > 0.3)
        elif base == "consolidation":
            if tex is None:
                tex = lattice_noise(body.anat.texture_seed + 1, g, step=0.08)
            sl, w = _ellipsoid(g, d["centre"], d["radii"], 0.2)
            if w is None:
                continue
            w = w * (body.lobes(sl) == LOBES.index(d["lobe"]) + 1)
            _blend(hu, sl, w, d["hu"] + 15.0 * tex[sl])
            inside = np.zeros(hu.shape, bool)
            inside[sl] = w > 0.5
            record(f.key, sl, w > 0.5)
            if d["air_bronchogram"]:
                cx, cy, cz = d["centre"]
                sx = -1.0 if cx < 0 else 1.0
                for dz, dy in ((0.08, -0.06), (-0.1, 0.05)):
                    tube(hu, g, (0.02, 0.05, sx * 0.2), (cz + dz, cy + dy, cx + sx * 0.12), 0.03, -880.0, where=inside)
        elif base == "nodule":
            x, y, z = d["centre"]
            r = d["radius"]
            sl, w = _ellipsoid(g, (x, y, z), (r * 1.25, r * 1.25, r * 1.25), 1.0)
            if w is not None:
                w = np.clip((w - 0.36) / 0.1, 0, 1) * lung[sl]  # sharp edge at the nominal radius
                _blend(hu, sl, w, d["hu"])
                record(f.key, sl, w > 0.5)
        elif base == "atelectasis":
            x, y, z = d["centre"]
            half = d["half_length"]
            sl = g.box((z - 0.3, y - 0.34, x - half - 0.05), (z + 0.3, y + 0.34, x + half + 0.05))
            Z, Y, X = g.coords(sl)
            # an oblique plate through the AP direction: a line on the radiograph, a band on axial CT
            dist = np.abs((Z - z) - d["tilt"] * (X - x)) / np.sqrt(1 + d["tilt"] ** 2)
            w = (np.clip(1.0 - dist / (d["thickness"] / 2), 0, 1) ** 0.3
                 * np.clip((half - np.abs(X - x)) / 0.05, 0, 1) * np.clip((0.3 - np.abs(Y - y)) / 0.05, 0, 1))
            w = w * (lung[sl] & body.side(d["side"])[:, :, sl[2]])
            _blend(hu, sl, w, 35.0)
            record(f.key, sl, w > 0.5)
        elif base == "pneumothorax":
            _pneumothorax(body, f, record)
        elif base == "pleural_effusion":
            _effusion(body, f, record)


def _pneumothorax(body: Body, f: Finding, record) -> None:
    g, hu = body.grid, body.hu
    d = f.detail
    sx = -1.0 if d["side"] == "right" else 1.0
    frac = d["lung_fraction"]
    side = body.lung & body.side(d["side"])
    Z, Y, X = g.coords()
    hx, hy, hz = sx * 0.2, 0.05, -0.05
    dx, dy, dz = (X - hx) * sx, Y - hy, Z - hz
    ax = np.where(dx > 0, 0.56 * frac, 1.0)
    ay = np.where(dy < 0, 0.52 * frac, 2.0)
    az = np.where(dz > 0, (APEX_Z - hz) * frac, 2.0)
    e = (dx / ax) ** 2 + (dy / ay) ** 2 + (dz / az) ** 2
    rim = side & (e > 1.0)
    line = side & (e > 0.88) & ~rim
    collapsed = side & (e <= 0.88)
    hu[collapsed] += 70.0
    hu[line] = -450.0
    hu[rim] = -1000.0
    # the lesion is where the beam crosses free air only: columns without any remaining lung
    record(f.key, (slice(None),) * 3, rim & ~(side & ~rim).any(axis=1, keepdims=True))


def _effusion(body: Body, f: Finding, record) -> None:
    g, hu, anat = body.grid, body.hu, body.anat
    d = f.detail
    side = body.lung & body.side(d["side"])
    Z, Y, X = g.coords()
    fx = body.effects
    peak = (anat.dome_right if d["side"] == "right" else anat.dome_left) + fx["raise"][d["side"]] - fx["dome_drop"]
    cp = peak - anat.dome_curv * fx["dome_flat"] * 0.34**2
    lat = np.clip((np.abs(X) - 0.25) / 0.5, 0, 1)
    post = np.clip(Y / 0.45, 0, 1)
    surface = cp + d["level"] + 0.22 * lat + 0.15 * post
    fluid = side & (Z < surface)
    hu[fluid] = d["hu"]
    record(f.key, (slice(None),) * 3, fluid)
