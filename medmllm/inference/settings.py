"""Generation settings: checked once, the same way for ``generate``, ``evaluate`` and the app.

:func:`check_generation` takes transformers-style settings (``max_new_tokens``, ``temperature``,
``top_p``, ``top_k``, ``num_beams``, ``repetition_penalty``, ``do_sample``) and returns them ready for
``model.generate``: a temperature of 0 means greedy decoding (``do_sample`` off), a positive one
turns sampling on. A bad value raises :class:`GenerationError` naming the setting by its CLI flag
(``--max-new-tokens: must be at least 1, got -5``); it is an ``InputError`` (one ``error:`` line
in the CLI) and a ``ValueError`` (the app's settings dataclass raises it as such).
"""

from __future__ import annotations

import math
from typing import Any

from medmllm.errors import InputError

MAX_NEW_TOKENS = 32_768


class GenerationError(InputError, ValueError):
    """A generation setting out of range."""


def flag(key: str) -> str:
    """``max_new_tokens`` -> ``--max-new-tokens``."""
    return "--" + key.replace("_", "-")


def _number(key: str, value: Any, *, integer: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise GenerationError(flag(key), f"must be {kind}, got {value!r}")
    if not math.isfinite(float(value)):
        raise GenerationError(flag(key), f"must be a finite number, got {value!r}")
    return float(value)


def check_generation(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Checked generation settings, ready for ``model.generate`` (None values are dropped).

    Raises:
        GenerationError: a value out of range (negative length, NaN temperature, ``top_p`` above 1 ...).
    """
    out = {k: v for k, v in (settings or {}).items() if v is not None}
    if "max_new_tokens" in out:
        n = _number("max_new_tokens", out["max_new_tokens"], integer=True)
        if not 1 <= n <= MAX_NEW_TOKENS:
            raise GenerationError(flag("max_new_tokens"), f"must be between 1 and {MAX_NEW_TOKENS:,}, "
                                                          f"got {out['max_new_tokens']}")
        out["max_new_tokens"] = int(n)
    if "temperature" in out:
        t = _number("temperature", out["temperature"])
        if t < 0:
            raise GenerationError(flag("temperature"), f"must be 0 (greedy) or positive, got {out['temperature']}")
        if t == 0:
            out.pop("temperature")
            out["do_sample"] = False
        else:
            out["temperature"] = t
            out.setdefault("do_sample", True)
    if "top_p" in out:
        p = _number("top_p", out["top_p"])
        if not 0 < p <= 1:
            raise GenerationError(flag("top_p"), f"must be in (0, 1], got {out['top_p']}")
        out["top_p"] = p
    for key, low in (("top_k", 0), ("num_beams", 1)):
        if key in out:
            n = _number(key, out[key], integer=True)
            if n < low:
                raise GenerationError(flag(key), f"must be at least {low}, got {out[key]}")
            out[key] = int(n)
    if "repetition_penalty" in out:
        r = _number("repetition_penalty", out["repetition_penalty"])
        if r <= 0:
            raise GenerationError(flag("repetition_penalty"), f"must be positive, got {out['repetition_penalty']}")
        out["repetition_penalty"] = r
    if "do_sample" in out and not isinstance(out["do_sample"], bool):
        raise GenerationError("do_sample", f"must be true or false, got {out['do_sample']!r}")
    if not out.get("do_sample"):
        for key in ("top_p", "top_k"):  # sampling-only settings mean nothing to greedy decoding
            out.pop(key, None)
    return out
