"""Name -> builder registries, one per kind of component.

A registry knows which modules populate it, so ``ENCODERS.get("vit2d")`` imports
``medmllm.models.encoders`` on first use; adding an encoder touches one file. Components of your
own live in plugin modules named in ``$MEDMLLM_PLUGINS`` (:func:`load_plugins`). Names may also be
patterns (``mlp(?P<depth>\\d+)x_gelu``): the named groups are passed to the builder as keyword
arguments (converted to int when they are digits).
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

from medmllm.errors import ConfigError


PLUGINS_ENV = "MEDMLLM_PLUGINS"
_plugins_loaded: set[str] = set()


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the plugin modules named in ``$MEDMLLM_PLUGINS`` (or ``spec``): your own components.

    A comma-separated list of module names (importable, e.g. on ``PYTHONPATH``) or paths to ``.py``
    files; their ``@ENCODERS.register(...)`` (or any registry's) decorators run on import, so the
    names they register work in configs, the CLI and exports like the built-in ones. Each is
    imported once. Returns the entries imported now.
    """
    import importlib.util
    import os
    from pathlib import Path

    done = []
    for entry in [e.strip() for e in (spec if spec is not None else os.environ.get(PLUGINS_ENV, "")).split(",")]:
        if not entry or entry in _plugins_loaded:
            continue
        _plugins_loaded.add(entry)
        try:
            if entry.endswith(".py"):
                path = Path(entry)
                if not path.is_file():
                    raise ConfigError(path, f"{PLUGINS_ENV}: plugin file not found")
                mod_spec = importlib.util.spec_from_file_location(f"medmllm_plugin_{path.stem}", path)
                module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
                mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
            else:
                importlib.import_module(entry)
        except ImportError as e:
            _plugins_loaded.discard(entry)
            raise ConfigError(None, f"{PLUGINS_ENV}: cannot import plugin '{entry}': {e}") from None
        done.append(entry)
    return done


class Registry:
    """A closed set of named builders.

    Args:
        kind: what is registered ("encoder", "connector", ...), used in error messages.
        modules: modules whose import registers the entries.
    """

    def __init__(self, kind: str, modules: tuple[str, ...] = ()):
        self.kind = kind
        self._modules = modules
        self._loaded = False
        self._entries: dict[str, Callable[..., Any]] = {}
        self._patterns: list[tuple[re.Pattern[str], str, Callable[..., Any]]] = []

    def register(self, name: str, *, pattern: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register ``fn`` (a class or function) under ``name`` (or a regex if ``pattern``)."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if pattern:
                self._patterns.append((re.compile(f"^{name}$"), name, fn))
            else:
                if name in self._entries and self._entries[name] is not fn:
                    raise ValueError(f"{self.kind} '{name}' registered twice")
                self._entries[name] = fn
            return fn

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for m in self._modules:
                importlib.import_module(m)
            load_plugins()

    def names(self) -> list[str]:
        """Registered names (patterns shown as their regex)."""
        self._load()
        return sorted(self._entries) + [p for _, p, _ in self._patterns]

    def get(self, name: str) -> tuple[Callable[..., Any], dict[str, Any]]:
        """Return ``(builder, extra_kwargs)`` for ``name``; unknown names list the valid ones."""
        self._load()
        if name in self._entries:
            return self._entries[name], {}
        for rx, _, fn in self._patterns:
            m = rx.match(name)
            if m:
                extra = {k: int(v) if v.isdigit() else v for k, v in m.groupdict().items()}
                return fn, extra
        raise ConfigError(None, f"unknown {self.kind} '{name}'; valid: {', '.join(self.names())}")

    def build(self, name: str, **kwargs: Any) -> Any:
        """Build the component registered as ``name`` with ``kwargs``."""
        fn, extra = self.get(name)
        try:
            return fn(**extra, **kwargs)
        except TypeError as e:
            if "unexpected keyword argument" in str(e) or "missing" in str(e):
                raise ConfigError(None, f"{self.kind} '{name}': {e}") from e
            raise

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except ConfigError:
            return False


# Every registry lists the modules whose import registers its entries: the one place to add a module.
ENCODERS = Registry("encoder", ("medmllm.models.encoders", "medmllm.models.cnn_encoders"))
CONNECTORS = Registry("connector", ("medmllm.models.connectors",))
LLMS = Registry("llm", ("medmllm.models.llm",))
FORMATS = Registry("format", ("medmllm.data.formats.llava", "medmllm.data.formats.p2med_dir",
                              "medmllm.data.formats.iu_xray", "medmllm.data.formats.r2gen",
                              "medmllm.data.formats.mimic_cxr", "medmllm.data.formats.chexpert_plus",
                              "medmllm.data.formats.ct_rate", "medmllm.data.formats.hf_datasets",
                              "medmllm.data.formats.icdar", "medmllm.data.formats.anyword",
                              "medmllm.data.formats.image_text_pairs", "medmllm.data.formats.mplug_owl3",
                              "medmllm.data.formats.video_instruct",
                              "medmllm.evaluation.benchmarks.chartqa.convert",
                              "medmllm.evaluation.benchmarks.docvqa.convert",
                              "medmllm.evaluation.benchmarks.mllm_bench.convert",
                              "medmllm.evaluation.benchmarks.mme.convert",
                              "medmllm.evaluation.benchmarks.scienceqa.convert",
                              "medmllm.evaluation.benchmarks.seed_bench.convert",
                              "medmllm.evaluation.benchmarks.video_mme.convert"))
BENCHMARKS = Registry("benchmark", ("medmllm.evaluation.benchmarks.chartqa.score",
                                    "medmllm.evaluation.benchmarks.clinical",
                                    "medmllm.evaluation.benchmarks.docvqa.score",
                                    "medmllm.evaluation.benchmarks.mllm_bench.score",
                                    "medmllm.evaluation.benchmarks.mme.score",
                                    "medmllm.evaluation.benchmarks.ocr.score",
                                    "medmllm.evaluation.benchmarks.report",
                                    "medmllm.evaluation.benchmarks.scienceqa.score",
                                    "medmllm.evaluation.benchmarks.seed_bench.score",
                                    "medmllm.evaluation.benchmarks.video_mme.score",
                                    "medmllm.pretraining.benchmark"))
STAGES = Registry("stage", ("medmllm.training.stages", "medmllm.pretraining.stage"))
# Tokenizer corpora of the tiny LLM (``model.llm.corpus: {name: settings}``); not shown by ``medmllm info``.
CORPORA = Registry("corpus", ("medmllm.data.synthetic.corpus",))

ALL = {"encoders": ENCODERS, "connectors": CONNECTORS, "llms": LLMS, "formats": FORMATS,
       "benchmarks": BENCHMARKS, "stages": STAGES}
