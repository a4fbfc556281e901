"""Which CT series and which X-ray of a hospital case folder to use (the documented rule).

CT rule: among the CT series in ``ct/`` (DICOM series grouped by SeriesInstanceUID, NIfTI or NRRD
files), prefer an axial series, then the one with the most slices, then the thinnest slices
(``prefer="thinnest"`` swaps the last two). Localizers and non-CT series are never picked.
``series=UID_OR_NUMBER`` overrides the rule where that series exists.

X-ray rule: PA over AP over lateral over an unknown view (view from the DICOM ViewPosition tag or
from the file name: ``..._PA.png``, ``lat``); ties go to the first file name. ``views`` overrides
the order (e.g. ``["AP", "PA"]``) and ``["all"]`` keeps every X-ray.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RASTER_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr")
VIEW_ORDER = ("PA", "AP", "LATERAL")
_VIEW_WORDS = {"pa": "PA", "ap": "AP", "lat": "LATERAL", "lateral": "LATERAL", "ll": "LATERAL", "rl": "LATERAL"}


@dataclass
class CTCandidate:
    path: Path  # folder of the series, or the volume file
    format: str  # "dicom-series" | "nifti" | "nrrd"
    slices: int
    thickness: float  # mm (inf when unknown)
    axial: bool | None  # None when the orientation is unknown
    uid: str | None = None
    number: str | None = None
    shares_folder: bool = False

    def describe(self) -> str:
        orient = {True: "axial", False: "not axial", None: "orientation unknown"}[self.axial]
        thick = "?" if math.isinf(self.thickness) else f"{self.thickness:.2f}"
        what = f"series {self.number}" if self.number else self.path.name
        return f"{what} ({orient}, {self.slices} slices, {thick} mm)"


def _is_volume(p: Path) -> bool:
    return p.name.lower().endswith(VOLUME_SUFFIXES)


def _dicom_headers(files: list[Path]):
    import pydicom
    from pydicom.errors import InvalidDicomError

    for f in files:
        try:
            yield f, pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            log.debug("not a DICOM file: %s", f.name)


def _axial(iop) -> bool | None:
    try:
        v = np.asarray([float(x) for x in iop], dtype=float)
    except (TypeError, ValueError):
        return None
    if v.size != 6:
        return None
    normal = np.cross(v[:3], v[3:])
    return bool(abs(normal[2]) > 0.9 * (np.linalg.norm(normal) or 1.0))


def _volume_candidate(p: Path) -> CTCandidate | None:
    try:
        if p.name.lower().endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(p))
            codes = nib.aff2axcodes(img.affine)
            axis = next((i for i, c in enumerate(codes) if c in "SI"), 2)
            return CTCandidate(p, "nifti", int(img.shape[axis]), float(img.header.get_zooms()[axis]), True)
        import nrrd

        header = nrrd.read_header(str(p))
        sizes = header.get("sizes", [1, 1, 1])
        return CTCandidate(p, "nrrd", int(sizes[-1]), math.inf, None)
    except Exception as e:  # noqa: BLE001 - any unreadable volume is simply not a candidate
        log.debug("unreadable volume %s: %s", p.name, e)
        return None


def ct_candidates(ct_dir: Path) -> list[CTCandidate]:
    """Every CT candidate in ``ct_dir``: DICOM series (by SeriesInstanceUID) and volume files."""
    files = sorted(p for p in ct_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    out = [c for c in (_volume_candidate(p) for p in files if _is_volume(p)) if c is not None]
    series: dict[str, list] = {}
    for f, ds in _dicom_headers([p for p in files if not _is_volume(p) and p.suffix.lower() not in RASTER_EXTS]):
        if str(ds.get("Modality", "CT")).upper() != "CT" or "LOCALIZER" in [str(x).upper() for x in
                                                                          ds.get("ImageType", [])]:
            continue
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((f, ds))
    folders = {}
    for uid, items in series.items():
        folder = Path(*_common_parts([f.parent for f, _ in items]))
        folders.setdefault(folder, 0)
        folders[folder] += 1
        ds0 = items[0][1]
        thick = ds0.get("SliceThickness") or ds0.get("SpacingBetweenSlices")
        out.append(CTCandidate(folder, "dicom-series", len(items), float(thick) if thick else math.inf,
                               _axial(ds0.get("ImageOrientationPatient")), uid or None,
                               str(ds0.get("SeriesNumber", "")) or None))
    for c in out:
        c.shares_folder = c.format == "dicom-series" and folders.get(c.path, 0) > 1
    return out


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    parts = paths[0].parts
    for p in paths[1:]:
        n = 0
        while n < min(len(parts), len(p.parts)) and parts[n] == p.parts[n]:
            n += 1
        parts = parts[:n]
    return parts


def pick_ct(cands: list[CTCandidate], *, series: str | None = None,
            prefer: str = "most-slices") -> tuple[CTCandidate | None, str]:
    """The CT to use and a sentence saying why."""
    if not cands:
        return None, "no CT"
    if series:
        hit = [c for c in cands if series in (c.uid, c.number, c.path.name)]
        if hit:
            return hit[0], f"CT {hit[0].describe()} as requested"
    axial_rank = {True: 2, None: 1, False: 0}
    if prefer == "thinnest":
        key = lambda c: (axial_rank[c.axial], -c.thickness, c.slices)  # noqa: E731
    else:
        key = lambda c: (axial_rank[c.axial], c.slices, -c.thickness)  # noqa: E731
    best = max(cands, key=key)
    why = f"CT {best.describe()}"
    if len(cands) > 1:
        why += f", the best of {len(cands)} by the rule (axial, {'thinnest, most slices' if prefer == 'thinnest' else 'most slices, thinnest'})"
    if series:
        why += f" (requested series {series} not found)"
    return best, why


def normalise_view(value: str | None) -> str | None:
    """A DICOM ViewPosition (or a dataset's view column) as PA / AP / LATERAL, or None when other/unknown.

    ``PA``, ``AP`` (also ``AP AXIAL``, ``AP LLD``, ``PA LLD``: decubitus and lordotic frontals are
    frontal), ``LL`` / ``RL`` / ``LATERAL`` / ``XTABLE LATERAL`` -> ``LATERAL``.
    """
    v = " ".join(str(value or "").strip().upper().split())
    if v in ("LL", "RL", "LAT", "LATERAL", "LLD", "RLD", "XTABLE LATERAL", "LEFT LATERAL", "RIGHT LATERAL"):
        return "LATERAL"
    head = v.split(" ")[0]
    return head if head in ("PA", "AP") else None


def parse_views(xray_view: str | None) -> list[str] | None:
    """``--xray-view`` (``AP,PA,LATERAL`` or ``all``) as the view order, None for the default."""
    return [v.strip().upper() for v in xray_view.split(",") if v.strip()] if xray_view else None


def xray_view(path: Path) -> str | None:
    """PA / AP / LATERAL from the DICOM header or the file name, or None."""
    if path.suffix.lower() not in RASTER_EXTS:
        for _, ds in _dicom_headers([path]):
            v = normalise_view(str(ds.get("ViewPosition", "")))
            if v:
                return v
    for word in re.split(r"[^a-z]+", path.stem.lower()):
        if word in _VIEW_WORDS:
            return _VIEW_WORDS[word]
    return None


def pick_xrays(files: list[Path], *, views: list[str] | None = None,
               view_of: Callable[[Path], str | None] = xray_view) -> tuple[list[tuple[Path, str | None]], str]:
    """The X-ray(s) to use with their views, and a sentence saying why.

    ``view_of`` gives a file's view (default: DICOM header or file name; datasets that list views
    in a CSV pass a look-up).
    """
    if not files:
        return [], "no X-ray"
    order = [v.upper() for v in (views or VIEW_ORDER)]
    found = [(f, view_of(f)) for f in sorted(files)]
    rank = lambda fv: order.index(fv[1]) if fv[1] in order else len(order)  # noqa: E731
    ranked = sorted(found, key=rank)
    if order == ["ALL"]:
        return found, f"all {len(found)} X-ray(s)"
    best = ranked[0]
    why = f"X-ray {best[1] or 'view unknown'} ({best[0].name})"
    if len(found) > 1:
        why += f", the best of {len(found)} by the view order {' > '.join(order)}"
    return [best], why
