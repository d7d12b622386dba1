"""The layout of the packages: imports run one way, and no module imports itself back.

The import graph is read from the source with `ast` (nothing is imported): every
`import` and `from … import` anywhere in a module — at the top, inside a
function, under `if TYPE_CHECKING:` — is an edge to the project module it
names (`from package import submodule` is an edge to the submodule).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "ingest", "simulator", "bench")
# The AMI simulator is a peer of the ingest (a fake Asterisk), not part of it.
SIMULATOR = ("simulator",)
MAX_LINES = 500
"""No module of the project is longer (one job each)."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """The dotted names a module imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _project_module(dotted: str) -> str | None:
    """The project module a dotted name is in (a submodule, else its package)."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_project_module(dotted) for dotted in _imported(name, path)}
        graph[name] = {target for target in targets if target and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert {"api", "ingest"} <= set(PACKAGES)
    assert "api.service" in graph["api.rest"]
    assert "api.graphql.context" in graph["api.graphql.types"]


def test_no_import_circle() -> None:
    assert _cycles(_graph()) == []


def test_ingest_imports_neither_the_api_nor_the_simulator() -> None:
    outward = {
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _within(name, ("ingest",)) and not _within(name, SIMULATOR)
        for target in targets
        if _within(target, ("api", *SIMULATOR))
    }
    assert outward == set()


def test_the_simulator_uses_only_the_ingests_public_names() -> None:
    """A fake Asterisk may share the ingest's types and recordings, never its insides."""
    reached = {
        f"{name} -> {dotted}"
        for name, path in MODULES.items()
        if _within(name, SIMULATOR)
        for dotted in _imported(name, path)
        if dotted.startswith("api.")
        or (dotted.startswith("ingest.") and any(p.startswith("_") for p in dotted.split(".")))
    }
    assert reached == set()


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
