"""Joining prediction rows to their references: a manifest of the benchmark, or rows with the reference fields.

``medmllm score-benchmark --references R`` (and :meth:`Benchmark.score` with ``references``) fill the
fields a prediction row lacks from its reference, matched by ``id`` or else by the benchmark's key
(``key_fields``). A manifest record is turned into reference fields by the benchmark's
``row_from_record``; records the benchmark does not accept are ignored.
"""

from __future__ import annotations

from typing import Any

from medmllm.errors import InputError

Rows = list[tuple[int, dict[str, Any]]]


def reference_index(bench: Any, references: Rows) -> tuple[dict[Any, dict[str, Any]], dict[tuple, dict[str, Any]]]:
    """The references' reference fields by id and by key."""
    by_id: dict[Any, dict[str, Any]] = {}
    by_key: dict[tuple, dict[str, Any]] = {}
    for _, ref in references:
        if "messages" in ref:  # a manifest record
            if not bench.accepts(ref):
                continue
            tmpl = {"id": ref.get("id"), **bench.row_from_record(ref)}
        else:
            tmpl = dict(ref)
        if tmpl.get("id") is not None:
            by_id[tmpl["id"]] = tmpl
        k = bench.key(tmpl)
        if all(v is not None for v in k):
            by_key[k] = tmpl
    return by_id, by_key


def join_references(bench: Any, raw: Rows, where: str, references: Rows,
                    references_where: str | None) -> tuple[Rows, int]:
    """Each prediction row completed by its reference; and how many references have no prediction.

    Args:
        bench: the benchmark (its ``accepts``, ``row_from_record`` and ``key``).
        raw: ``(line_number, row)`` pairs of the predictions file.
        where: the predictions file (for error messages).
        references: ``(line, object)`` pairs of manifest records or reference rows.
        references_where: the references file (for error messages).

    Raises:
        InputError: no reference of the benchmark; a row absent from the references or whose
            ``answer`` differs from its reference's.
    """
    by_id, by_key = reference_index(bench, references)
    if not by_id and not by_key:
        raise InputError(references_where, f"no {bench.name} references found")
    used: set[int] = set()
    rows = []
    for n, row in raw:
        tmpl = by_id.get(row["id"]) if row.get("id") is not None else None
        if tmpl is None:
            tmpl = by_key.get(bench.key(row))
        if tmpl is None:
            ident = row.get("id", bench.key(row))
            raise InputError(where, f"line {n}: {ident!r} is not in the references")
        if "answer" in row and "answer" in tmpl and row["answer"] != tmpl["answer"]:
            raise InputError(where, f"line {n}: answer {row['answer']!r} differs from the "
                                    f"references' {tmpl['answer']!r}")
        used.add(id(tmpl))
        rows.append((n, {**tmpl, **row}))
    unused = len({id(t) for t in list(by_id.values()) + list(by_key.values())} - used)
    return rows, unused
