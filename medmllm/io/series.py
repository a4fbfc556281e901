"""CT volumes made of many DICOM slices (folder, list of files, zip) or one enhanced multi-frame file.

Slices are grouped by SeriesInstanceUID, ordered by their position along the slice normal
(ImagePositionPatient projected on the cross product of the ImageOrientationPatient vectors;
file names and InstanceNumber are ignored), checked for consistent orientation, pixel spacing
and matrix, for duplicate positions and for gaps, and converted to HU slice by slice with each
slice's own RescaleSlope/Intercept. The slice spacing comes from the positions, never from
SliceThickness. The volume is returned in the canonical axes of CONTRACTS.md.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from medmllm.io import dicom as D
from medmllm.io.phi import scrub_text
from medmllm.io.errors import ImageLoadError
from medmllm.io.image import MedicalImage, check_decoded_size
from medmllm.io.orient import reorient_to_canonical, spacing_from_affine

log = logging.getLogger(__name__)

_POS_TOL_MM = 1e-3


def _map(fn: Callable, items: Sequence, workers: int) -> list:
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def list_dicom_files(folder: Path, max_files: int) -> list[Path]:
    """Every DICOM file under ``folder`` (recursively; hidden files and non-DICOM files skipped)."""
    from medmllm.io.image import sniff

    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > max_files:
        raise ImageLoadError(folder, f"folder holds {len(files)} files, more than the limit of {max_files}")
    out = []
    for f in files:
        try:
            if sniff(f) == "dicom":
                out.append(f)
        except ImageLoadError:
            log.debug("skipping non-DICOM file %s", f.name)
    if not out:
        raise ImageLoadError(folder, f"holds no DICOM files ({len(files)} other files)")
    return out


def order_positions(label: Path, positions: np.ndarray, names: list[str]) -> tuple[np.ndarray, float]:
    """Sort slice positions (mm along the normal) and check them.

    Returns:
        ``(order, step)``: indices that sort the slices inferior -> superior along the normal,
        and the slice spacing in mm.

    Raises:
        ImageLoadError: duplicate positions, a gap (missing slices) or uneven spacing, with numbers.
    """
    order = np.argsort(positions, kind="stable")
    pos = positions[order]
    diffs = np.diff(pos)
    dup = np.flatnonzero(diffs < _POS_TOL_MM)
    if dup.size:
        i = int(dup[0])
        raise ImageLoadError(label, f"duplicate slices: {names[order[i]]} and {names[order[i + 1]]} are both at "
                                    f"{pos[i]:.2f} mm along the slice normal ({dup.size} duplicate(s) in "
                                    f"{len(pos)} slices)")
    step = float(np.median(diffs))
    big = np.flatnonzero(diffs > 1.5 * step)
    if big.size:
        i = int(big[0])
        missing = int(round(diffs[i] / step)) - 1
        raise ImageLoadError(label, f"gap in the series: about {max(missing, 1)} slice(s) missing between "
                                    f"{pos[i]:.2f} and {pos[i + 1]:.2f} mm ({diffs[i]:.2f} mm apart, "
                                    f"slice spacing {step:.2f} mm); {len(pos)} slices present")
    uneven = np.abs(diffs - step) > max(0.1 * step, 0.01)
    if uneven.any():
        raise ImageLoadError(label, f"uneven slice spacing: steps from {diffs.min():.3f} to {diffs.max():.3f} mm")
    return order, step


def _check_same(label: Path, what: str, values: list, names: list[str], atol: float) -> None:
    ref = np.asarray(values[0], dtype=np.float64)
    for v, n in zip(values[1:], names[1:]):
        if np.shape(v) != ref.shape or not np.allclose(np.asarray(v, dtype=np.float64), ref, atol=atol):
            raise ImageLoadError(label, f"{what} differs between slices ({names[0]}: {list(np.round(ref, 4))}, "
                                        f"{n}: {list(np.round(np.asarray(v, dtype=float), 4))})")


def _volume_affine(first_ipp, last_ipp, n: int, iop: np.ndarray, spacing_2d, normal_step: float) -> np.ndarray:
    affine = np.eye(4)
    step = (last_ipp - first_ipp) / (n - 1) if n > 1 else np.cross(iop[:3], iop[3:]) * normal_step
    affine[:3, 0] = step
    affine[:3, 1] = iop[3:] * spacing_2d[0]
    affine[:3, 2] = iop[:3] * spacing_2d[1]
    affine[:3, 3] = first_ipp
    return affine


def _finish(volume: np.ndarray, affine: np.ndarray, meta: dict, fmt: str) -> MedicalImage:
    volume, affine = reorient_to_canonical(volume, affine)
    meta["slices"] = int(volume.shape[0])
    return MedicalImage(np.ascontiguousarray(volume), spacing_from_affine(affine), affine, "ct", fmt, meta)


def _series_summary(groups: dict[str, list]) -> str:
    parts = []
    for uid, items in groups.items():
        ds = items[0][1]
        desc = str(ds.get("SeriesDescription", "") or "")
        parts.append(f"{uid or '(no UID)'} (#{ds.get('SeriesNumber', '?')}, {len(items)} files"
                     + (f", {scrub_text(desc, ds)}" if desc else "") + ")")
    return "; ".join(parts)


def _pick_series(label: Path, groups: dict[str, list], series: str | None) -> list:
    if series is None:
        if len(groups) == 1:
            return next(iter(groups.values()))
        raise ImageLoadError(label, f"holds {len(groups)} series; choose one with --series UID (or series=): "
                                    + _series_summary(groups))
    for uid, items in groups.items():
        if series == uid or series == str(items[0][1].get("SeriesNumber", "")):
            return items
    raise ImageLoadError(label, f"no series {series!r}; available: " + _series_summary(groups))


def _read_all(paths: list[Path], workers: int) -> list[tuple[Path, Any]]:
    with D.capture_pydicom_messages() as messages:
        datasets = _map(D.read_dataset, paths, workers)
    out = []
    for p, ds in zip(paths, datasets):
        if D.has_pixels(ds):
            out.append((p, ds))
        elif any(p.name in m and ("end of file" in m.lower() or "truncat" in m.lower()) for m in messages):
            raise ImageLoadError(p, "truncated DICOM file (pixel data cut off)")
        else:
            log.debug("skipping %s: no pixel data", p.name)
    if not out:
        raise ImageLoadError(paths[0].parent, "holds DICOM files but none with pixel data")
    return out


def load_series_files(paths: list[Path], *, series: str | None = None, max_bytes: int, label: Path | None = None,
                      workers: int = 1, kind: str | None = None) -> MedicalImage:
    """Load a CT series from DICOM files (any order). See the module docstring for the checks."""
    from medmllm.io.image import sniff

    for p in paths:
        if sniff(p) != "dicom":
            raise ImageLoadError(p, "not a DICOM file (a series is a list of DICOM files)")
    label = Path(label) if label is not None else paths[0].parent
    groups: dict[str, list] = {}
    for p, ds in _read_all(paths, workers):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((p, ds))
    items = _pick_series(label, groups, series)
    if len(items) == 1:
        p, ds = items[0]
        img = D.read_dicom_file(p, max_bytes=max_bytes, kind=kind)
        if img.kind == "ct" and int(ds.get("NumberOfFrames", 1) or 1) == 1:
            img.source_format = "dicom-series"
        return img
    if any(int(ds.get("NumberOfFrames", 1) or 1) > 1 for _, ds in items):
        raise ImageLoadError(label, "series mixes several multi-frame files; pass one file")
    first = items[0][1]
    modality = str(first.get("Modality", "") or "DICOM")
    if kind not in ("ct", None):
        raise ImageLoadError(label, f"holds a series of {len(items)} {modality} images; expected one '{kind}' image")
    if D.image_kind(items[0][0], first, kind) != "ct":
        raise ImageLoadError(label, f"holds {len(items)} {modality} images, not a CT series; pass one file")
    return _stack(label, items, max_bytes=max_bytes, workers=workers)


def _stack(label: Path, items: list, *, max_bytes: int, workers: int) -> MedicalImage:
    names = [p.name for p, _ in items]
    for p, ds in items:
        for kw in ("ImagePositionPatient", "ImageOrientationPatient"):
            if kw not in ds:
                raise ImageLoadError(p, f"CT slice without {kw}; cannot place it in the volume")
    iops = [[float(v) for v in ds.ImageOrientationPatient] for _, ds in items]
    _check_same(label, "ImageOrientationPatient", iops, names, 1e-4)
    _check_same(label, "matrix (Rows, Columns)", [(int(ds.Rows), int(ds.Columns)) for _, ds in items], names, 0)
    _check_same(label, "PixelSpacing", [[float(v) for v in ds.get("PixelSpacing", [1, 1])] for _, ds in items],
                names, 1e-4)
    iop = np.asarray(iops[0])
    normal = np.cross(iop[:3], iop[3:])
    ipps = np.asarray([[float(v) for v in ds.ImagePositionPatient] for _, ds in items])
    order, step = order_positions(label, ipps @ normal, names)
    items = [items[i] for i in order]
    ipps = ipps[order]
    first = items[0][1]
    rows, cols = int(first.Rows), int(first.Columns)
    check_decoded_size(label, (len(items), rows, cols), max_bytes)
    volume = np.empty((len(items), rows, cols), dtype=np.float32)  # (D, H, W) before reorientation

    def fill(i: int) -> None:
        p, ds = items[i]
        arr = D.decode_pixels(p, ds)
        if arr.shape != (rows, cols):
            raise ImageLoadError(p, f"pixel array of shape {arr.shape}, expected ({rows}, {cols})")
        if arr.dtype.kind == "f":
            D.check_finite(p, arr)
        _rescale_into(volume[i], arr, ds)
        del ds.PixelData  # the raw bytes are no longer needed

    with D.capture_pydicom_messages():
        _map(fill, list(range(len(items))), workers)
    spacing_2d = D.pixel_spacing_2d(first) or (1.0, 1.0)
    affine = _volume_affine(ipps[0], ipps[-1], len(items), iop, spacing_2d, step)
    meta = D.build_meta(first)
    meta["slice_spacing_from"] = "positions"
    return _finish(volume, affine, meta, "dicom-series")


def _rescale_into(out: np.ndarray, arr: np.ndarray, ds) -> None:
    """``out[...] = arr * slope + intercept`` (float32) without temporaries; Modality LUT if present."""
    if ds.get("ModalityLUTSequence"):
        out[...] = D.to_hu(ds, arr)
        return
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if slope == 1.0:
        np.copyto(out, arr, casting="unsafe")
    else:
        np.multiply(arr, np.float32(slope), out=out, casting="unsafe")
    if intercept:
        out += np.float32(intercept)


def load_series_folder(folder: Path, *, series: str | None = None, max_bytes: int, max_files: int,
                       workers: int = 1, kind: str | None = None, label: Path | None = None) -> MedicalImage:
    """Load the CT series of a folder (or of an extracted zip; errors then name ``label`` and the entry)."""
    try:
        files = list_dicom_files(folder, max_files)
        return load_series_files(files, series=series, max_bytes=max_bytes, label=label or folder,
                                 workers=workers, kind=kind)
    except ImageLoadError as e:
        if label is None or e.path is None or Path(e.path) == Path(label):
            raise
        try:
            rel = Path(e.path).relative_to(folder)
        except ValueError:
            raise e from None
        where = "zip" if str(rel) == "." else f"zip entry '{rel.as_posix()}'"
        raise ImageLoadError(label, f"{where}: {e.problem}") from None


def _frame_attr(ds, i: int, seq: str, attr: str, default=None):
    """An attribute of frame ``i`` from its per-frame functional group, else the shared one."""
    for groups in (ds.get("PerFrameFunctionalGroupsSequence"), ds.get("SharedFunctionalGroupsSequence")):
        if not groups:
            continue
        item = groups[i] if groups is ds.get("PerFrameFunctionalGroupsSequence") else groups[0]
        if seq in item and len(item[seq].value) and attr in item[seq].value[0]:
            return item[seq].value[0].get(attr)
    return default


def load_multiframe_ct(path: Path, ds, *, max_bytes: int) -> MedicalImage:
    """An enhanced (multi-frame) CT: frames placed by their Plane Position functional groups."""
    n, rows, cols = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    names = [f"frame {i + 1}" for i in range(n)]
    ipps, iops, slopes, intercepts, spacings = [], [], [], [], []
    for i in range(n):
        ipp = _frame_attr(ds, i, "PlanePositionSequence", "ImagePositionPatient")
        iop = _frame_attr(ds, i, "PlaneOrientationSequence", "ImageOrientationPatient")
        if ipp is None or iop is None:
            raise ImageLoadError(path, f"{names[i]} has no plane position/orientation; cannot place it in the volume")
        ipps.append([float(v) for v in ipp])
        iops.append([float(v) for v in iop])
        spacings.append([float(v) for v in _frame_attr(ds, i, "PixelMeasuresSequence", "PixelSpacing", [1.0, 1.0])])
        slopes.append(float(_frame_attr(ds, i, "PixelValueTransformationSequence", "RescaleSlope", 1.0)))
        intercepts.append(float(_frame_attr(ds, i, "PixelValueTransformationSequence", "RescaleIntercept", 0.0)))
    _check_same(path, "ImageOrientationPatient", iops, names, 1e-4)
    _check_same(path, "PixelSpacing", spacings, names, 1e-4)
    iop = np.asarray(iops[0])
    ipp_arr = np.asarray(ipps)
    order, step = order_positions(path, ipp_arr @ np.cross(iop[:3], iop[3:]), names)
    check_decoded_size(path, (n, rows, cols), max_bytes)
    frames = D.decode_pixels(path, ds).reshape(n, rows, cols)
    D.check_finite(path, frames)
    volume = np.empty((n, rows, cols), dtype=np.float32)
    for k, i in enumerate(order):
        np.multiply(frames[i], np.float32(slopes[i]), out=volume[k], casting="unsafe")
        volume[k] += np.float32(intercepts[i])
    affine = _volume_affine(ipp_arr[order[0]], ipp_arr[order[-1]], n, iop, spacings[0], step)
    meta = D.build_meta(ds)
    meta["slice_spacing_from"] = "positions"
    return _finish(volume, affine, meta, "dicom")


__all__ = ["load_series_files", "load_series_folder", "load_multiframe_ct", "order_positions", "list_dicom_files"]
