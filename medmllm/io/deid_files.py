"""``medmllm deid IN OUT``: a de-identified copy of a DICOM file, folder or zip.

Output names carry no information from the input (input names often hold patient names): a
file becomes ``OUT`` itself, a folder or zip becomes ``OUT/IM00001.dcm ...`` (or a zip of
those when ``OUT`` ends in ``.zip``). Everything is written to a temporary name and renamed at
the end, so a failure leaves no partial output. Non-DICOM files are skipped and counted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from medmllm.io.deid import DeidReport, Deidentifier
from medmllm.io.errors import ImageLoadError

log = logging.getLogger(__name__)


def _is_dicom(path: Path) -> bool:
    from medmllm.io.image import sniff

    try:
        return sniff(path) == "dicom"
    except ImageLoadError:
        return False


def _deid_file(src: Path, dst: Path, deid: Deidentifier, report: DeidReport) -> None:
    from medmllm.io.dicom import capture_pydicom_messages, read_dataset

    with capture_pydicom_messages():
        ds = read_dataset(src)
    for warning in deid.dataset(ds):
        report.burned_in.append(f"{dst.name}: {warning}")
    ds.save_as(dst, enforce_file_format=True)
    report.files += 1


def _deid_folder(files: list[Path], out_dir: Path, deid: Deidentifier, report: DeidReport, base: Path) -> None:
    n = 0
    for f in files:
        if not _is_dicom(f):
            report.skipped.append(str(f.relative_to(base)))
            continue
        n += 1
        _deid_file(f, out_dir / f"IM{n:05d}.dcm", deid, report)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def deidentify_path(src: str | os.PathLike, dst: str | os.PathLike, *, deid: Deidentifier,
                    overwrite: bool = False, max_bytes: int | None = None, max_files: int | None = None) -> DeidReport:
    """De-identify ``src`` (DICOM file, folder or zip) into ``dst`` (file, folder, or ``.zip``).

    Raises:
        ImageLoadError: missing input, no DICOM files, an unreadable DICOM file, an unsafe zip,
            or an existing output without ``overwrite``.
    """
    from medmllm.io.archive import extract_zip
    from medmllm.io.image import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, sniff

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise ImageLoadError(src, "file not found")
    if dst.exists() and not overwrite:
        raise ImageLoadError(dst, "output exists (pass --overwrite to replace it)")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ImageLoadError(dst, "output must not be the input or lie inside it")
    report = DeidReport()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".medmllm-deid-", dir=dst.parent) as tmp:
        work = Path(tmp)
        if src.is_file() and sniff(src) == "dicom":
            out = work / "out.dcm"
            _deid_file(src, out, deid, report)
        else:
            if src.is_dir():
                base = src
            elif sniff(src) == "zip":
                base = work / "in"
                base.mkdir()
                extract_zip(src, base, max_total_bytes=max_bytes or DEFAULT_MAX_BYTES,
                            max_entries=max_files or DEFAULT_MAX_FILES)
            else:
                raise ImageLoadError(src, "not DICOM: deid takes a DICOM file, a folder or a zip of DICOM files")
            out = work / "out"
            out.mkdir()
            _deid_folder(_files_under(base), out, deid, report, base)
            if report.files == 0:
                raise ImageLoadError(src, "holds no DICOM files")
            if dst.suffix.lower() == ".zip":
                zipped = work / "out.zip"
                with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
                    for f in sorted(out.iterdir()):
                        zf.write(f, f.name)
                out = zipped
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        os.replace(out, dst)
    report.outputs = [str(dst)]
    log.debug("de-identified %d DICOM files into %s (%d skipped)", report.files, dst, len(report.skipped))
    return report
