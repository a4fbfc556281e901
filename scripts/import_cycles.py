"""Import cycles of a Python package, read from the AST (no module is imported).

Every ``import`` / ``from ... import`` statement counts, wherever it stands: module level,
inside functions (lazy imports) and under ``if TYPE_CHECKING:``. An edge goes from a module to
the module of the package that the statement names (``from a.b import c`` names ``a.b.c`` when
that is a module, else ``a.b``); imports of other packages are ignored, and so is the implicit
import of a parent package's ``__init__``. A cycle is a strongly connected component of more
than one module (or a module that imports itself).

Usage::

    python scripts/import_cycles.py                      # the whole medmllm package
    python scripts/import_cycles.py medmllm --only medmllm.training medmllm.models
    python scripts/import_cycles.py --depth 2               # cycles between packages (training <-> evaluation)

``--only`` reports just the cycles that touch a module of those packages; ``--depth N`` first
merges every module into its first ``N`` dotted parts (``medmllm.evaluation.benchmarks.report``
-> ``medmllm.evaluation`` at depth 2), so cycles between packages show. Exit status 1 when a
reported cycle exists, 0 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import deque
from pathlib import Path


def module_names(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` file under the package folder ``root``."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package, or None."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in modules:
            return cand
        parts.pop()
    return None


def imports_of(module: str, file: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that ``module`` imports anywhere in its source."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    is_pkg = file.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                pkg = ".".join(base + ([node.module] if node.module else []))
            else:
                pkg = node.module or ""
            names = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names]
        else:
            continue
        for n in names:
            target = _resolve(n, modules)
            if target is not None:
                out.add(target)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for the package folder ``root``."""
    modules = module_names(root)
    return {m: imports_of(m, f, modules) for m, f in modules.items()}


def collapse(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph of ``graph``'s modules merged into their first ``depth`` dotted parts (self-edges dropped)."""
    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        a = ".".join(m.split(".")[:depth])
        edges = out.setdefault(a, set())
        for t in targets:
            b = ".".join(t.split(".")[:depth])
            if b != a:
                edges.add(b)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out, key=lambda c: (-len(c), c))


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the first module of ``component`` (breadth-first search)."""
    start, members = component[0], set(component)
    prev: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


def touches(component: list[str], packages: list[str]) -> bool:
    """True when a module of ``component`` is one of ``packages`` or inside one."""
    return any(m == p or m.startswith(p + ".") for m in component for p in packages)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", nargs="?", default="medmllm", help="package folder (default: medmllm)")
    ap.add_argument("--only", nargs="+", default=None, metavar="PKG",
                    help="report only cycles that touch these packages (dotted names)")
    ap.add_argument("--depth", type=int, default=None, metavar="N",
                    help="merge modules into their first N dotted parts (package-level cycles)")
    args = ap.parse_args(argv)
    root = Path(args.package).resolve()
    if not (root / "__init__.py").is_file():
        print(f"error: {args.package}: not a package folder (no __init__.py)", file=sys.stderr)
        return 2
    graph = import_graph(root)
    if args.depth:
        graph = collapse(graph, args.depth)
    found = cycles(graph)
    shown = [c for c in found if args.only is None or touches(c, args.only)]
    edges = sum(len(v) for v in graph.values())
    scope = f" touching {', '.join(args.only)}" if args.only else ""
    print(f"{len(graph)} {'packages' if args.depth else 'modules'}, {edges} import edges, {len(shown)} cycle(s){scope}")
    for comp in shown:
        print(f"- {len(comp)} members: {', '.join(comp)}")
        print(f"  e.g. {' -> '.join(shortest_cycle(graph, comp))}")
    return 1 if shown else 0


if __name__ == "__main__":
    sys.exit(main())
