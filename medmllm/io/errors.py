"""Errors of medical image reading: one line that names the file and the problem."""

from __future__ import annotations

import os

from medmllm.errors import InputError

__all__ = ["ImageLoadError", "printable"]


def printable(text: str | os.PathLike) -> str:
    """Text safe for any terminal, JSON or UTF-8 file: bytes of a non-UTF-8 file name become ``\\xNN``.

    Python hands such names over as lone surrogates (``'\\udcff'``), which a UTF-8 writer refuses;
    here they are shown as the bytes they stand for (``'\\xff'``).
    """
    text = os.fspath(text)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ImageLoadError(InputError):
    """A file (or folder, zip, list of files) could not be read as a medical image.

    The CLI prints it as ``error: <path>: <problem>`` and exits with code 2. The message shows a
    non-UTF-8 file name with ``\\xNN`` escapes (:func:`printable`), and so does ``problem``;
    ``path`` keeps the real name.

    Args:
        path: the offending file or folder.
        problem: what is wrong and, where it helps, what to do about it.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        super().__init__(path, problem)
        self.problem = printable(problem)
        self.args = (printable(self.args[0]),)
