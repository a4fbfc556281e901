"""Dotted config overrides on the command line (``--train.max_steps=10``) for config commands.

argparse rejects options it does not know; :func:`accept_overrides` makes a subcommand's parser
collect every ``--a.b=value`` (or ``--a.b value``, or a top-level ``--key=value``) into
``args.overrides`` instead.
"""

from __future__ import annotations

import argparse


def _split(extra: list[str]) -> tuple[list[str], list[str]]:
    dotted, rest = [], []
    i = 0
    while i < len(extra):
        a = extra[i]
        key = a[2:].split("=", 1)[0] if a.startswith("--") else ""
        if key and not key.startswith(".") and ("." in key or "=" in a):
            if "=" in a:
                dotted.append(a)
            elif i + 1 < len(extra) and not extra[i + 1].startswith("--"):
                dotted.append(f"{a}={extra[i + 1]}")
                i += 1
            else:
                rest.append(a)
        else:
            rest.append(a)
        i += 1
    return dotted, rest


def accept_overrides(parser: argparse.ArgumentParser) -> None:
    """Let ``parser`` take ``--dotted.key=value`` overrides into ``args.overrides`` (in order)."""
    parser.set_defaults(overrides=[])
    original = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):  # noqa: ANN001 - argparse's signature
        ns, extra = original(args, namespace)
        dotted, rest = _split(list(extra))
        ns.overrides = list(getattr(ns, "overrides", None) or []) + dotted
        return ns, rest

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]
