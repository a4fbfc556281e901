"""Converters from external dataset formats to medmllm manifests (one module per format).

Each module registers its converter in :data:`medmllm.registry.FORMATS`, which lists the modules.
"""
