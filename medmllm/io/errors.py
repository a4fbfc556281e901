"""Errors of medical image reading: one line that names the file and the problem."""

from __future__ import annotations

from medmllm.errors import InputError

__all__ = ["ImageLoadError"]


class ImageLoadError(InputError):
    """A file (or folder, zip, list of files) could not be read as a medical image.

    The CLI prints it as ``error: <path>: <problem>`` and exits with code 2.

    Args:
        path: the offending file or folder.
        problem: what is wrong and, where it helps, what to do about it.
    """
