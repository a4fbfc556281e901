"""A simple 3D chest in Hounsfield units, evaluated on any axis-aligned grid.

The body is made of analytic shapes in normalised coordinates (see :mod:`.population`): an elliptic
body with a fat layer, a tapering thoracic cavity, two diaphragm domes with the liver and a gastric
air bubble below, a mediastinum, heart, trachea and main bronchi, hila, lungs divided into lobes by
oblique and horizontal fissures, ribs, spine, clavicles and sternum. The same function gives the CT
volume and the 3D grid that the radiograph projects, so both always show the same body.
Lesions are painted by :mod:`.lesions` inside the lung masks computed here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .lobes import Y_CENTRE, lobe_of
from .population import Anatomy, Finding

APEX_Z = 0.93


@dataclasses.dataclass
class Grid:
    """Voxel-centre coordinates (normalised body units) of an axis-aligned grid, ascending."""

    z: np.ndarray  # (nz,) inferior -> superior
    y: np.ndarray  # (ny,) anterior -> posterior
    x: np.ndarray  # (nx,) patient's right -> left

    @classmethod
    def make(cls, shape: tuple[int, int, int], z: tuple[float, float], y: tuple[float, float],
             x: tuple[float, float]) -> "Grid":
        """A grid of ``shape`` cells covering ``[lo, hi]`` per axis, with coordinates at cell centres."""
        def axis(n: int, lo: float, hi: float) -> np.ndarray:
            step = (hi - lo) / n
            return (lo + step * (np.arange(n) + 0.5)).astype(np.float32)

        return cls(axis(shape[0], *z), axis(shape[1], *y), axis(shape[2], *x))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.z), len(self.y), len(self.x))

    def step(self) -> tuple[float, float, float]:
        """Cell size per axis in normalised units."""
        return tuple(float(a[1] - a[0]) if len(a) > 1 else 1.0 for a in (self.z, self.y, self.x))  # type: ignore

    def box(self, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> tuple[slice, slice, slice]:
        """Index slices of the cells whose centres fall in ``[lo, hi]`` (z, y, x)."""
        return tuple(slice(int(np.searchsorted(a, lo_i, "left")), int(np.searchsorted(a, hi_i, "right")))
                     for a, lo_i, hi_i in zip((self.z, self.y, self.x), lo, hi))  # type: ignore[return-value]

    def coords(self, sl: tuple[slice, slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable ``Z (nz,1,1)``, ``Y (1,ny,1)``, ``X (1,1,nx)`` of the grid or a sub-box."""
        sl = sl or (slice(None),) * 3
        return self.z[sl[0]][:, None, None], self.y[sl[1]][None, :, None], self.x[sl[2]][None, None, :]


@dataclasses.dataclass
class Body:
    """What lesion painting needs from the body: the grid in body coordinates and the masks."""

    grid: Grid              # body frame (patient position shift removed)
    hu: np.ndarray          # (nz, ny, nx) float32
    lung: np.ndarray        # (nz, ny, nx) bool, the lungs' anatomical extent
    anat: Anatomy
    effects: dict

    def lobes(self, sl: tuple[slice, slice, slice] | None = None) -> np.ndarray:
        """Lobe numbers (0 outside the lungs) of the grid or of a sub-box."""
        sl = sl or (slice(None),) * 3
        return lobe_of(*self.grid.coords(sl)) * self.lung[sl]

    def side(self, side: str) -> np.ndarray:
        """``(1, 1, nx)`` bool: the columns on the patient's ``side``."""
        return (self.grid.x < 0)[None, None, :] if side == "right" else (self.grid.x >= 0)[None, None, :]


def body_effects(findings: list[Finding]) -> dict:
    """How findings change the body itself (heart size, diaphragm, lung density)."""
    fx = {"heart": 1.0, "dome_drop": 0.0, "dome_flat": 1.0, "lung_hu": 0.0, "ap": 1.0,
          "raise": {"right": 0.0, "left": 0.0}}
    for f in findings:
        if f.key == "cardiomegaly":
            fx["heart"] = f.detail["scale"]
        elif f.key == "hyperinflation":
            fx.update(dome_drop=f.detail["dome_drop"], dome_flat=0.55, lung_hu=-35.0, ap=1.06)
        elif f.key == "atelectasis":
            fx["raise"][f.detail["side"]] = 0.08
    return fx


def _dome(anat: Anatomy, fx: dict, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    curv = anat.dome_curv * fx["dome_flat"]
    right = anat.dome_right + fx["raise"]["right"] - fx["dome_drop"] - curv * (X + 0.38) ** 2
    left = anat.dome_left + fx["raise"]["left"] - fx["dome_drop"] - curv * (X - 0.40) ** 2
    return np.where(X < 0, right, left) - 0.9 * fx["dome_flat"] * (Y - 0.05) ** 2


def _bspline_weights(a: np.ndarray, n: int, step: float) -> np.ndarray:
    """``(len(a), n)`` cubic B-spline weights of lattice nodes at ``-1.2 + k * step`` (smooth, no creases)."""
    t = np.clip((a + 1.2) / step, 1.0, n - 3.0)
    i = np.floor(t).astype(int)
    f = (t - i).astype(np.float32)
    w = np.zeros((len(a), n), np.float32)
    rows = np.arange(len(a))
    w[rows, i - 1] = (1 - f) ** 3 / 6
    w[rows, i] = (3 * f**3 - 6 * f**2 + 4) / 6
    w[rows, i + 1] = (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6
    w[rows, i + 2] = f**3 / 6
    return w


def _upsample2(t: np.ndarray, axis: int, n: int) -> np.ndarray:
    """Linear 2x upsampling of a field sampled at every second cell, cut to ``n`` cells."""
    t = np.moveaxis(t, axis, 0)
    out = np.repeat(t, 2, axis=0)
    out[1:-1:2] = 0.5 * (t[:-1] + t[1:])
    return np.moveaxis(out[:n], 0, axis)


def lattice_noise(seed: int, grid: Grid, step: float = 0.1) -> np.ndarray:
    """Smooth noise (std ~0.3) defined on a fixed lattice in body units, so every grid sees the same field.

    Large grids are evaluated every second cell along z and x and interpolated (the field is smooth).
    """
    n = int(round(2.4 / step)) + 4
    field = np.random.default_rng(seed).standard_normal((n, n, n)).astype(np.float32)
    rz = 2 if len(grid.z) > 64 else 1
    rx = 2 if len(grid.x) > 64 else 1
    wz, wy, wx = (_bspline_weights(a, n, step) for a in (grid.z[::rz], grid.y, grid.x[::rx]))
    nz, ny, nx = len(wz), len(wy), len(wx)
    t = (wz @ field.reshape(n, n * n)).reshape(nz, n, n)
    t = np.matmul(wy[None], t)  # (nz, ny, n)
    t = (t.reshape(nz * ny, n) @ wx.T).reshape(nz, ny, nx)
    if rz > 1:
        t = _upsample2(t, 0, len(grid.z))
    if rx > 1:
        t = _upsample2(t, 2, len(grid.x))
    return np.ascontiguousarray(t, dtype=np.float32)


def tube(hu: np.ndarray, grid: Grid, p0, p1, radius: float, value: float, where: np.ndarray | None = None) -> None:
    """Paint a straight tube (segment ``p0 -> p1``, points as z, y, x) with ``value``, in place."""
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    sl = grid.box(tuple(np.minimum(p0, p1) - radius), tuple(np.maximum(p0, p1) + radius))
    if any(s.start >= s.stop for s in sl):
        return
    Z, Y, X = grid.coords(sl)
    d = p1 - p0
    t = np.clip(((Z - p0[0]) * d[0] + (Y - p0[1]) * d[1] + (X - p0[2]) * d[2]) / float(d @ d), 0, 1)
    dist2 = (Z - p0[0] - t * d[0]) ** 2 + (Y - p0[1] - t * d[1]) ** 2 + (X - p0[2] - t * d[2]) ** 2
    m = dist2 <= radius**2
    if where is not None:
        m &= where[sl]
    hu[sl][m] = value


def build_body(anat: Anatomy, findings: list[Finding], grid: Grid) -> Body:
    """Soft tissue, fat, abdomen, mediastinum and lungs (bones come last, see :func:`add_bones`)."""
    fx = body_effects(findings)
    g = Grid(grid.z - np.float32(anat.shift_z), grid.y, grid.x - np.float32(anat.shift_x))  # body frame
    Z, Y, X = g.coords()
    f32 = np.float32
    neck = np.clip((Z - 0.84) / 0.16, 0, 1) ** 1.5
    inv_ax2 = (1.0 / (0.86 * (1 - 0.6 * neck))) ** 2
    inv_ay2 = (1.0 / (anat.body_ay * (1 - 0.3 * neck))) ** 2
    rb = inv_ax2 * X**2 + inv_ay2 * (Y - Y_CENTRE) ** 2  # (nz, ny, nx)
    inner = (1 - anat.fat) ** 2
    dome = _dome(anat, fx, Y, X)  # (1, ny, nx)
    below = Z < dome
    tissue = np.where(below, np.where(X < 0.12, f32(55), f32(45)), f32(40))  # liver/spleen vs chest wall
    hu = np.where(rb <= inner, tissue, np.where(rb <= 1, f32(-95), f32(-1000)))
    # gastric air bubble under the left dome
    zb = anat.dome_left - fx["dome_drop"] - 0.09
    tube(hu, g, (zb, -0.02, 0.36), (zb, 0.05, 0.42), 0.06, -1000.0, where=np.broadcast_to(below, hu.shape))

    taper2 = np.clip((APEX_Z - Z) / 0.38, 1e-4, 1)  # squared taper of the cavity towards the apex
    cay = (anat.body_ay - 0.09) * fx["ap"]
    rc = (X**2 / 0.76**2 + (Y - Y_CENTRE) ** 2 / cay**2) / taper2
    ysp = Y_CENTRE + cay * 0.8
    spine = (X**2 + (Y - ysp) ** 2) <= 0.115**2  # (1, ny, nx)
    medias = np.abs(X - 0.02) < (0.085 + 0.04 * np.clip(-Z, 0, 1))
    lung = (rc <= 1) & (Z < APEX_Z) & ~below & ~spine & ~medias
    hs = anat.heart_scale * fx["heart"]
    hr = (0.27 * hs**0.7, 0.25 * hs, 0.34 * hs)
    hc = (-0.50 - fx["dome_drop"] + 0.85 * hr[0], -0.10, 0.09)
    sl = g.box(tuple(c - r for c, r in zip(hc, hr)), tuple(c + r for c, r in zip(hc, hr)))
    hz, hy, hx = g.coords(sl)
    heart = ((hz - hc[0]) / hr[0]) ** 2 + ((hy - hc[1]) / hr[1]) ** 2 + ((hx - hc[2]) / hr[2]) ** 2 <= 1
    heart &= ~below[sl]
    lung[sl] &= ~heart

    tex = lattice_noise(anat.texture_seed, g)
    hilar = (np.exp(-((Z - 0.02) ** 2) / 0.05) * np.exp(-((Y - 0.05) ** 2) / 0.04)
             * (np.exp(-((X + 0.17) ** 2) / 0.03) + np.exp(-((X - 0.19) ** 2) / 0.03)))
    lung_val = (anat.lung_hu + fx["lung_hu"]) + 110.0 * hilar + 70.0 * tex
    np.copyto(hu, lung_val.astype(f32), where=lung)
    hu[sl][heart] = 40.0
    # hilar vessels, trachea and main bronchi
    for sx in (-1, 1):
        tube(hu, g, (0.16, 0.03, sx * 0.14), (-0.05, 0.06, sx * 0.24), 0.06, 45.0)
    carina = (0.22, 0.02, 0.0)
    tube(hu, g, carina, (1.2, -0.02, 0.0), 0.042, -1000.0)
    for sx in (-1, 1):
        tube(hu, g, carina, (0.08, 0.04, sx * 0.15), 0.028, -1000.0)
    return Body(g, hu, lung, anat, fx)


RIB_HU, CLAVICLE_HU, STERNUM_HU = 480.0, 700.0, 350.0


def _rib_phase(phi: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Rib number + fraction along z at angle ``phi`` (0 posterior .. 1 anterior); ribs fall towards the front."""
    return (0.86 - Z - 0.04 * phi - 0.55 * phi**2) / 0.13


def _on_rib(phase: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return (phase >= 0) & (phase < 10.6) & (phase - np.floor(phase) < 0.34) & (phi > 0.08) & (phi < 0.8)


def _rib_axes(body: Body, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cay = (body.anat.body_ay - 0.09) * body.effects["ap"]
    taper = np.sqrt(np.clip((APEX_Z + 0.04 - Z) / 0.42, 0.35, 1))
    return 0.81 * taper, (cay + 0.05) * taper


def add_bones(body: Body, thin: bool = True) -> None:
    """Spine and, with ``thin``, ribs, clavicles and sternum, painted over everything else (in place).

    The radiograph projects the thin bones analytically instead (:func:`thin_bone_path`): sampled
    along the ray, a rib a fraction of a sample thick would flicker in and out.
    """
    g, hu, anat = body.grid, body.hu, body.anat
    Z, Y, X = g.coords()
    cay = (anat.body_ay - 0.09) * body.effects["ap"]
    if thin:
        a, b = _rib_axes(body, Z)
        rr = np.sqrt((X / a) ** 2 + ((Y - Y_CENTRE) / b) ** 2)
        zi, yi, xi = np.nonzero(np.abs(rr - 1) < 0.05)  # the rib-cage shell, sparse
        phi = np.arctan2(np.abs(X[0, 0, xi]), Y[0, yi, 0] - Y_CENTRE) / np.pi
        rib = _on_rib(_rib_phase(phi, Z[zi, 0, 0]), phi)
        hu[zi[rib], yi[rib], xi[rib]] = RIB_HU
        for sx in (-1, 1):
            tube(hu, g, (0.70, -cay + 0.02, sx * 0.07), (0.84, -cay + 0.12, sx * 0.62), 0.035, CLAVICLE_HU)
        tube(hu, g, (-0.25, -cay - 0.01, 0.0), (0.66, -cay - 0.01, 0.0), 0.04, STERNUM_HU)
    ysp = Y_CENTRE + cay * 0.8
    r2 = X**2 + (Y - ysp) ** 2  # (1, ny, nx)
    disc = ((Z + 1.0) / 0.105) % 1.0 < 0.2
    vert = np.broadcast_to(r2 <= 0.105**2, hu.shape)
    hu[vert] = np.broadcast_to(np.where(disc, np.float32(70), np.where(r2 > 0.08**2, np.float32(420), np.float32(180))),
                               hu.shape)[vert]
    post = (np.abs(X) < 0.035) & (Y > ysp + 0.1) & (Y < ysp + 0.2)
    hu[np.broadcast_to(post & ~disc, hu.shape)] = 500.0


def thin_bone_path(body: Body) -> np.ndarray:
    """Extra water-equivalent path (body units) of ribs, clavicles and sternum along each AP ray, ``(nz, nx)``."""
    g = body.grid
    Z, X = g.z[:, None], g.x[None, :]
    a, b = _rib_axes(body, Z)
    u = np.abs(X) / a
    half = b * (np.sqrt(np.clip(1.05**2 - u**2, 0, None)) - np.sqrt(np.clip(0.95**2 - u**2, 0, None)))
    ymid = b * np.sqrt(np.clip(1 - u**2, 0, None))
    path = np.zeros((len(g.z), len(g.x)), np.float32)
    for sign in (1.0, -1.0):  # posterior and anterior halves of each rib
        phi = np.arctan2(np.abs(X) + 0 * Z, sign * ymid) / np.pi
        path += _on_rib(_rib_phase(phi, Z), phi) * half * ((RIB_HU - 40.0) / 1000.0)
    for sx in (-1, 1):  # clavicles: chord of a cylinder lying across the ray
        p0, p1 = np.array([0.70, sx * 0.07]), np.array([0.84, sx * 0.62])
        d = p1 - p0
        t = np.clip(((Z - p0[0]) * d[0] + (X - p0[1]) * d[1]) / float(d @ d), 0, 1)
        dist2 = (Z - p0[0] - t * d[0]) ** 2 + (X - p0[1] - t * d[1]) ** 2
        path += 2 * np.sqrt(np.clip(0.035**2 - dist2, 0, None)) * ((CLAVICLE_HU - 40.0) / 1000.0)
    sternum = (Z > -0.25) & (Z < 0.66)
    path += sternum * 2 * np.sqrt(np.clip(0.04**2 - X**2, 0, None)) * ((STERNUM_HU - 40.0) / 1000.0)
    return path
