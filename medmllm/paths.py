"""Where medmllm keeps what it makes once and reuses: one cache folder for every part.

``$MEDMLLM_CACHE``, else ``$XDG_CACHE_HOME/medmllm``, else ``~/.cache/medmllm``; inside it
``smollm2/`` (the converted GGUF), ``synthetic/`` (generated data sets), ``app-examples/`` and
``quickstart/`` (the run and export of `make demo`; ``$MEDMLLM_QUICKSTART`` names the export
folder directly).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(*parts: str) -> Path:
    """The cache folder (not created), joined with ``parts``."""
    if os.environ.get("MEDMLLM_CACHE"):
        base = Path(os.environ["MEDMLLM_CACHE"]).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "medmllm"
    return base.joinpath(*parts)


def quickstart_export_dir() -> Path:
    """Where `make demo` leaves the trained quickstart export (the app's default model)."""
    if os.environ.get("MEDMLLM_QUICKSTART"):
        return Path(os.environ["MEDMLLM_QUICKSTART"]).expanduser()
    return cache_root("quickstart", "export")
