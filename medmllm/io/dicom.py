"""Single DICOM files: chest X-rays (CR, DX, secondary capture) and single CT slices.

X-ray pipeline: stored values -> modality LUT / rescale -> VOI LUT, or window centre/width, or
(when the file has neither) a robust 0.5-99.5 percentile window -> [0, 1] -> inverted when the
file is MONOCHROME1 (so bone is always bright). Compressed transfer syntaxes are decoded by
pydicom's plugins (pylibjpeg first); a missing decoder gives an error naming the package.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.image import MedicalImage, check_decoded_size, check_finite

log = logging.getLogger(__name__)

CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
XRAY_MODALITIES = {"CR", "DX", "RG", "MG", "PX", "IO", "OT", "DR"}
# Packages that provide pydicom decoders, by transfer syntax family.
_DECODER_PACKAGES = {
    "JPEG 2000": "pylibjpeg pylibjpeg-openjpeg",
    "JPEG-LS": "pylibjpeg pylibjpeg-libjpeg",
    "JPEG": "pylibjpeg pylibjpeg-libjpeg",
    "RLE": "pylibjpeg pylibjpeg-rle",
}

# meta key -> DICOM keyword. The only header values that reach MedicalImage.meta.
META_KEYWORDS = {
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "view": "ViewPosition",
    "laterality": "ImageLaterality",
    "photometric": "PhotometricInterpretation",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "ManufacturerModelName",
    "series_description": "SeriesDescription",
    "image_type": "ImageType",
    "patient_position": "PatientPosition",
    "presentation_intent": "PresentationIntentType",
    "bits_stored": "BitsStored",
    "kvp": "KVP",
    "convolution_kernel": "ConvolutionKernel",
    "slice_thickness": "SliceThickness",
    "burned_in_annotation": "BurnedInAnnotation",
}
_FREE_TEXT = ("SeriesDescription",)


@contextlib.contextmanager
def capture_pydicom_messages() -> Iterator[list[str]]:
    """Collect pydicom's warnings and log messages (e.g. "End of file reached") instead of printing them."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("pydicom")
    handler, propagate = _Collect(level=logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda message, *args, **kwargs: messages.append(str(message))
            yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _truncated(messages: list[str]) -> bool:
    return any("end of file" in m.lower() or "truncat" in m.lower() for m in messages)


def read_dataset(path: Path, *, stop_before_pixels: bool = False, messages: list[str] | None = None):
    """``pydicom.dcmread`` with errors turned into one-line :class:`ImageLoadError`."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, OverflowError) as e:
        raise ImageLoadError(path, f"not a valid DICOM file ({type(e).__name__}: {str(e)[:120]})") from None
    if "TransferSyntaxUID" not in ds.file_meta and getattr(ds, "original_encoding", (None, None))[0] is not None:
        # a bare dataset without file meta: record the encoding pydicom detected while reading it
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


def has_pixels(ds) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def require_pixels(path: Path, ds, messages: list[str]) -> None:
    """Raise the right error when a dataset has no pixel data (truncated file vs. non-image DICOM)."""
    if has_pixels(ds):
        return
    if _truncated(messages):
        raise ImageLoadError(path, "truncated DICOM file (pixel data cut off)")
    if "SOPClassUID" not in ds and len(ds) < 3:
        raise ImageLoadError(path, "not a valid DICOM file (no DICOM elements could be read)")
    sop = getattr(ds.get("SOPClassUID"), "name", None) or "unknown SOP class"
    raise ImageLoadError(path, f"DICOM file without pixel data ({sop}); expected an image")


def decode_pixels(path: Path, ds) -> np.ndarray:
    """Decode the pixel data (all frames) with a clear error for a missing decoder or short data."""
    from pydicom.pixels import get_decoder, pixel_array

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    plugin = ""
    if ts is not None and ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            raise ImageLoadError(path, f"no decoder exists for transfer syntax {ts.name}") from None
        if not decoder.is_available:
            pkg = next((v for k, v in _DECODER_PACKAGES.items() if ts.name.startswith(k)), "pylibjpeg")
            raise ImageLoadError(path, f"{ts.name} pixel data needs a decoder: pip install {pkg}")
        if "pylibjpeg" in decoder.available_plugins:
            plugin = "pylibjpeg"
    try:
        return pixel_array(ds, decoding_plugin=plugin)
    except ValueError as e:
        if "less than expected" in str(e) or "truncat" in str(e).lower():
            raise ImageLoadError(path, "truncated DICOM file (pixel data shorter than Rows x Columns)") from None
        raise ImageLoadError(path, f"cannot decode pixel data ({str(e)[:150]})") from None
    except (RuntimeError, NotImplementedError, AttributeError, KeyError, TypeError) as e:
        raise ImageLoadError(path, f"cannot decode pixel data ({type(e).__name__}: {str(e)[:150]})") from None


def build_meta(ds) -> dict[str, Any]:
    """Allow-listed technical facts of a dataset, free-text fields scrubbed of identifiers."""
    from medmllm.io.phi import burned_in_status, scrub_text

    meta: dict[str, Any] = {}
    for key, keyword in META_KEYWORDS.items():
        value = ds.get(keyword)
        if value is None or value == "":
            meta[key] = None
        elif keyword == "ImageType":
            meta[key] = [str(v) for v in value] if not isinstance(value, str) else [value]
        elif isinstance(value, int):
            meta[key] = int(value)
        elif isinstance(value, float) or keyword in ("SliceThickness", "KVP"):
            meta[key] = _number(value)
        elif keyword in _FREE_TEXT:
            meta[key] = scrub_text(str(value), ds)
        else:
            meta[key] = str(value)
    sop = ds.get("SOPClassUID")
    meta["sop_class"] = getattr(sop, "name", None) if sop else None
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    meta["transfer_syntax"] = ts.name if ts is not None else None
    meta["burned_in_annotation"] = burned_in_status(ds)
    return meta


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def image_kind(path: Path, ds, kind: str | None) -> str:
    """``ct`` or ``xray`` for a dataset, from its modality and SOP class (or the caller's ``kind``)."""
    if kind is not None:
        return "ct" if kind == "ct" else "xray"
    modality = str(ds.get("Modality", "")).upper()
    sop = str(ds.get("SOPClassUID", ""))
    if modality == "CT" or sop in CT_SOP_CLASSES:
        return "ct"
    if modality in XRAY_MODALITIES or sop.startswith(SECONDARY_CAPTURE_PREFIX) or sop.startswith("1.2.840.10008.5.1.4.1.1.1"):
        return "xray"
    raise ImageLoadError(path, f"DICOM modality {modality or '(none)'} is not supported (expected CT, CR, DX or a "
                               "secondary capture); pass kind='xray' or 'ct' to force a pipeline")


def pixel_spacing_2d(ds) -> tuple[float, float] | None:
    """``(row, col)`` mm from PixelSpacing, else ImagerPixelSpacing; None when absent or zero."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2 and float(value[0]) > 0 and float(value[1]) > 0:
            return float(value[0]), float(value[1])
    return None


def _voi_range(ds) -> tuple[float, float]:
    """Output range of pydicom's windowing for this dataset (PS3.3 C.11.2.1.2)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1)
    bits = int(ds.BitsStored)
    lo, hi = (0.0, 2.0**bits - 1) if ds.PixelRepresentation == 0 else (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        slope, icpt = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = sorted((lo * slope + icpt, hi * slope + icpt))
    return lo, hi


def _lut_range(item) -> tuple[float, float]:
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint16 if int(item.LUTDescriptor[2]) > 8 else np.uint8)
    data = np.asarray(data, dtype=np.float64)
    return float(data.min()), float(data.max())


def xray_from_dataset(path: Path, ds, *, max_bytes: int, kind: str | None) -> MedicalImage:
    """The X-ray pipeline (see module docstring). ``kind='image'`` keeps colour as ``(H, W, 3)``."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageLoadError(path, f"multi-frame X-ray ({frames} frames) is not supported; expected one image")
    samples = int(ds.get("SamplesPerPixel", 1))
    check_decoded_size(path, (int(ds.Rows), int(ds.Columns), max(samples, 3 if kind == "image" else 1)), max_bytes)
    arr = decode_pixels(path, ds)
    check_finite(path, arr)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    meta = build_meta(ds)
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim == 3:  # colour (RGB after pydicom's YBR conversion)
        rgb = arr.astype(np.float32) / float(2 ** int(ds.get("BitsStored", 8)) - 1)
        rgb = np.clip(rgb, 0.0, 1.0)
        if kind == "image":
            return MedicalImage(rgb, None, None, "image", "dicom", meta)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        meta["voi"] = "none (colour converted to grayscale)"
        return MedicalImage(gray.astype(np.float32), pixel_spacing_2d(ds), None, "xray", "dicom", meta)
    modality_out = apply_modality_lut(arr, ds)
    values = modality_out.astype(np.float64)
    if ds.get("VOILUTSequence"):
        lut_in = modality_out if modality_out.dtype.kind in "iu" else np.rint(values).astype(np.int64)
        out = apply_voi_lut(lut_in, ds, prefer_lut=True)
        lo, hi = _lut_range(ds.VOILUTSequence[0])
        meta["voi"] = "lut"
    elif "WindowCenter" in ds and "WindowWidth" in ds and float(np.ravel(ds.WindowWidth)[0]) > 0:
        out = apply_voi_lut(values, ds, prefer_lut=False)
        lo, hi = _voi_range(ds)
        meta["voi"] = "window"
    else:
        sample = values[:: max(1, values.shape[0] // 512), :: max(1, values.shape[1] // 512)]
        lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
        out = values
        meta["voi"] = "percentile 0.5-99.5"
    img = np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
    inverse = str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"
    invert = photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and inverse)
    if invert:
        img = 1.0 - img
    meta["inverted"] = invert
    if kind == "image":
        return MedicalImage(np.repeat(img[..., None], 3, axis=2), None, None, "image", "dicom", meta)
    return MedicalImage(img, pixel_spacing_2d(ds), None, "xray", "dicom", meta)


def slice_geometry(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """``(position, row_dir, col_dir, (row_mm, col_mm))`` of one axial slice (LPS)."""
    iop = np.asarray([float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])])
    ipp = np.asarray([float(v) for v in ds.get("ImagePositionPatient", [0, 0, 0])])
    spacing = pixel_spacing_2d(ds) or (1.0, 1.0)
    return ipp, iop[:3], iop[3:], spacing


def ct_slice_from_dataset(path: Path, ds, *, max_bytes: int) -> MedicalImage:
    """A single CT slice -> ``(1, H, W)`` HU with an affine from its position and orientation."""
    from medmllm.io.orient import reorient_to_canonical, spacing_from_affine

    check_decoded_size(path, (1, int(ds.Rows), int(ds.Columns)), max_bytes)
    arr = decode_pixels(path, ds)
    if arr.ndim != 2:
        raise ImageLoadError(path, f"CT slice has pixel array of shape {arr.shape}, expected (rows, columns)")
    check_finite(path, arr)
    hu = to_hu(ds, arr)[None]  # (1, H, W)
    ipp, row_dir, col_dir, (row_mm, col_mm) = slice_geometry(ds)
    thickness = float(ds.get("SliceThickness") or ds.get("SpacingBetweenSlices") or 1.0)
    affine = np.eye(4)
    affine[:3, 0] = np.cross(row_dir, col_dir) * thickness
    affine[:3, 1] = col_dir * row_mm
    affine[:3, 2] = row_dir * col_mm
    affine[:3, 3] = ipp
    hu, affine = reorient_to_canonical(hu, affine)
    meta = build_meta(ds)
    meta["slices"] = 1
    return MedicalImage(np.ascontiguousarray(hu), spacing_from_affine(affine), affine, "ct", "dicom", meta)


def to_hu(ds, arr: np.ndarray) -> np.ndarray:
    """Stored values -> HU (float32): RescaleSlope/Intercept, or the Modality LUT when present."""
    if ds.get("ModalityLUTSequence"):
        from pydicom.pixels import apply_modality_lut

        return apply_modality_lut(arr, ds).astype(np.float32)
    out = arr.astype(np.float32)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def read_dicom_file(path: Path, *, max_bytes: int, kind: str | None = None) -> MedicalImage:
    """Load one DICOM file: an X-ray, a single CT slice, or an enhanced multi-frame CT."""
    with capture_pydicom_messages() as messages:  # pydicom's warnings never reach the user's terminal
        ds = read_dataset(path)
        require_pixels(path, ds, messages)
        if image_kind(path, ds, kind) == "ct":
            if int(ds.get("NumberOfFrames", 1) or 1) > 1:
                from medmllm.io.series import load_multiframe_ct

                return load_multiframe_ct(path, ds, max_bytes=max_bytes)
            return ct_slice_from_dataset(path, ds, max_bytes=max_bytes)
        return xray_from_dataset(path, ds, max_bytes=max_bytes, kind=kind)
