"""Predictions files: JSONL rows ``{"id", ...}`` appended batch by batch, resumable, never clobbered.

One module for ``medmllm generate --data ... --out PRED.jsonl`` and the benchmark runner's
``predictions.jsonl`` (``medmllm evaluate``). :class:`PredictionsFile` opens a file for appending:

- it is locked for the whole run (``flock``): a second process writing the same file is refused at
  once with one line, so no id is ever written twice by two runs;
- every complete line must be a prediction row (a JSON object with a string ``id``, plus the fields
  the caller requires); anything else (a README, a manifest, another tool's file) is refused and
  left untouched. Blank lines are skipped;
- only a torn *last* line (no line break at the end, starting with ``{`` as every row does: the
  write of a killed process) is cut off; a complete last row without its line break is kept;
- rows are written with one ``write`` per batch, flushed and synced, so a crash loses at most the
  batch in progress; a file created by a run that then wrote nothing is removed again.

:func:`check_run` records what made the predictions (``run.json`` beside them: the export's
fingerprint, generation settings ...) and refuses to resume with another run's settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from medmllm.errors import InputError

log = logging.getLogger(__name__)

NOT_OURS = "use another output file, or delete it to start again"


def _flock(fd: int, path: Path, what: str) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent runs are the user's care
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InputError(path, f"another medmllm run is writing {what} right now; wait for it to finish "
                               "or choose another output") from None


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder (created) for a block: one run per folder at a time."""
    p = Path(folder)
    p.mkdir(parents=True, exist_ok=True)
    try:
        fd: int | None = os.open(p, os.O_RDONLY)
    except OSError:  # a platform that cannot open folders (Windows): no lock, as without fcntl
        fd = None
    try:
        if fd is not None:
            _flock(fd, p, "into this folder")
        yield p
    finally:
        if fd is not None:
            os.close(fd)


def _row(raw: bytes, n: int, path: Path, require: Sequence[str]) -> dict[str, Any]:
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError(path, f"line {n}: not a JSON object, so not a predictions file; nothing was changed "
                               f"({NOT_OURS})") from None
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        raise InputError(path, f"line {n}: a prediction row needs a string 'id'; nothing was changed ({NOT_OURS})")
    missing = [k for k in require if k not in row]
    if missing:
        raise InputError(path, f"line {n}: not a prediction row (no '{missing[0]}'); nothing was changed "
                               f"({NOT_OURS})")
    return row


class PredictionsFile:
    """A predictions file open for appending, locked (see the module docstring).

    Args:
        path: the JSONL file (created when missing; its folder too).
        require: fields every existing row must have besides ``id`` (``generate``: ``prediction``).
        manifest: the input manifest; a predictions file that *is* the manifest is refused.

    Attributes:
        done: ids already in the file (filled by :meth:`open`).
        truncated: a torn last line was cut off.
    """

    def __init__(self, path: str | os.PathLike, *, require: Sequence[str] = (),
                 manifest: str | os.PathLike | None = None):
        self.path = Path(path)
        self.require = tuple(require)
        self.manifest = None if manifest is None else Path(manifest)
        self.done: set[str] = set()
        self.truncated = False
        self.written = 0
        self._f: Any = None
        self._created = False
        self._newline = False

    def check(self) -> None:
        """The cheap refusals, before anything is opened: a folder, the manifest itself."""
        if self.path.is_dir():
            raise InputError(self.path, "is a folder; give a file for the predictions (e.g. pred.jsonl)")
        if self.manifest is not None and self.path.exists() and self.manifest.exists() \
                and os.path.samefile(self.path, self.manifest):
            raise InputError(self.path, "is the input manifest itself; give another file for the predictions")

    def open(self) -> "PredictionsFile":
        """Lock the file, read the ids in it and cut a torn last line; returns self."""
        self.check()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._created = not self.path.exists()
            self._f = open(self.path, "a+b")
        except OSError as e:
            raise InputError(self.path, f"cannot open for writing: {e.strerror or e}") from None
        try:
            _flock(self._f.fileno(), self.path, "this predictions file")
            self._read()
        except BaseException:
            self.close()
            raise
        return self

    def _read(self) -> None:
        self._f.seek(0)
        data = self._f.read()
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last line break: b"" when the file ends with one
        for n, raw in enumerate(lines, start=1):
            if raw.strip():
                self.done.add(_row(raw, n, self.path, self.require)["id"])
        if tail.strip():
            try:
                self.done.add(_row(tail, len(lines) + 1, self.path, self.require)["id"])
                self._newline = True  # a complete row without its line break: kept, and ended
            except InputError:
                if not tail.lstrip().startswith(b"{"):
                    raise
                keep = len(data) - len(tail)
                log.warning("%s: removing a torn last line (%d bytes, an interrupted write) before resuming",
                            self.path, len(tail))
                self._f.truncate(keep)
                self.truncated = True

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows (one ``write``, flushed and synced to disk)."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if not text:
            return
        if self._newline:
            text, self._newline = "\n" + text, False
        self._f.write(text.encode("utf-8"))
        self._f.flush()
        os.fsync(self._f.fileno())
        self.written += text.count("\n")

    def close(self) -> None:
        """Unlock and close; a file this run created and left empty is removed."""
        if self._f is None:
            return
        empty = self._created and self._f.tell() == 0 and self.written == 0
        if empty:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._f.close()  # closing releases the lock
        self._f = None

    def __enter__(self) -> "PredictionsFile":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_done(path: str | os.PathLike, require: Sequence[str] = ()) -> set[str]:
    """The ids in a predictions file without changing it (none when it does not exist)."""
    p = Path(path)
    if not p.is_file():
        return set()
    lines = p.read_bytes().split(b"\n")
    tail = lines.pop()
    done = {_row(raw, n, p, require)["id"] for n, raw in enumerate(lines, 1) if raw.strip()}
    with contextlib.suppress(InputError):
        if tail.strip():
            done.add(_row(tail, len(lines) + 1, p, require)["id"])
    return done


def export_identity(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """A fingerprint of an export (its ``medmllm.yaml`` and the names and sizes of its files) and its provenance.

    ``medmllm.yaml`` carries the config, the training metrics and provenance, so a retrained export
    in the same folder gets another fingerprint; the weights themselves are not read (too slow for
    large LLMs).

    Raises:
        InputError: the folder is missing or is not a medmllm export.
    """
    from medmllm.models.checkpoint import read_export

    root, doc = read_export(checkpoint)
    h = hashlib.sha256((root / "medmllm.yaml").read_bytes())
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in ("README.md", "medmllm.yaml"):
            h.update(f"{p.relative_to(root).as_posix()}:{p.stat().st_size};".encode())
    return {"hash": h.hexdigest()[:16], "provenance": doc.get("provenance")}


def check_run(run_file: str | os.PathLike, identity: dict[str, Any], *, what: str = "this output",
              write: bool = True) -> None:
    """Refuse to resume when ``run_file`` records another run; else record this one (``write``).

    Args:
        run_file: the JSON record of the run beside its predictions.
        identity: what must match (export fingerprint, generation settings, benchmark ...).
        what: how the error names the output (``--out``).
        write: record ``identity`` when there is no record yet.
    """
    from medmllm.files import atomic_write_text

    run_file = Path(run_file)
    if run_file.is_file():
        try:
            old = json.loads(run_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise InputError(run_file, "unreadable; delete the output to start again") from None
        for key in identity:
            if not isinstance(old, dict) or old.get(key) != identity[key]:
                was = old.get(key) if isinstance(old, dict) else None
                raise InputError(what, f"holds predictions of another run ({key} was {was!r}, now "
                                       f"{identity[key]!r}); use another output or delete it")
        return
    if write:
        atomic_write_text(run_file, json.dumps(identity, indent=2, ensure_ascii=False) + "\n")
