"""Applications built on medmllm: the Gradio report app (``apps/report_app.py``) and its helpers.

The helpers (``viewer``, ``uploads``, ``backend``, ``examples``) import neither Gradio nor torch at
module level, so they are testable on their own.
"""
