"""CT volumes made of many DICOM files: a folder, a list of files, or an extracted zip.

Files are found by content (never by extension), read without their pixel data (it stays on
disk until the slice is decoded into the volume), grouped by SeriesInstanceUID (several series:
the error lists them and says how to choose one), and the chosen series is stacked by
:func:`medmllm.io.dicom_ct.stack_slices` (ordering, geometry checks, HU). A series of one file
is read as that file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from medmllm.io import dicom as D
from medmllm.io.phi import scrub_text
from medmllm.io.errors import ImageLoadError
from medmllm.io.detect import sniff
from medmllm.io.dicom_ct import stack_slices
from medmllm.io.dicom_file import read_dicom_file
from medmllm.io.types import MedicalImage

log = logging.getLogger(__name__)

# How to choose a series, right for every command: inspect and generate have --series; manifests (generate,
# evaluate, train, validate-data) give the series of an image in its "series" field.
CHOOSE_SERIES = ('choose one by SeriesInstanceUID or SeriesNumber (inspect --series UID; in a manifest, the '
                 'image\'s "series" field; generate --ct ... --series UID; load_image(series=...))')


def list_dicom_files(folder: Path, max_files: int) -> list[Path]:
    """Every DICOM file under ``folder`` (recursively; hidden files and non-DICOM files skipped)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > max_files:
        raise ImageLoadError(folder, f"folder holds {len(files)} files, more than the limit of {max_files}")
    out = []
    for f in files:
        try:
            if sniff(f) == "dicom":
                out.append(f)
        except ImageLoadError:
            log.debug("skipping non-DICOM file %r", f.name)
    if not out:
        raise ImageLoadError(folder, f"holds no DICOM files ({len(files)} other files)")
    return out


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
        raise ImageLoadError(label, f"holds {len(groups)} series; {CHOOSE_SERIES}: " + _series_summary(groups))
    for uid, items in groups.items():
        if series == uid or series == str(items[0][1].get("SeriesNumber", "")):
            return items
    raise ImageLoadError(label, f"no series {series!r}; available: " + _series_summary(groups))


def _read_all(paths: list[Path], workers: int, max_bytes: int) -> list[tuple[Path, Any]]:
    def read(p: Path):
        return D.read_dataset(p, max_bytes=max_bytes, defer_pixels=True)

    with D.capture_pydicom_messages() as messages:
        datasets = D.map_threads(read, paths, workers)
    out = []
    for p, ds in zip(paths, datasets):
        if D.has_pixels(ds):
            out.append((p, ds))
        elif any(p.name in m and ("end of file" in m.lower() or "truncat" in m.lower()) for m in messages):
            raise ImageLoadError(p, "truncated DICOM file (pixel data cut off)")
        else:
            log.debug("skipping %r: no pixel data", p.name)
    if not out:
        raise ImageLoadError(paths[0].parent, "holds DICOM files but none with pixel data")
    return out


def load_series_files(paths: list[Path], *, series: str | None = None, max_bytes: int, label: Path | None = None,
                      workers: int = 1, kind: str | None = None) -> MedicalImage:
    """Load a CT series from DICOM files (any order). See the module docstring for the checks."""
    for p in paths:
        if sniff(p) != "dicom":
            raise ImageLoadError(p, "not a DICOM file (a series is a list of DICOM files)")
    label = Path(label) if label is not None else paths[0].parent
    groups: dict[str, list] = {}
    for p, ds in _read_all(paths, workers, max_bytes):
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((p, ds))
    items = _pick_series(label, groups, series)
    if len(items) == 1:
        p, ds = items[0]
        img = read_dicom_file(p, max_bytes=max_bytes, kind=kind)
        if img.kind == "ct" and D.positive_int(p, ds, "NumberOfFrames", 1) == 1:
            img.source_format = "dicom-series"
        return img
    if any(D.positive_int(p, ds, "NumberOfFrames", 1) > 1 for p, ds in items):
        raise ImageLoadError(label, "series mixes several multi-frame files; pass one file")
    first = items[0][1]
    modality = str(first.get("Modality", "") or "DICOM")
    if kind not in ("ct", None):
        raise ImageLoadError(label, f"holds a series of {len(items)} {modality} images; expected one '{kind}' image")
    if D.image_kind(items[0][0], first, kind) != "ct":
        raise ImageLoadError(label, f"holds {len(items)} {modality} images, not a CT series; pass one file")
    return stack_slices(label, items, max_bytes=max_bytes, workers=workers)


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


__all__ = ["CHOOSE_SERIES", "list_dicom_files", "load_series_files", "load_series_folder"]
