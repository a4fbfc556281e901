"""medmllm: medical multimodal LLMs that write radiology reports.

Light on import: heavy libraries (torch, transformers, monai, gradio) are imported by the
modules that need them, so ``medmllm --help`` stays fast.
"""

__version__ = "0.1.0"
