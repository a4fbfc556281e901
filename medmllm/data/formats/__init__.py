"""Converters from external dataset formats to medmllm manifests (one module per format).

Importing this package registers every converter in :data:`medmllm.registry.FORMATS`.
"""

from medmllm.data.formats import llava, mllm_bench, mme, p2med_dir, scienceqa, seed_bench  # noqa: F401
