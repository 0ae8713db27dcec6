"""The layout's rules, checked on the real import graph (every import statement, at any depth).

- ``contract`` imports none of podscope's other packages;
- ``kfl`` and ``capture`` import nothing of ``dashboard`` (nor of ``lab`` or ``cli``); ``kfl``
  imports nothing of ``capture``;
- ``dashboard`` imports nothing of ``capture`` but in the embedded worker
  (``dashboard.core.ingest.embedded``, capture running inside the hub's process);
- ``dashboard.core`` is Django-free;
- no import cycle between podscope's modules.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "capture", "kfl", "dashboard", "lab", "cli")
FORBIDDEN: Mapping[str, tuple[str, ...]] = {
    "contract": ("capture", "kfl", "dashboard", "lab", "cli"),
    "kfl": ("capture", "dashboard", "lab", "cli"),
    "capture": ("dashboard", "kfl", "lab", "cli"),
    "dashboard": ("capture", "cli"),
    "lab": ("dashboard", "capture", "kfl", "cli"),
}
ALLOWED = {("dashboard.core.ingest.embedded", "capture")}
Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    """``dashboard/core/hub.py`` -> ``dashboard.core.hub`` (a package is its ``__init__``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(
    tree: ast.AST, module: str, is_package: bool, modules: Collection[str] = ()
) -> Iterator[str]:
    """Every module an import statement in ``tree`` names, relative imports resolved:
    ``from a import b`` names ``a.b`` when that is one of ``modules``, else ``a``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules else base


def import_graph() -> Graph:
    """Module -> the podscope modules it imports."""
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    modules = {module_name(path): path for path in files}
    graph: Graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        names = imported_names(tree, module, path.name == "__init__.py", modules)
        graph[module] = {name for name in names if name in modules and name != module}
    return graph


def violations(graph: Graph) -> list[str]:
    """Imports that break FORBIDDEN (less ALLOWED), as ``importer -> imported`` lines."""
    found = []
    for module, imports in sorted(graph.items()):
        banned = FORBIDDEN.get(module.split(".")[0], ())
        for name in sorted(imports):
            package = name.split(".")[0]
            if package in banned and (module, package) not in ALLOWED:
                found.append(f"{module} -> {name}")
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles of ``graph`` (each once, as the modules of one strongly connected
    component of two or more, or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for name in graph.get(module, ()):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in on_stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_the_graph_holds_every_package(graph: Graph) -> None:
    assert {module.split(".")[0] for module in graph} == set(PACKAGES)
    assert "contract.schema" in graph["kfl.fields"]


def test_no_package_imports_what_it_must_not(graph: Graph) -> None:
    assert violations(graph) == []


def test_the_hub_core_is_django_free() -> None:
    core = ROOT / "dashboard" / "core"
    for path in core.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        names = set(imported_names(tree, module_name(path), path.name == "__init__.py"))
        assert not {n for n in names if n.split(".")[0] in {"django", "channels"}}, path


def test_no_import_cycle(graph: Graph) -> None:
    assert cycles(graph) == []


def test_the_checks_find_what_they_look_for() -> None:
    bad: Graph = {
        "kfl.fields": {"capture.track.tcp"},
        "dashboard.core.hub": {"capture.pipeline"},
        "dashboard.core.ingest.embedded": {"capture.worker"},
        "capture.worker": {"dashboard.core.hub"},
        "a.x": {"a.y"},
        "a.y": {"a.z"},
        "a.z": {"a.x"},
    }
    assert violations(bad) == [
        "capture.worker -> dashboard.core.hub",
        "dashboard.core.hub -> capture.pipeline",
        "kfl.fields -> capture.track.tcp",
    ]
    assert cycles(bad) == [["a.x", "a.y", "a.z"]]
