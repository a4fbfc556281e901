"""Safe extraction of zip archives (DICOM series are often shared as zips).

Refused before anything is written: entries whose path would leave the extraction folder
(absolute paths, ``..``, drive letters, symbolic links), more entries than ``max_entries``, and
a declared uncompressed total over ``max_total_bytes``. While extracting, the bytes actually
written are counted too, so a zip that lies about its sizes is stopped at the limit.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from medmllm.io.errors import ImageLoadError
from medmllm.io.types import human_bytes

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def _skip(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return name.endswith("/") or (bool(parts) and parts[0] == "__MACOSX")


def check_entry_name(zip_path: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    """The safe relative path of an entry, or an error when it would escape the folder."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ImageLoadError(zip_path, f"zip entry '{info.filename}' is a symbolic link; refusing to extract it")
    rel = PurePosixPath(name)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in rel.parts:
        raise ImageLoadError(zip_path, f"zip entry '{info.filename}' escapes the extraction folder")
    return rel


def extract_zip(zip_path: str | os.PathLike, dest: str | os.PathLike, *, max_total_bytes: int,
                max_entries: int) -> list[Path]:
    """Extract a zip into ``dest`` after checking every entry.

    Args:
        zip_path: the archive.
        dest: an existing, empty folder.
        max_total_bytes: most uncompressed bytes (declared and actually written).
        max_entries: most entries.

    Returns:
        The extracted files.

    Raises:
        ImageLoadError: corrupt or encrypted zip, an entry escaping ``dest``, or a limit exceeded.
    """
    zp, root = Path(zip_path), Path(dest).resolve()
    try:
        zf = zipfile.ZipFile(zp)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ImageLoadError(zp, f"corrupt or truncated zip file ({e})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise ImageLoadError(zp, f"zip holds {len(infos)} entries, more than the limit of {max_entries}")
        declared = sum(i.file_size for i in infos)
        if declared > max_total_bytes:
            raise ImageLoadError(zp, f"zip would expand to {human_bytes(declared)}, over the limit of "
                                     f"{human_bytes(max_total_bytes)} (zip bomb?)")
        plan = []
        for info in infos:
            rel = check_entry_name(zp, info)
            if _skip(info.filename) or info.is_dir():
                continue
            target = (root / rel).resolve()
            if target != root and root not in target.parents:
                raise ImageLoadError(zp, f"zip entry '{info.filename}' escapes the extraction folder")
            plan.append((info, target))
        written, out = 0, []
        for info, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > max_total_bytes:
                            raise ImageLoadError(zp, f"zip expands past the limit of {human_bytes(max_total_bytes)} "
                                                     "(sizes in the zip are wrong; zip bomb?)")
                        dst.write(chunk)
            except RuntimeError as e:  # encrypted entries
                raise ImageLoadError(zp, f"cannot read zip entry '{info.filename}': {e}") from None
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise ImageLoadError(zp, f"corrupt zip entry '{info.filename}' ({e})") from None
            out.append(target)
    log.debug("extracted %d files (%s) from %s", len(out), human_bytes(written), zp.name)
    return out
