"""The import graph keeps its shape: no circle, and imports only go down the layers (read with ast; nothing runs).

Layers of kb/, lowest first: core < embed < index < governance < answering < langchain < server < cli. A module may
import its own layer and the ones below. ingest/ may use core, embed, index and governance;
eval/ anything but the CLI and the UI; ui/ and app.py anything. Only kb/cli/ (in kb/) may import
streamlit or click.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT

PACKAGES = ("kb", "ingest", "eval", "ui")
KB_LAYERS = ["kb.core", "kb.embed", "kb.index", "kb.governance", "kb.answering", "kb.langchain", "kb.server", "kb.cli"]
INGEST_MAY_USE = ("kb.core", "kb.embed", "kb.index", "kb.governance", "kb.version", "ingest")
EVAL_MAY_NOT_USE = ("kb.cli", "ui", "app")
UI_LIBRARIES = ("streamlit", "click")


def _modules(root: Path) -> dict[str, Path]:
    found = {"app": root / "app.py"}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imported_names(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every module an import statement names, anywhere in the file (functions and TYPE_CHECKING too).

    ``from package import submodule`` names the submodule, not the package.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = REPO_ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(project module -> project modules it imports, project module -> top-level outside packages it imports)."""
    modules = _modules(root)
    inside: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for module, path in modules.items():
        names = list(_imported_names(module, path, modules))
        inside[module] = {m for n in names if (m := _resolve(n, modules)) and m != module}
        outside[module] = {n.split(".")[0] for n in names if n and _resolve(n, modules) is None}
    return inside, outside


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int | None:
    for rank, layer in enumerate(KB_LAYERS):
        if module == layer or module.startswith(layer + "."):
            return rank
    return None


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layering, as 'importer -> imported'."""
    wrong = []
    for module, targets in graph.items():
        for target in sorted(targets):
            if module.startswith("kb."):
                mine, theirs = _layer(module), _layer(target)
                ok = _within(target, ("kb",)) and (theirs is None or mine is None or theirs <= mine)
            elif module == "kb":  # the front door names things of every kb layer but the CLI
                ok = _within(target, ("kb",)) and not _within(target, ("kb.cli",))
            elif module.startswith("ingest"):
                ok = _within(target, INGEST_MAY_USE)
            elif module.startswith("eval"):
                ok = not _within(target, EVAL_MAY_NOT_USE)
            else:  # ui/ and app.py sit on top
                ok = True
            if not ok:
                wrong.append(f"{module} -> {target}")
    return wrong


def test_the_graph_is_read() -> None:
    inside, outside = import_graph()
    assert {"kb.core.settings", "kb.index.knowledge"} <= inside["kb.answering.assistant"]
    assert "streamlit" in outside["ui.chat"] and len(inside) > 90


def test_there_is_no_import_circle() -> None:
    inside, _ = import_graph()
    assert circles(inside) == []


def test_imports_only_go_down_the_layers() -> None:
    inside, _ = import_graph()
    assert upward_imports(inside) == []


def test_kb_outside_its_cli_never_imports_streamlit_or_click() -> None:
    _, outside = import_graph()
    offenders = {m: sorted(outside[m] & set(UI_LIBRARIES)) for m in outside
                 if _within(m, ("kb", "ingest")) and not _within(m, ("kb.cli", "ingest.cli"))}
    assert {m: libs for m, libs in offenders.items() if libs} == {}


def test_every_folder_says_what_lives_there() -> None:
    for init in sorted(REPO_ROOT.glob("**/__init__.py")):
        if _within(".".join(init.parent.relative_to(REPO_ROOT).parts), PACKAGES):
            tree = ast.parse(init.read_text(encoding="utf-8"))
            doc = ast.get_docstring(tree)
            assert doc and doc.strip(), f"{init.relative_to(REPO_ROOT)} has no docstring saying what lives there"


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_circle_finder_finds_circles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert circles(graph) == expected


def test_the_layer_check_catches_an_upward_import() -> None:
    graph = {"kb.core.x": {"kb.answering.y"}, "ingest.z": {"kb.answering.y", "kb.core.x"}, "eval.w": {"kb.cli.v"},
             "kb.answering.y": {"kb.core.x"}, "ui.p": {"kb.cli.v"}}
    assert upward_imports(graph) == ["kb.core.x -> kb.answering.y", "ingest.z -> kb.answering.y", "eval.w -> kb.cli.v"]
