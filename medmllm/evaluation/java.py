"""Java for pycocoevalcap (METEOR and the PTB tokenizer are Java programs)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from medmllm.errors import MedmllmError


class JavaNotFoundError(MedmllmError):
    """``java`` is not on PATH; the message says what needs it and how to install it."""


def require_java(purpose: str) -> str:
    """Path of ``java``, or :class:`JavaNotFoundError` naming ``purpose``."""
    path = shutil.which("java")
    if path is None:
        raise JavaNotFoundError(
            f"{purpose} needs Java, and 'java' is not on PATH: install a JRE (Debian/Ubuntu: "
            "apt-get install openjdk-17-jre-headless; scripts/setup.sh does it)")
    return path


@functools.lru_cache(maxsize=1)
def java_version() -> str | None:
    """``'17.0.15'`` (the running ``java -version``), or None without Java."""
    path = shutil.which("java")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    return m.group(1) if m else None
