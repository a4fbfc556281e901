"""``medmllm deid IN OUT``: a de-identified copy of a DICOM file, folder or zip, all or nothing.

Output names carry no information from the input (input names often hold patient names): a
file becomes ``OUT`` itself, a folder or zip becomes ``OUT/IM00001.dcm ...`` (or a zip of
those when ``OUT`` ends in ``.zip``). Every file is checked (a cut, header-only or garbled DICOM
file is refused, naming the input file) and encoded in memory; the output is written through
:mod:`medmllm.files`, so a refusal or a full disk leaves no output at all. Non-DICOM files, and
in a folder or zip DICOM files without pixels (reports, presentation states), are skipped.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medmllm.errors import InputError
from medmllm.files import atomic_dir, atomic_write_bytes, atomic_writer
from medmllm.io.deid import Deidentifier
from medmllm.io.errors import ImageLoadError

log = logging.getLogger(__name__)

# What pydicom raises on a garbled data set while converting or encoding its values.
def _malformed() -> tuple[type[BaseException], ...]:
    from pydicom.errors import BytesLengthException

    return (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, UnicodeError,
            struct.error, NotImplementedError, BytesLengthException)


@dataclass
class DeidReport:
    """What :func:`deidentify_path` did.

    Attributes:
        files: DICOM files written.
        skipped: input files not written (not DICOM, or DICOM without pixels), relative to the
            input; never printed, as input names may hold identifiers.
        burned_in: ``(output path, warning)`` for every written file whose pixels may show
            identifiers (a member of a zip output is ``OUT.zip/IM00001.dcm``).
        outputs: the output written (one path).
        text_found: ``(output path, frames)`` for every written file whose pixels show text lines
            (``detect_text``: :mod:`medmllm.io.burned_in_text`; a detector, not a guarantee).
    """

    files: int = 0
    skipped: list[str] = field(default_factory=list)
    burned_in: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    text_found: list[tuple[str, list]] = field(default_factory=list)


def _truncated(messages: list[str]) -> bool:
    return any("end of file" in m.lower() or "truncat" in m.lower() for m in messages)


def _non_image_class(ds: Any) -> bool:
    """True for a known storage class that holds no image (report, key objects, presentation state)."""
    from pydicom.uid import UID_dictionary

    sop = str(ds.get("SOPClassUID", "")).strip()
    return sop in UID_dictionary and "Image" not in UID_dictionary[sop][0]


def _check_pixels(path: Path, ds: Any) -> None:
    """Refuse pixel data shorter than the image it describes (pydicom reads a cut file silently)."""
    from pydicom.encaps import generate_fragmented_frames
    from pydicom.pixels.utils import get_expected_length

    if "PixelData" not in ds:
        return
    ts = ds.file_meta.get("TransferSyntaxUID")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        if ts is not None and ts.is_encapsulated:
            for _ in generate_fragmented_frames(ds.PixelData, number_of_frames=frames):
                pass
            return
        expected = get_expected_length(ds, "bytes")
    except _malformed() as e:
        raise ImageLoadError(path, f"malformed pixel data ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if len(ds.PixelData) < expected:
        raise ImageLoadError(path, f"truncated DICOM file (pixel data is {len(ds.PixelData)} bytes, "
                                   f"the image needs {expected})")


def deidentify_file(path: Path, deid: Deidentifier, *, skip_non_image: bool = False) -> tuple[bytes, list[str]] | None:
    """Read, check and de-identify one DICOM file; returns its new bytes and warnings.

    Returns:
        ``(bytes, warnings)``, or None for a DICOM file without pixels when ``skip_non_image``.

    Raises:
        ImageLoadError: unreadable, cut, header-only or garbled file.
    """
    from medmllm.io.dicom import (
        capture_pydicom_messages,
        has_pixels,
        read_dataset,
        require_pixels,
    )

    with capture_pydicom_messages() as messages:
        try:
            ds = read_dataset(path)  # BytesLengthException escapes it (a garbled file meta)
            if _truncated(messages):
                raise ImageLoadError(path, "truncated DICOM file (it ends inside a data element)")
            if len(ds) == 0:
                raise ImageLoadError(path, "DICOM header only: no data set follows the file meta")
            if not has_pixels(ds):
                if skip_non_image and _non_image_class(ds):
                    return None
                require_pixels(path, ds, messages)
            _check_pixels(path, ds)
            try:
                warnings = deid.dataset(ds)
            except InputError as e:  # a mask region that does not fit this file
                raise ImageLoadError(path, e.problem) from None
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
        except _malformed() as e:
            raise ImageLoadError(path, f"malformed DICOM data set ({type(e).__name__}: "
                                       f"{str(e).splitlines()[0][:120]})") from None
    return buf.getvalue(), warnings


def _is_dicom(path: Path) -> bool:
    from medmllm.io.detect import sniff

    try:
        return sniff(path) == "dicom"
    except ImageLoadError:
        return False


def _encoded(files: list[Path], base: Path, deid: Deidentifier, report: DeidReport,
             zip_path: Path | None = None) -> Iterator[tuple[str, bytes, list[str]]]:
    """``(output name, bytes, warnings)`` for each DICOM image among ``files``; the rest is skipped.

    A bad file unpacked from ``zip_path`` is named as ``ZIP: member`` in the error.
    """
    for f in files:
        try:
            result = deidentify_file(f, deid, skip_non_image=True) if _is_dicom(f) else None
        except ImageLoadError as e:
            if zip_path is None:
                raise
            raise ImageLoadError(zip_path, f"{f.relative_to(base).as_posix()}: {e.problem}") from None
        if result is None:
            report.skipped.append(str(f.relative_to(base)))
            continue
        report.files += 1
        yield f"IM{report.files:05d}.dcm", *result


def _check_output(src: Path, dst: Path, overwrite: bool, as_folder: bool) -> None:
    if dst.exists() and not overwrite:
        raise ImageLoadError(dst, "output exists (pass --overwrite to replace it)")
    if dst.exists() and dst.is_dir() != as_folder:
        raise ImageLoadError(dst, f"output exists as a {'folder' if dst.is_dir() else 'file'}; "
                                  f"this input gives a {'folder' if as_folder else 'file'}")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ImageLoadError(dst, "output must not be the input or lie inside it")


def deidentify_path(src: str | os.PathLike, dst: str | os.PathLike, *, deid: Deidentifier | None = None,
                    overwrite: bool = False, max_bytes: int | None = None,
                    max_files: int | None = None, detect_text: bool = False) -> DeidReport:
    """De-identify ``src`` (DICOM file, folder or zip) into ``dst`` (file, folder, or ``.zip``).

    Args:
        src: a DICOM file, a folder of DICOM files, or a zip of them.
        dst: output file (for a file), folder, or ``.zip``; must not exist unless ``overwrite``.
        deid: the :class:`Deidentifier` (salt and options); a random-salt default one when None.
        overwrite: replace an existing output (only once the new one is complete).
        max_bytes, max_files: limits for unpacking a zip.
        detect_text: also look for text in every written file's pixels (``report.text_found``).

    Raises:
        ImageLoadError: missing input, no DICOM files, a bad DICOM file (named), an unsafe zip,
            an existing output without ``overwrite``; InputError: the output cannot be written
            (full disk). Nothing is written in either case.
    """
    from medmllm.io.archive import extract_zip
    from medmllm.io.detect import sniff
    from medmllm.io.types import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES

    src, dst = Path(src), Path(dst)
    deid = deid or Deidentifier()
    if not src.exists():
        raise ImageLoadError(src, "file not found")
    kind = "folder" if src.is_dir() else sniff(src)
    if kind not in ("dicom", "folder", "zip"):
        raise ImageLoadError(src, "not DICOM: deid takes a DICOM file, a folder or a zip of DICOM files")
    to_zip = dst.suffix.lower() == ".zip"
    _check_output(src, dst, overwrite, as_folder=kind != "dicom" and not to_zip)
    report = DeidReport()
    if kind == "dicom" and not to_zip:
        data, warnings = deidentify_file(src, deid)
        atomic_write_bytes(dst, data)
        report.files = 1
        report.burned_in = [(str(dst), w) for w in warnings]
        _look_for_text(report, str(dst), data, detect_text)
    else:
        with tempfile.TemporaryDirectory(prefix="medmllm-deid-") as tmp:
            zip_path = None
            if kind == "dicom":
                base, files = src.parent, [src]
            elif kind == "folder":
                base, files = src, sorted(p for p in src.rglob("*") if p.is_file())
            else:
                base, zip_path = Path(tmp), src
                extract_zip(src, base, max_total_bytes=max_bytes or DEFAULT_MAX_BYTES,
                            max_entries=max_files or DEFAULT_MAX_FILES)
                files = sorted(p for p in base.rglob("*") if p.is_file())
            if to_zip:
                with atomic_writer(dst) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                    for name, data, warnings in _encoded(files, base, deid, report, zip_path):
                        zf.writestr(name, data)
                        report.burned_in += [(f"{dst}/{name}", w) for w in warnings]
                        _look_for_text(report, f"{dst}/{name}", data, detect_text)
                    _require_some(src, report)
            else:
                with atomic_dir(dst, marker=False) as out:
                    for name, data, warnings in _encoded(files, base, deid, report, zip_path):
                        (out / name).write_bytes(data)
                        report.burned_in += [(str(dst / name), w) for w in warnings]
                        _look_for_text(report, str(dst / name), data, detect_text)
                    _require_some(src, report)
    report.outputs = [str(dst)]
    log.debug("de-identified %d DICOM files into %s (%d skipped)", report.files, dst, len(report.skipped))
    return report


def _look_for_text(report: DeidReport, name: str, data: bytes, enabled: bool) -> None:
    """With ``--detect-burned-in``: the written file's frames whose pixels show text."""
    if enabled:
        from medmllm.io.burned_in_text import scan_dicom

        found = scan_dicom(data)
        if found:
            report.text_found.append((name, found))


def _require_some(src: Path, report: DeidReport) -> None:
    if report.files == 0:
        raise ImageLoadError(src, "holds no DICOM image files")
