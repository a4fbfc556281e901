"""Exception types shared by every part of medmllm.

``InputError`` (and subclasses) means the user's input is wrong: the CLI prints one line
``error: <message>`` and exits 2. Anything else is an internal error (exit 1).
"""

from __future__ import annotations

import os


class MedmllmError(Exception):
    """Base class of medmllm's own errors."""


class InputError(MedmllmError):
    """Bad input (file, manifest, config, flag). The message names the file and the problem.

    Args:
        path: the offending file or setting (may be None when there is none).
        problem: what is wrong, in a few words, and what was expected.
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class ConfigError(InputError):
    """A config file or override is invalid (names the file or dotted key)."""


class MissingDependencyError(MedmllmError):
    """An optional package is not installed; the message names it and the pip command."""

    def __init__(self, package: str, purpose: str, extra: str | None = None, hint: str | None = None):
        hint = hint or (f"pip install {package}" if extra is None else f"pip install 'medmllm[{extra}]'")
        super().__init__(f"{purpose} needs the package '{package}': {hint}")
        self.package = package
