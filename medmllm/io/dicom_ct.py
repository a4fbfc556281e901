"""CT volumes from DICOM: one slice, an enhanced multi-frame file, or a stack of single-slice datasets.

Slices (or frames) are ordered by their position along the slice normal (ImagePositionPatient
projected on the cross product of the ImageOrientationPatient vectors; file names and
InstanceNumber are ignored), checked for consistent orientation, pixel spacing and matrix, for
duplicate positions and for gaps, and converted to HU one by one with their own
RescaleSlope/Intercept. The slice spacing comes from the positions, never from SliceThickness.
The volume is allocated once, directly in the canonical axes of CONTRACTS.md, and every slice is
decoded straight into it: peak memory is the volume plus one slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medmllm.io import dicom as D
from medmllm.io.errors import ImageLoadError
from medmllm.io.orient import canonical_array, spacing_from_affine
from medmllm.io.types import (MedicalImage, check_decoded_size, check_finite, check_number, count_nonfinite,
                              nonfinite_error)

_POS_TOL_MM = 1e-3


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
    step = float(np.median(diffs)) if diffs.size else 1.0
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


def check_same(label: Path, what: str, values: list, names: list[str], atol: float) -> None:
    """Every value equal to the first (within ``atol``), or an error naming two slices."""
    ref = np.asarray(values[0], dtype=np.float64)
    for v, n in zip(values[1:], names[1:]):
        if np.shape(v) != ref.shape or not np.allclose(np.asarray(v, dtype=np.float64), ref, atol=atol):
            raise ImageLoadError(label, f"{what} differs between slices ({names[0]}: {list(np.round(ref, 4))}, "
                                        f"{n}: {list(np.round(np.asarray(v, dtype=float), 4))})")


def volume_affine(first_ipp, last_ipp, n: int, iop: np.ndarray, spacing_2d, normal_step: float) -> np.ndarray:
    """Voxel ``(slice, row, col)`` -> LPS mm of a stack from its first and last positions."""
    affine = np.eye(4)
    step = (last_ipp - first_ipp) / (n - 1) if n > 1 else np.cross(iop[:3], iop[3:]) * normal_step
    affine[:3, 0] = step
    affine[:3, 1] = iop[3:] * spacing_2d[0]
    affine[:3, 2] = iop[:3] * spacing_2d[1]
    affine[:3, 3] = first_ipp
    return affine


def _allocate(label: Path, shape: tuple[int, int, int], affine: np.ndarray):
    try:
        return canonical_array(shape, affine)
    except ValueError:
        raise ImageLoadError(label, "slice geometry gives a singular affine (zero spacing or parallel axes)") from None


def hu_into(out: np.ndarray, arr: np.ndarray, path: Path, ds, slope: float, intercept: float) -> None:
    """``out[...] = arr * slope + intercept`` (float32, no temporaries), or the Modality LUT when present."""
    if arr.dtype.kind == "f":
        check_finite(path, arr)
    if ds is not None and ds.get("ModalityLUTSequence"):
        from pydicom.pixels import apply_modality_lut

        out[...] = apply_modality_lut(arr, ds)
    elif slope == 1.0:
        np.copyto(out, arr, casting="unsafe")
    else:
        np.multiply(arr, np.float32(slope), out=out, casting="unsafe")
    if intercept:
        out += np.float32(intercept)
    n_nan, n_inf = count_nonfinite(out)
    if n_nan or n_inf:
        raise nonfinite_error(path, n_nan, n_inf)


def _decode_slice(path: Path, ds, rows: int, cols: int, index: int | None = None) -> np.ndarray:
    arr = D.decode_pixels(path, ds, index)
    if arr.shape != (rows, cols):
        raise ImageLoadError(path, f"pixel array of shape {arr.shape}, expected ({rows}, {cols})")
    return arr


def _thickness(ds) -> float:
    for keyword in ("SliceThickness", "SpacingBetweenSlices"):
        try:
            value = float(ds.get(keyword))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            return value
    return 1.0


def ct_slice_from_dataset(path: Path, ds, *, max_bytes: int) -> MedicalImage:
    """A single CT slice -> ``(1, H, W)`` HU with an affine from its position and orientation."""
    D.check_pixel_size(path, ds, max_bytes)
    rows, cols = int(ds.Rows), int(ds.Columns)
    ipp, row_dir, col_dir, (row_mm, col_mm) = D.slice_geometry(path, ds)
    slope, intercept = D.rescale(path, ds)
    affine = np.eye(4)
    affine[:3, 0] = np.cross(row_dir, col_dir) * _thickness(ds)
    affine[:3, 1] = col_dir * row_mm
    affine[:3, 2] = row_dir * col_mm
    affine[:3, 3] = ipp
    volume, view, affine = _allocate(path, (1, rows, cols), affine)
    hu_into(view[0], _decode_slice(path, ds, rows, cols), path, ds, slope, intercept)
    meta = D.build_meta(ds)
    meta["slices"] = 1
    return MedicalImage(volume, spacing_from_affine(affine), affine, "ct", "dicom", meta)


def stack_slices(label: Path, items: list, *, max_bytes: int, workers: int = 1) -> MedicalImage:
    """A CT volume from ``[(path, dataset), ...]`` of one series (any order; see the module docstring)."""
    names = [p.name for p, _ in items]
    for p, ds in items:
        for kw in ("ImagePositionPatient", "ImageOrientationPatient"):
            if kw not in ds:
                raise ImageLoadError(p, f"CT slice without {kw}; cannot place it in the volume")
    iops = [D.orientation(p, ds.ImageOrientationPatient) for p, ds in items]
    check_same(label, "ImageOrientationPatient", iops, names, 1e-4)
    check_same(label, "matrix (Rows, Columns)", [(int(ds.Rows), int(ds.Columns)) for _, ds in items], names, 0)
    check_same(label, "PixelSpacing", [D.numbers(p, "PixelSpacing", ds.get("PixelSpacing", [1, 1]), 2)
                                       for p, ds in items], names, 1e-4)
    iop = iops[0]
    ipps = np.asarray([D.numbers(p, "ImagePositionPatient", ds.ImagePositionPatient, 3) for p, ds in items])
    order, step = order_positions(label, ipps @ np.cross(iop[:3], iop[3:]), names)
    items = [items[i] for i in order]
    ipps = ipps[order]
    first = items[0][1]
    rows, cols = int(first.Rows), int(first.Columns)
    check_decoded_size(label, (len(items), rows, cols), max_bytes)
    affine = volume_affine(ipps[0], ipps[-1], len(items), iop, D.pixel_spacing_2d(first) or (1.0, 1.0), step)
    volume, view, affine = _allocate(label, (len(items), rows, cols), affine)

    def fill(i: int) -> None:
        p, ds = items[i]
        slope, intercept = D.rescale(p, ds)
        hu_into(view[i], _decode_slice(p, ds, rows, cols), p, ds, slope, intercept)
        if "PixelData" in ds:
            del ds.PixelData  # the stored bytes are no longer needed

    with D.capture_pydicom_messages():
        D.map_threads(fill, list(range(len(items))), workers)
    meta = D.build_meta(first)
    meta["slice_spacing_from"] = "positions"
    meta["slices"] = len(items)
    return MedicalImage(volume, spacing_from_affine(affine), affine, "ct", "dicom-series", meta)


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
    D.check_pixel_size(path, ds, max_bytes)
    n, rows, cols = int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns)
    names = [f"frame {i + 1}" for i in range(n)]
    ipps, iops, slopes, intercepts, spacings = [], [], [], [], []
    for i in range(n):
        ipp = _frame_attr(ds, i, "PlanePositionSequence", "ImagePositionPatient")
        iop = _frame_attr(ds, i, "PlaneOrientationSequence", "ImageOrientationPatient")
        if ipp is None or iop is None:
            raise ImageLoadError(path, f"{names[i]} has no plane position/orientation; cannot place it in the volume")
        ipps.append(D.numbers(path, f"ImagePositionPatient of {names[i]}", ipp, 3))
        iops.append(D.orientation(path, iop))
        spacings.append(D.numbers(path, f"PixelSpacing of {names[i]}",
                                  _frame_attr(ds, i, "PixelMeasuresSequence", "PixelSpacing", [1.0, 1.0]), 2))
        for values, attr, default in ((slopes, "RescaleSlope", 1.0), (intercepts, "RescaleIntercept", 0.0)):
            values.append(check_number(path, f"{attr} of {names[i]}",
                                         _frame_attr(ds, i, "PixelValueTransformationSequence", attr, default)))
    check_same(path, "ImageOrientationPatient", iops, names, 1e-4)
    check_same(path, "PixelSpacing", spacings, names, 1e-4)
    iop = iops[0]
    ipp_arr = np.asarray(ipps)
    order, step = order_positions(path, ipp_arr @ np.cross(iop[:3], iop[3:]), names)
    affine = volume_affine(ipp_arr[order[0]], ipp_arr[order[-1]], n, iop, spacings[0], step)
    volume, view, affine = _allocate(path, (n, rows, cols), affine)
    for k, i in enumerate(order):
        hu_into(view[k], _decode_slice(path, ds, rows, cols, int(i)), path, None, slopes[i], intercepts[i])
    meta = D.build_meta(ds)
    meta["slice_spacing_from"] = "positions"
    meta["slices"] = n
    return MedicalImage(volume, spacing_from_affine(affine), affine, "ct", "dicom", meta)
