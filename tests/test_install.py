"""The package installs and runs outside a checkout, and importing it loads no torch.

The wheel test builds the wheel from a copy of the source, installs it (without its
dependencies) into a new virtual environment that borrows this environment's libraries through a
.pth file, and runs it from an empty folder with a new HOME: `kb --version`, the seed from the
starter library the wheel carries, one `kb ask`, and `kb run` serving the app. Borrowing the
libraries saves installing 1.5 GB again; `pip check` then proves the wheel's declared
dependencies are what that environment holds, and every file the package reads comes from the
wheel (kb/_bundled: prompts, library, app.py, the Streamlit config; areas, starter questions and
gold sets beside their modules).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from kb.core import paths
from kb.core.settings import REPO_ROOT
from kb.version import __version__

HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "streamlit", "chromadb")
LIGHT_IMPORTS = ("kb", "ingest", "kb.cli", "ingest.cli", "kb.embed", "kb.index.knowledge", "kb.answering.assistant")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv*", "data", "reports", "test-output", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".env")


def test_importing_the_package_loads_no_torch(tmp_path: Path) -> None:
    code = (f"import sys\nimport {', '.join(LIGHT_IMPORTS)}\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTO_")} | {"PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]", f"importing {LIGHT_IMPORTS} loaded {done.stdout.strip()}"


def test_the_bundled_files_are_the_same_list_everywhere() -> None:
    """setup.py copies, MANIFEST.in ships (sdist) and kb.core.paths reads the same files, and they exist."""
    setup_tree = ast.parse((REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    copied = next(ast.literal_eval(node.value) for node in ast.walk(setup_tree)
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BUNDLED")
    assert tuple(copied) == paths.BUNDLED
    manifest = (REPO_ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    for name in paths.BUNDLED:
        assert (REPO_ROOT / name).exists(), name
        assert name in manifest, f"MANIFEST.in does not ship {name}"
    assert paths.CHECKOUT and paths.bundled("library") == REPO_ROOT / "library"


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH or CTO_* (a checkout on the path would stand in for the wheel)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CTO_")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build_wheel(tmp_path: Path) -> Path:
    source, dist = tmp_path / "source", tmp_path / "dist"
    shutil.copytree(REPO_ROOT, source, ignore=COPY_IGNORE, symlinks=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dist),
                    str(source)], check=True, timeout=600, capture_output=True, text=True, env=_clean_env())
    (wheel,) = dist.glob("cto_assistant-*.whl")
    return wheel


def _venv_borrowing_this_environment(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Install first, into an empty venv: with the borrowed libraries visible, pip would find this
    # checkout's editable install there and leave it (or, forced, uninstall it from this environment).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
                   check=True, timeout=300, capture_output=True, text=True, env=_clean_env())
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "_borrowed_libraries.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return venv


@pytest.mark.slow
@pytest.mark.model
def test_the_wheel_installs_and_runs_without_a_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = _venv_borrowing_this_environment(tmp_path, wheel)
    bin_dir, home, work = venv / "bin", tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "HF_HUB_OFFLINE": "1", "LANG": "C.UTF-8"}

    def run(*args: str, timeout: float = 600) -> str:
        done = subprocess.run(list(args), capture_output=True, text=True, cwd=work, env=env, timeout=timeout)
        assert done.returncode == 0, f"{args} exited {done.returncode}: {done.stderr[-2000:]}"
        return done.stdout

    where = run(str(bin_dir / "python"), "-c", "import kb, kb.core.paths as p; print(kb.__file__, p.CHECKOUT)")
    assert where.startswith(str(venv)) and where.split()[1] == "False", where
    _pip_check(bin_dir / "python", work, env)
    assert run(str(bin_dir / "kb"), "--version").strip() == f"kb, version {__version__}"

    seeded = run(str(bin_dir / "python"), "-m", "ingest.seed")
    data = home / ".local" / "share" / "cto-assistant" / "data"
    assert f"Knowledge base: {data}" in seeded and "Seeded from the starter library: 42 documents" in seeded, seeded

    answer = json.loads(run(str(bin_dir / "kb"), "ask", "What is the 3-2-1 backup rule?", "--json"))
    assert not answer["abstained"] and answer["citations"], answer
    assert "3-2-1" in answer["text"] or "three" in answer["text"].lower()

    _serve_the_app(bin_dir, work, env)
    assert not (work / "data").exists() and not list(work.iterdir()), "the installed package wrote into the working folder"


def _pip_check(python: Path, work: Path, env: dict[str, str]) -> None:
    """`pip check` of the new environment, run by this environment's pip (the venv has none of its own)."""
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"], capture_output=True,
                          text=True, cwd=work, env=env | {"PATH": os.environ["PATH"]}, timeout=300)
    assert done.returncode == 0, f"the wheel's dependencies are not met: {done.stdout}{done.stderr}"


def _serve_the_app(bin_dir: Path, work: Path, env: dict[str, str]) -> None:
    """`kb run` finds the app in the package and serves it; the page answers and the app script runs."""
    port = _free_port()
    log = work.parent / "app.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(bin_dir / "kb"), "run", "--port", str(port)], cwd=work, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as health:
                    if health.status == 200:
                        break
            except OSError:
                assert server.poll() is None, log.read_text(errors="replace")[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail(f"`kb run` did not answer on port {port}: {log.read_text(errors='replace')[-2000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
    script = ("from streamlit.testing.v1 import AppTest\nfrom kb.core.paths import bundled\n"
              "at = AppTest.from_file(str(bundled('app.py')), default_timeout=300).run()\n"
              "assert not at.exception, [e.value for e in at.exception]\n"
              "print(bundled('app.py'))\nprint(' '.join(m.value for m in at.markdown)[:2000])")
    done = subprocess.run([str(bin_dir / "python"), "-c", script], capture_output=True, text=True, cwd=work, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    app_path = done.stdout.splitlines()[0]
    assert "/kb/_bundled/app.py" in app_path and app_path.startswith(str(bin_dir.parent))
