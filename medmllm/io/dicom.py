"""DICOM datasets: bounded reading, pixel decoding, checked numbers and geometry, allow-listed meta.

Every reader of DICOM goes through :func:`read_dataset` (pydicom with one-line errors; a Deflated
Explicit VR Little Endian file is inflated here, counted against ``max_bytes``, because pydicom
would inflate it whole) and takes its numbers from the checked helpers below (rescale slope and
intercept, positions, orientations, spacings: NaN or infinity is an error, never a NaN image).
Compressed transfer syntaxes are decoded by pydicom's plugins (pylibjpeg first); a missing
decoder gives an error naming the package. The pipelines live in ``dicom_xray`` and ``dicom_ct``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from medmllm.io.errors import ImageLoadError
from medmllm.io.streams import inflate
from medmllm.io.types import DEFAULT_MAX_BYTES, check_decoded_size, check_number, check_stored_size

log = logging.getLogger(__name__)

CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
XRAY_MODALITIES = {"CR", "DX", "RG", "MG", "PX", "IO", "OT", "DR"}
# Modalities and storage classes whose multi-frame images are clips (kind ``video``, see ``dicom_cine``).
CINE_MODALITIES = {"US", "IVUS", "XA", "RF", "ES", "XC", "GM", "OP"}
CINE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.1.1",  # Enhanced XA Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.12.2.1",  # Enhanced XRF Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.1.1",  # Video Endoscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.2.1",  # Video Microscopic Image Storage
    "1.2.840.10008.5.1.4.1.1.77.1.4.1",  # Video Photographic Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture
}
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


def map_threads(fn: Callable, items: Sequence, workers: int) -> list:
    """``[fn(x) for x in items]``, on ``workers`` threads when there are several."""
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _truncated(messages: list[str]) -> bool:
    return any("end of file" in m.lower() or "truncat" in m.lower() for m in messages)


_DEFLATED = b"1.2.840.10008.1.2.1.99"


def _read_deflated(path: Path, max_bytes: int, stop_before_pixels: bool):
    """A Deflated Explicit VR Little Endian file, inflated with a limit, read by pydicom as explicit VR."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset as read_elements
    from pydicom.filereader import read_preamble
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    with open(path, "rb") as fp:
        read_preamble(fp, True)
        meta = FileMetaDataset(read_elements(fp, False, True, stop_when=lambda tag, vr, length: tag.group != 2))
        if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            return None
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if "FileMetaInformationGroupLength" in meta:
            del meta.FileMetaInformationGroupLength
        buf = DicomBytesIO()
        buf.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(buf, meta, enforce_standard=False)
        inflate(fp, max_bytes, path, "deflated DICOM data", out=buf)
    buf.seek(0)
    ds = pydicom.dcmread(buf, force=True, stop_before_pixels=stop_before_pixels)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian  # what the file holds
    return ds


def read_dataset(path: Path, *, stop_before_pixels: bool = False, messages: list[str] | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, defer_pixels: bool = False):
    """``pydicom.dcmread`` with errors turned into one-line :class:`ImageLoadError`.

    Args:
        path: the file.
        stop_before_pixels: do not read the pixel data.
        messages: unused (kept for callers that pass it).
        max_bytes: most bytes a deflated dataset may inflate to.
        defer_pixels: leave large values (the pixel data) on disk until they are used.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    errors = (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, OverflowError, AttributeError)
    try:
        ds = None
        with open(path, "rb") as f:
            deflated = _DEFLATED in f.read(4096)
        if deflated:
            ds = _read_deflated(path, max_bytes, stop_before_pixels)
        if ds is None:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels,
                                 defer_size="64 KB" if defer_pixels else None)
    except ImageLoadError:
        raise
    except errors as e:
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


def check_pixel_size(path: Path, ds, max_bytes: int, decoded_shape: tuple[int, ...] | None = None) -> None:
    """Refuse pixel data whose decoded float32 array, or stored size, is over ``max_bytes`` (from the header).

    Args:
        path: the file (or series) for the message.
        ds: the dataset (Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated).
        max_bytes: the limit.
        decoded_shape: the float32 array the caller will build (default frames x rows x columns).
    """
    rows, cols = (positive_int(path, ds, kw) for kw in ("Rows", "Columns"))
    frames = positive_int(path, ds, "NumberOfFrames", 1)
    samples = positive_int(path, ds, "SamplesPerPixel", 1)
    bits = positive_int(path, ds, "BitsAllocated", 16)
    check_decoded_size(path, decoded_shape or (frames, rows, cols), max_bytes)
    check_stored_size(path, rows * cols * frames * samples * -(-bits // 8), max_bytes,
                      f"pixel data ({frames} x {rows} x {cols} x {samples} samples x {bits} bits)")


def positive_int(path: Path, ds, keyword: str, default: int | None = None) -> int:
    """An integer attribute that must be >= 1 (``default`` when absent; absent without a default: an error)."""
    value = ds.get(keyword)
    if value is None or value == "":
        if default is None:
            raise ImageLoadError(path, f"DICOM image without {keyword}")
        return default
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ImageLoadError(path, f"{keyword} is not a number ({str(value)[:40]!r})") from None
    if out < 1:
        raise ImageLoadError(path, f"{keyword} is {out}; expected a positive number")
    return out


def decoding_plugin(path: Path, ds) -> str:
    """The pydicom decoding plugin to use (pylibjpeg when it can), or an error naming what to install."""
    from pydicom.pixels import get_decoder

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is None or not ts.is_compressed:
        return ""
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise ImageLoadError(path, f"no decoder exists for transfer syntax {ts.name}") from None
    if not decoder.is_available:
        pkg = next((v for k, v in _DECODER_PACKAGES.items() if ts.name.startswith(k)), "pylibjpeg")
        raise ImageLoadError(path, f"{ts.name} pixel data needs a decoder: pip install {pkg}")
    return "pylibjpeg" if "pylibjpeg" in decoder.available_plugins else ""


@contextlib.contextmanager
def pixel_errors(path: Path) -> Iterator[None]:
    """pydicom's decoding errors as one-line :class:`ImageLoadError` (short data, a failing decoder)."""
    try:
        yield
    except ValueError as e:
        if "less than expected" in str(e) or "truncat" in str(e).lower():
            raise ImageLoadError(path, "truncated DICOM file (pixel data shorter than Rows x Columns)") from None
        raise ImageLoadError(path, f"cannot decode pixel data ({str(e)[:150]})") from None
    except (RuntimeError, NotImplementedError, AttributeError, KeyError, TypeError, OSError, EOFError) as e:
        raise ImageLoadError(path, f"cannot decode pixel data ({type(e).__name__}: {str(e)[:150]})") from None


def decode_pixels(path: Path, ds, index: int | None = None) -> np.ndarray:
    """Decode the pixel data (all frames, or frame ``index``) with a clear error for a missing decoder or short data."""
    from pydicom.pixels import pixel_array

    plugin = decoding_plugin(path, ds)
    with pixel_errors(path):
        return pixel_array(ds, index=index, decoding_plugin=plugin)


def decode_frames(path: Path, ds, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` for each of the (sorted, distinct) frame ``indices``, decoded one at a time."""
    from pydicom.pixels import iter_pixels

    plugin = decoding_plugin(path, ds)
    wanted = sorted({int(i) for i in indices})
    with pixel_errors(path):
        yield from zip(wanted, iter_pixels(ds, indices=wanted, decoding_plugin=plugin))


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
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def image_kind(path: Path, ds, kind: str | None) -> str:
    """``ct``, ``video`` or ``xray`` for a dataset, from its modality, SOP class and frame count (or the
    caller's ``kind``). A clip is a multi-frame image of a cine modality or storage class (US, XA, RF,
    ES ...) or any other multi-frame 2D image; a single frame of a cine modality is a 2D image."""
    if kind is not None:
        return kind if kind in ("ct", "video") else "xray"
    modality = str(ds.get("Modality", "")).upper()
    sop = str(ds.get("SOPClassUID", ""))
    if modality == "CT" or sop in CT_SOP_CLASSES:
        return "ct"
    two_d = modality in XRAY_MODALITIES or sop.startswith(SECONDARY_CAPTURE_PREFIX) or \
        sop.startswith("1.2.840.10008.5.1.4.1.1.1")
    multi = positive_int(path, ds, "NumberOfFrames", 1) > 1
    if sop in CINE_SOP_CLASSES or ((modality in CINE_MODALITIES or two_d) and multi):
        return "video"
    if two_d or modality in CINE_MODALITIES:
        return "xray"
    raise ImageLoadError(path, f"DICOM modality {modality or '(none)'} is not supported (expected CT, CR, DX, a "
                               "secondary capture, or a cine modality: US, XA, RF, ES); pass kind='xray', 'ct' or "
                               "'video' to force a pipeline")


def rescale(path: Path, ds) -> tuple[float, float]:
    """``(RescaleSlope, RescaleIntercept)``; absent or empty -> ``(1, 0)``, a slope of 0 -> 1; NaN/inf refused."""
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    slope = 1.0 if slope is None or slope == "" else check_number(path, "RescaleSlope", slope)
    intercept = 0.0 if intercept is None or intercept == "" else check_number(path, "RescaleIntercept", intercept)
    return slope or 1.0, intercept


def numbers(path: Path, name: str, value: Any, n: int) -> np.ndarray:
    """``n`` finite numbers from a multi-valued DICOM attribute (or a functional-group value)."""
    values = [value] if isinstance(value, (str, int, float)) else list(value or [])
    if len(values) != n:
        raise ImageLoadError(path, f"{name} has {len(values)} values, expected {n}")
    return np.asarray([check_number(path, name, v) for v in values], dtype=np.float64)


def orientation(path: Path, value: Any) -> np.ndarray:
    """ImageOrientationPatient as 6 numbers whose row and column directions are not degenerate."""
    iop = numbers(path, "ImageOrientationPatient", value, 6)
    if np.linalg.norm(np.cross(iop[:3], iop[3:])) < 1e-3:
        raise ImageLoadError(path, f"ImageOrientationPatient {iop.tolist()} has parallel or zero directions")
    return iop


def pixel_spacing_2d(ds) -> tuple[float, float] | None:
    """``(row, col)`` mm from PixelSpacing, else ImagerPixelSpacing; None when absent, zero or not finite."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            spacing = tuple(_number(v) for v in value)
            if all(s is not None and s > 0 for s in spacing):
                return spacing  # type: ignore[return-value]
    return None


def slice_geometry(path: Path, ds) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """``(position, row_dir, col_dir, (row_mm, col_mm))`` of one axial slice (LPS), numbers checked."""
    iop = orientation(path, ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]))
    ipp = numbers(path, "ImagePositionPatient", ds.get("ImagePositionPatient", [0, 0, 0]), 3)
    spacing = pixel_spacing_2d(ds) or (1.0, 1.0)
    return ipp, iop[:3], iop[3:], spacing
