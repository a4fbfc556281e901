"""Launcher of the medmllm report app from a source checkout: ``python apps/report_app.py [--checkpoint DIR] ...``.

The app itself is the package ``medmllm.app`` (installed with medmllm); this is the same as
``medmllm app`` and takes the same flags (``--help``).
"""

import sys

from medmllm.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
