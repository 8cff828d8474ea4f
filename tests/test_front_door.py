"""The front door: ``from kb import Assistant, KnowledgeBase, Settings, Answer`` and ``from ingest import run_ingest``.

Importing either package stays instant (nothing heavy loads until a name is used), and
every public function with more than three parameters takes the rest by keyword.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT

HEAVY = ("torch", "chromadb", "sentence_transformers", "streamlit", "click", "langchain_core", "numpy")


def _run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True,
                         timeout=120)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_kb_and_ingest_loads_nothing_heavy() -> None:
    seen = _run("import json, sys, time\n"
                "start = time.perf_counter()\n"
                "import kb, ingest\n"
                "took = time.perf_counter() - start\n"
                f"print(json.dumps({{'took': took, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))")
    assert seen["loaded"] == []
    assert float(seen["took"]) < 0.5  # typically a few milliseconds


def test_settings_alone_does_not_load_the_answering_path() -> None:
    seen = _run("import json, sys\nfrom kb import Settings\nSettings()\n"
                f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))")
    assert "torch" not in seen["loaded"] and "chromadb" not in seen["loaded"]


def test_the_front_door_names_are_the_real_classes() -> None:
    import ingest
    import kb
    from ingest import IngestOptions, run_ingest
    from kb import Answer, Assistant, KnowledgeBase, Settings
    from kb.answering.assistant import Assistant as HomeAssistant
    from kb.core.answer import Answer as HomeAnswer
    from kb.core.settings import Settings as HomeSettings
    from kb.index.knowledge import KnowledgeBase as HomeKnowledgeBase

    assert (Assistant, KnowledgeBase, Settings, Answer) == (HomeAssistant, HomeKnowledgeBase, HomeSettings, HomeAnswer)
    assert run_ingest.__module__ == "ingest.pipeline"
    assert IngestOptions.__module__ == "ingest.report"  # light: the unchanged-folder check reads it without the pipeline
    assert set(kb.__all__) <= set(dir(kb)) and set(ingest.__all__) <= set(dir(ingest))
    with pytest.raises(AttributeError, match="the Python API is Assistant, KnowledgeBase, Settings, Answer"):
        kb.Retriever  # noqa: B018


def test_the_readme_python_example_runs(tmp_path: Path) -> None:
    """The README's Python API block, run as written over the starter library (hash embedder for speed)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1",
           "CTO_EMBEDDING_MODEL": "hash", "CTO_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "{'added': 42}"
    assert "[1]" in run.stdout and any(line.startswith("1 ") for line in lines[1:]), run.stdout


def _wide_positional(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name.startswith("_") and node.name != "__init__":
            continue
        if any("click" in ast.unparse(d) for d in node.decorator_list):
            continue  # click passes options by keyword
        positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
        if len(positional) + len(node.args.kwonlyargs) > 3 and len(positional) > 3:
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}")
    return found


def test_public_functions_with_more_than_three_parameters_take_the_rest_by_keyword() -> None:
    wide = [hit for package in ("kb", "ingest", "eval", "ui") for path in sorted((REPO_ROOT / package).rglob("*.py"))
            if not path.name.startswith("_") or path.name == "__init__.py" for hit in _wide_positional(path)]
    assert wide == []
