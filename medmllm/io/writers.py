"""Deterministic writers of medical image files (synthetic cases, tests, benchmarks).

Every writer produces the same bytes for the same input: UIDs are derived from the content (or
from the UIDs you pass), dates are fixed, nothing depends on the clock. Files are written to a
temporary name in the target folder and renamed, so a failed write leaves nothing half-written.

Axes follow CONTRACTS.md: a CT volume is ``(D, H, W)`` with D from inferior to superior, H from
anterior to posterior and W from the patient's right to left; in DICOM patient coordinates (LPS)
that is the standard axial orientation ``ImageOrientationPatient = [1, 0, 0, 0, 1, 0]``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from medmllm.files import atomic_write_with

FIXED_DATE = "20240101"
FIXED_TIME = "120000"

# Short names accepted in ``patient=`` dicts; any DICOM keyword is accepted too.
_PATIENT_KEYS = {
    "name": "PatientName",
    "id": "PatientID",
    "birth_date": "PatientBirthDate",
    "sex": "PatientSex",
    "age": "PatientAge",
    "weight_kg": "PatientWeight",
}


def _uid(*parts: Any) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:32]


def _apply_patient(ds, patient: dict | None) -> None:
    from pydicom.datadict import tag_for_keyword

    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "SYNTHETIC"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    for key, value in (patient or {}).items():
        keyword = _PATIENT_KEYS.get(key, key)
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"patient: unknown key {key!r} (use {sorted(_PATIENT_KEYS)} or a DICOM keyword)")
        setattr(ds, keyword, value)


def _new_dataset(sop_class: str, sop_uid: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    for kw in ("StudyDate", "SeriesDate", "ContentDate"):
        setattr(ds, kw, FIXED_DATE)
    for kw in ("StudyTime", "SeriesTime", "ContentTime"):
        setattr(ds, kw, FIXED_TIME)
    ds.Manufacturer = "medmllm"
    ds.ManufacturerModelName = "synthetic"
    ds.BodyPartExamined = "CHEST"
    return ds


def _single_instance(sop_class: str, key: list, modality: str, patient: dict | None, description: str):
    """A data set for a one-file study: UIDs from ``key``, patient, modality, series description."""
    ds = _new_dataset(sop_class, _uid("instance", *key))
    _apply_patient(ds, patient)
    ds.Modality = modality
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.StudyInstanceUID = _uid("study", *key)
    ds.SeriesInstanceUID = _uid("series", *key)
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = description
    return ds


def _per_slice(value: float | Sequence[float], n: int, name: str) -> list[float]:
    if np.ndim(value) == 0:
        return [float(value)] * n
    values = [float(v) for v in value]  # type: ignore[union-attr]
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} slices")
    return values


def write_ct_series(
    volume_hu: np.ndarray,
    spacing: Sequence[float],
    out_dir: str | os.PathLike,
    *,
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient: dict | None = None,
    rescale_slope: float | Sequence[float] = 1.0,
    rescale_intercept: float | Sequence[float] = -1024.0,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    shuffle_names: bool = False,
    description: str = "CT CHEST",
) -> list[Path]:
    """Write a CT volume as a DICOM series, one axial slice per file.

    Args:
        volume_hu: ``(D, H, W)`` Hounsfield units, D inferior -> superior.
        spacing: ``(d, h, w)`` in mm (slice step, row step, column step).
        out_dir: folder to write into (created).
        series_uid, study_uid: fixed UIDs; derived from the content when None.
        patient: identifiers to write (``name``, ``id``, ``birth_date``, ``sex``, ``age``,
            ``weight_kg`` or any DICOM keyword, e.g. ``InstitutionName``).
        rescale_slope, rescale_intercept: one value, or one per slice.
        origin: LPS position (mm) of voxel ``(0, 0, 0)``.
        shuffle_names: give files names unrelated to their slice order.
        description: SeriesDescription.

    Returns:
        The written paths, in slice order (index 0 is the most inferior slice).
    """
    from pydicom.uid import CTImageStorage

    vol = np.asarray(volume_hu, dtype=np.float64)
    if vol.ndim != 3:
        raise ValueError(f"volume_hu must be (D, H, W), got shape {vol.shape}")
    d, h, w = (float(s) for s in spacing)
    n = vol.shape[0]
    slopes = _per_slice(rescale_slope, n, "rescale_slope")
    intercepts = _per_slice(rescale_intercept, n, "rescale_intercept")
    key = [_digest(vol), spacing, origin, description, sorted((patient or {}).items())]
    study_uid = study_uid or _uid("study", *key)
    series_uid = series_uid or _uid("series", *key)
    frame_uid = _uid("frame", series_uid)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = np.arange(n)
    if shuffle_names:
        seed = int(hashlib.sha256(series_uid.encode()).hexdigest()[:8], 16)
        order = np.random.default_rng(seed).permutation(n)
    paths = []
    for i in range(n):
        stored = np.rint((vol[i] - intercepts[i]) / slopes[i])
        if stored.min() >= 0 and stored.max() <= 65535:
            pixels = stored.astype(np.uint16)
        elif stored.min() >= -32768 and stored.max() <= 32767:
            pixels = stored.astype(np.int16)
        else:
            raise ValueError(f"slice {i}: HU do not fit 16 bits with slope {slopes[i]} intercept {intercepts[i]}")
        sop_uid = _uid("instance", series_uid, i)
        ds = _new_dataset(CTImageStorage, sop_uid)
        _apply_patient(ds, patient)
        ds.Modality = "CT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.InstanceNumber = i + 1
        ds.SeriesDescription = description
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(origin[2]) + i * d]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [h, w]
        ds.SliceThickness = d
        ds.RescaleSlope = slopes[i]
        ds.RescaleIntercept = intercepts[i]
        ds.RescaleType = "HU"
        ds.WindowCenter = -600
        ds.WindowWidth = 1500
        ds.set_pixel_data(pixels, "MONOCHROME2", 16, generate_instance_uid=False)
        path = out / f"IM{int(order[i]):05d}.dcm"
        paths.append(atomic_write_with(path, lambda p, ds=ds: ds.save_as(p, enforce_file_format=True)))
    return paths


def write_xray_dicom(
    image01: np.ndarray,
    path: str | os.PathLike,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "CR",
    pixel_spacing: Sequence[float] = (0.2, 0.2),
    bits: int = 12,
    view: str = "PA",
    patient: dict | None = None,
) -> Path:
    """Write a chest radiograph as a single DICOM file.

    Args:
        image01: ``(H, W)`` in [0, 1], bone bright, patient's right on the image's left.
        path: output file.
        photometric: ``MONOCHROME2`` (high = bright) or ``MONOCHROME1`` (stored inverted).
        modality: ``CR`` or ``DX`` (DX is written "for presentation").
        pixel_spacing: ``(row, col)`` mm.
        bits: BitsStored (8..16); values are quantised to ``2**bits - 1`` levels.
        view: ViewPosition (``PA``, ``AP``, ``LL`` ...).
        patient: identifiers to write (see :func:`write_ct_series`).

    Returns:
        The written path. A window (centre/width) covering the full stored range is included,
        so that loading gives back ``image01`` up to quantisation.
    """
    from pydicom.uid import (
        ComputedRadiographyImageStorage,
        DigitalXRayImageStorageForPresentation,
    )

    img = np.asarray(image01, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image01 must be (H, W), got shape {img.shape}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    if modality not in ("CR", "DX"):
        raise ValueError(f"modality must be CR or DX, got {modality!r}")
    if not 8 <= bits <= 16:
        raise ValueError(f"bits must be in 8..16, got {bits}")
    top = 2**bits - 1
    stored = np.rint(np.clip(img, 0.0, 1.0) * top)
    if photometric == "MONOCHROME1":
        stored = top - stored
    pixels = stored.astype(np.uint16)
    sop_class = ComputedRadiographyImageStorage if modality == "CR" else DigitalXRayImageStorageForPresentation
    key = [_digest(pixels), photometric, modality, view, sorted((patient or {}).items())]
    ds = _single_instance(sop_class, key, modality, patient, f"CHEST {view}")
    ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"]
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [float(s) for s in pixel_spacing]
    ds.PixelSpacing = [float(s) for s in pixel_spacing]
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter = 2 ** (bits - 1)
    ds.WindowWidth = 2**bits
    ds.set_pixel_data(pixels, photometric, bits, generate_instance_uid=False)
    return atomic_write_with(Path(path), lambda p: ds.save_as(p, enforce_file_format=True))


def default_affine_lps(spacing: Sequence[float], origin: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Affine from voxel ``(d, h, w)`` to LPS mm for the standard axial orientation."""
    d, h, w = (float(s) for s in spacing)
    aff = np.zeros((4, 4))
    aff[2, 0], aff[1, 1], aff[0, 2] = d, h, w
    aff[:3, 3] = [float(o) for o in origin]
    aff[3, 3] = 1.0
    return aff


def write_nifti(
    volume_hu: np.ndarray,
    spacing: Sequence[float],
    path: str | os.PathLike,
    affine_lps: np.ndarray | None = None,
) -> Path:
    """Write a CT volume as NIfTI-1 (``.nii`` or ``.nii.gz``) that loads back to the same array.

    Args:
        volume_hu: ``(D, H, W)`` in HU.
        spacing: ``(d, h, w)`` mm (used when ``affine_lps`` is None).
        path: output file; ``.gz`` compresses (deterministically: no gzip timestamp).
        affine_lps: voxel ``(d, h, w)`` -> LPS mm; default: standard axial at the origin.

    Returns:
        The written path. The data is stored as ``(W, H, D)`` with a RAS affine, the usual NIfTI
        layout; integer-valued volumes are stored as int16.
    """
    import nibabel as nib

    vol = np.asarray(volume_hu)
    if vol.ndim != 3:
        raise ValueError(f"volume_hu must be (D, H, W), got shape {vol.shape}")
    aff_lps = default_affine_lps(spacing) if affine_lps is None else np.asarray(affine_lps, dtype=np.float64)
    # NIfTI voxel order (i, j, k) = (w, h, d); RAS = diag(-1, -1, 1) @ LPS.
    aff = aff_lps[:, [2, 1, 0, 3]]
    aff = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    data = np.ascontiguousarray(np.transpose(vol, (2, 1, 0)))
    integral = np.all(np.isfinite(data)) and np.array_equal(data, np.rint(data))
    if integral and data.min() >= -32768 and data.max() <= 32767:
        data = data.astype(np.int16)
    else:
        data = data.astype(np.float32)
    img = nib.Nifti1Image(data, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header.set_xyzt_units("mm")
    raw = img.to_bytes()
    p = Path(path)
    if p.name.endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    return atomic_write_with(p, lambda t: t.write_bytes(raw))


def write_png(image01: np.ndarray, path: str | os.PathLike, bits: int = 8) -> Path:
    """Write a grayscale ``(H, W)`` or RGB ``(H, W, 3)`` image in [0, 1] as PNG.

    Args:
        image01: values in [0, 1] (clipped).
        path: output file.
        bits: 8 or 16 (16-bit only for grayscale).
    """
    from PIL import Image

    img = np.clip(np.asarray(image01, dtype=np.float64), 0.0, 1.0)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if img.ndim == 3 and img.shape[2] == 3:
        if bits != 8:
            raise ValueError("16-bit PNG is written for grayscale images only")
        pil = Image.fromarray(np.rint(img * 255).astype(np.uint8), mode="RGB")
    elif img.ndim == 2:
        if bits == 8:
            pil = Image.fromarray(np.rint(img * 255).astype(np.uint8), mode="L")
        else:
            pil = Image.fromarray(np.rint(img * 65535).astype(np.uint16))
    else:
        raise ValueError(f"image01 must be (H, W) or (H, W, 3), got shape {img.shape}")
    return atomic_write_with(Path(path), lambda t: pil.save(t, format="PNG"))


def write_jpeg(image01: np.ndarray, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write a grayscale ``(H, W)`` or RGB ``(H, W, 3)`` image in [0, 1] as 8-bit JPEG (as MIMIC-CXR-JPG).

    Args:
        image01: values in [0, 1] (clipped).
        path: output file.
        quality: JPEG quality (1-95).
    """
    from PIL import Image

    img = np.clip(np.asarray(image01, dtype=np.float64), 0.0, 1.0)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"image01 must be (H, W) or (H, W, 3), got shape {img.shape}")
    pil = Image.fromarray(np.rint(img * 255).astype(np.uint8), mode="L" if img.ndim == 2 else "RGB")
    return atomic_write_with(Path(path), lambda t: pil.save(t, format="JPEG", quality=quality))
