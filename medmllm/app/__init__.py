"""The medmllm report app: Gradio 6 Blocks (:mod:`.ui`) and its helpers.

Started by ``medmllm app`` (or ``python apps/report_app.py``, the launcher in the source tree). The
helpers (``viewer``, ``uploads``, ``backend``, ``examples``, ``highlight``) import neither Gradio nor
torch at module level, so they are testable on their own.
"""
