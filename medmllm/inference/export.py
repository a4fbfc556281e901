"""An export folder checked before its weights load: complete, readable, and small enough for the machine.

:func:`check_export` refuses, each with one line naming the folder or file:

- a folder that is not an export (``medmllm.models.checkpoint.read_export``), or the temporary
  folder of an interrupted save;
- a training stage's export without its ``COMPLETE`` marker (:func:`medmllm.files.is_complete`:
  the save was interrupted, or the folder was copied in part). Exports written by
  ``MedMLLM.save_pretrained`` carry no marker (they are renamed into place whole) and are accepted;
- a ``.safetensors`` file whose header is not readable (garbage, truncated): only the header is
  parsed, the tensors are not read;
- a model whose weights alone exceed the memory there is (:mod:`medmllm.models.estimate`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medmllm.errors import InputError


def load_dtype(doc: dict[str, Any], device: str | None, dtype: str | None) -> str | None:
    """The LLM dtype to load an export in on ``device`` (None: the export's own)."""
    if dtype is not None:
        return dtype
    import torch

    from medmllm.hardware import default_dtype

    saved = (doc.get("checkpoint") or {}).get("llm_dtype")
    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    chosen = default_dtype(saved, str(target))
    return chosen if chosen != saved else None


def check_safetensors(root: Path) -> None:
    """Parse the header of every ``.safetensors`` file of an export (no tensor is read)."""
    from safetensors import safe_open

    for f in sorted(root.rglob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                st.keys()
        except Exception as e:  # noqa: BLE001 - SafetensorError, OSError: one line naming the file
            raise InputError(f, f"unreadable safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                                "the export is damaged: re-export it") from None


def check_export(path: str | os.PathLike, *, device: str | None = None,
                 dtype: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The export folder and its ``medmllm.yaml``, after the checks of the module docstring.

    Raises:
        InputError: one of the refusals above.
    """
    from medmllm.files import COMPLETE, is_complete
    from medmllm.models.checkpoint import read_export
    from medmllm.models.estimate import check_fits, export_estimate

    p = Path(path)
    if p.is_file():
        raise InputError(p, "expected an export folder (written by medmllm train), got a file")
    root, doc = read_export(p)
    if root.name.startswith(".") and (".tmp-" in root.name or root.name.endswith(".tmp")):
        raise InputError(root, "this is a temporary folder of an interrupted save, not an export")
    if doc.get("stage") and not is_complete(root):
        raise InputError(root, f"incomplete export: no {COMPLETE} marker (the save was interrupted); "
                               "use an earlier export or rerun the stage")
    check_safetensors(root)
    est = export_estimate(root, {**doc, "checkpoint": {**(doc.get("checkpoint") or {}),
                                                       "llm_dtype": load_dtype(doc, device, dtype) or
                                                       (doc.get("checkpoint") or {}).get("llm_dtype")}})
    check_fits(est, root, device=device, purpose="load")
    return root, doc
