"""Setup's two choices, made here so that they can be tested: which Python, and where torch comes from.

scripts/setup.sh runs ``python3 scripts/setup_plan.py python`` (before any virtual environment
exists) and ``.venv/bin/python scripts/setup_plan.py torch`` (inside it); each prints shell
assignments for setup.sh to ``eval`` on stdout and says on stderr what it chose and why.

Rules:
- Python: ``$PYTHON`` when set (refused if pyproject.toml's requires-python excludes it); otherwise
  among the supported interpreters found on PATH, in pyenv and in /usr/bin, one for which a CPU
  build of torch is at hand, then the oldest (3.11 runs the whole test suite in CI).
- torch: a CPU build that pip can see on this machine without asking an index (a wheel in a
  find-links folder, say), installed from that file; otherwise PyTorch's CPU index, or the one
  ``CTO_TORCH_INDEX_URL`` names (a district mirror); a CUDA build only with ``--cuda``.

Only the standard library, and syntax Python 3.8 still reads: a too-old ``python3`` must be able to
say that it is too old.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROBE_TIMEOUT_S = 120
# Rough sizes for the progress messages (measured on Linux x86_64 with torch 2.13.0).
TORCH_CPU_DOWNLOAD_MB = 190
TORCH_CPU_INSTALLED_MB = 750
TORCH_CUDA_NOTE = "several GB (the CUDA build with its NVIDIA libraries)"


class Interpreter(NamedTuple):
    """One Python found on the machine."""

    path: str
    version: tuple[int, int, int]
    has_venv: bool  # the venv and ensurepip modules (Debian splits them into python3.X-venv)


class TorchWheel(NamedTuple):
    """A CPU build of torch that pip can install without an index."""

    location: str  # a local file path
    version: str
    size_mb: int


class TorchPlan(NamedTuple):
    """How setup installs torch."""

    pip_args: list[str]
    source: str  # said to the user: where it comes from
    size: str  # said to the user: roughly how big


def supported_range(pyproject: Path = ROOT / "pyproject.toml") -> tuple[tuple[int, int], tuple[int, int]]:
    """(lowest supported, first unsupported) Python from requires-python, e.g. ((3, 11), (3, 14))."""
    text = pyproject.read_text(encoding="utf-8")
    found = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)\s*,\s*<\s*(\d+)\.(\d+)"', text)
    if not found:
        raise SystemExit("setup: pyproject.toml has no requires-python of the form \">=3.X,<3.Y\"")
    low_major, low_minor, high_major, high_minor = (int(g) for g in found.groups())
    return (low_major, low_minor), (high_major, high_minor)


def is_supported(version: Sequence[int], bounds: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    return bounds[0] <= (version[0], version[1]) < bounds[1]


def candidate_paths(*, env: dict[str, str], bounds: tuple[tuple[int, int], tuple[int, int]]) -> list[str]:
    """Interpreters worth probing: pythonX.Y and python3 on PATH, pyenv's versions, /usr/bin's."""
    minors = [f"{bounds[0][0]}.{m}" for m in range(bounds[0][1], bounds[1][1])]
    found: list[str] = []
    for directory in env.get("PATH", "").split(os.pathsep):
        for name in ["python" + m for m in minors] + ["python3"]:
            candidate = Path(directory or ".") / name
            if candidate.is_file() and os.access(str(candidate), os.X_OK):
                found.append(str(candidate))
    pyenv_root = Path(env.get("PYENV_ROOT") or Path(env.get("HOME", "/root")) / ".pyenv")
    for minor in minors:
        found.extend(str(p) for p in sorted((pyenv_root / "versions").glob(minor + ".*/bin/python" + minor)))
        found.append("/usr/bin/python" + minor)
    unique: list[str] = []
    for path in found:
        if path not in unique and Path(path).is_file():
            unique.append(path)
    return unique


_PROBE = ("import json, sys, importlib.util as u; print(json.dumps([sys.executable, list(sys.version_info[:3]), "
          "bool(u.find_spec('venv') and u.find_spec('ensurepip'))]))")


def probe(path: str) -> Interpreter | None:
    """What ``path`` is, or None when it does not run (a pyenv shim for an inactive version fails)."""
    try:
        done = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    executable, version, has_venv = json.loads(done.stdout)
    return Interpreter(path=executable or path, version=tuple(version), has_venv=has_venv)  # type: ignore[arg-type]


def is_cpu_build(version: str, requires: Sequence[str]) -> bool:
    """A torch distribution is a CPU build: '+cpu' in its version, or no CUDA libraries among its requirements."""
    if "+" in version:
        return version.split("+", 1)[1].startswith("cpu")
    return not any(re.match(r"\s*(nvidia-|triton\b)", req) for req in requires)


def local_wheel_from_report(report: dict[str, object]) -> TorchWheel | None:
    """The CPU torch wheel pip would install from a local file, read from ``pip install --report`` JSON."""
    for item in report.get("install", []):  # type: ignore[union-attr]
        metadata, info = item.get("metadata", {}), item.get("download_info", {})
        url = str(info.get("url", ""))
        if metadata.get("name", "").lower() != "torch" or not url.startswith("file://"):
            continue
        if not is_cpu_build(str(metadata.get("version", "")), metadata.get("requires_dist") or []):
            continue
        location = unquote(url[len("file://"):])
        size = Path(location).stat().st_size // 2**20 if Path(location).is_file() else 0
        return TorchWheel(location=location, version=str(metadata["version"]), size_mb=size)
    return None


def find_local_torch(python: str, version: str, *, env: dict[str, str] | None = None) -> TorchWheel | None:
    """Ask ``python``'s pip, with no index (find-links folders only), for a CPU build of torch==version."""
    command = [python, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "--no-index",
               "--quiet", "--report", "-", "torch==" + version]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return local_wheel_from_report(json.loads(done.stdout))


def choose_python(found: Sequence[Interpreter], *, bounds: tuple[tuple[int, int], tuple[int, int]],
                  torch_at_hand: dict[str, bool], requested: str | None = None) -> tuple[Interpreter, str]:
    """The interpreter setup uses, and why; SystemExit with what to do when none fits."""
    wanted = f"{bounds[0][0]}.{bounds[0][1]} to {bounds[1][0]}.{bounds[1][1] - 1}"
    if requested is not None:
        chosen = [i for i in found if i.path == requested]
        if not chosen:
            raise SystemExit(f"setup: PYTHON={requested} does not run: point PYTHON at a Python {wanted} interpreter")
        if not is_supported(chosen[0].version, bounds):
            raise SystemExit(f"setup: PYTHON={requested} is Python {_dotted(chosen[0].version)}; CTO Assistant needs Python {wanted}")
        return chosen[0], "PYTHON names it"
    usable = [i for i in found if is_supported(i.version, bounds) and i.has_venv]
    if not usable:
        missing = [i for i in found if is_supported(i.version, bounds)]
        if missing:
            minor = "{}.{}".format(*missing[0].version[:2])
            raise SystemExit(f"setup: Python {minor} at {missing[0].path} lacks the venv module: run `apt-get install python{minor}-venv`, "
                             "then `make setup` again")
        seen = ", ".join(sorted({_dotted(i.version) for i in found})) or "none"
        raise SystemExit(f"setup: no Python {wanted} found (seen: {seen}). Install one (Debian 13 and Ubuntu 24.04 ship "
                         "python3; `apt-get install python3 python3-venv`), or set PYTHON=/path/to/python3.X")
    # stable: for one minor version, the first found (PATH order) wins
    usable.sort(key=lambda i: (not torch_at_hand.get(i.path, False), i.version[:2]))
    best = usable[0]
    if torch_at_hand.get(best.path):
        return best, "a CPU build of torch for it lies on this machine"
    others = len(usable) - 1
    return best, "the oldest supported Python found" + (f" (of {others + 1})" if others else "") + \
        "; torch will come from an index"


def plan_torch(*, version: str, local: TorchWheel | None, index_url: str | None, cuda: bool) -> TorchPlan:
    """Where torch comes from (see the module's rules)."""
    if cuda:
        return TorchPlan(["torch==" + version], "the default package index, any build (--cuda)", TORCH_CUDA_NOTE)
    if local is not None:
        return TorchPlan([local.location], "the CPU wheel on this machine, " + local.location,
                         f"{local.size_mb} MB file, about {TORCH_CPU_INSTALLED_MB} MB installed")
    url = index_url or CPU_INDEX
    named = " (CTO_TORCH_INDEX_URL)" if index_url else ""
    return TorchPlan(["torch==" + version, "--index-url", url], "the CPU index " + url + named,
                     f"about {TORCH_CPU_DOWNLOAD_MB} MB download, about {TORCH_CPU_INSTALLED_MB} MB installed")


def torch_pin(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The torch release the `model` extra pins (``torch==X``)."""
    found = re.search(r'"torch==([^"]+)"', pyproject.read_text(encoding="utf-8"))
    if not found:
        raise SystemExit("setup: pyproject.toml pins no torch release (\"torch==X\" in the model extra)")
    return found.group(1)


def _dotted(version: Sequence[int]) -> str:
    return ".".join(str(v) for v in version)


def _say(message: str) -> None:
    print("setup: " + message, file=sys.stderr, flush=True)


def _main_python() -> None:
    bounds = supported_range()
    requested = os.environ.get("PYTHON") or None
    paths = [requested] if requested else candidate_paths(env=dict(os.environ), bounds=bounds)
    found: list[Interpreter] = []
    seen = set()
    for interp in (probe(p) for p in paths):
        if interp is not None and os.path.realpath(interp.path) not in seen:
            seen.add(os.path.realpath(interp.path))
            found.append(interp._replace(path=requested) if requested else interp)
    version = torch_pin()
    at_hand: dict[str, bool] = {}
    for interp in sorted(found, key=lambda i: i.version[:2]):  # stop at the first one with torch at hand
        if is_supported(interp.version, bounds) and interp.has_venv and not requested:
            at_hand[interp.path] = find_local_torch(interp.path, version) is not None
            if at_hand[interp.path]:
                break
    for interp in found:
        note = "" if is_supported(interp.version, bounds) else " (not supported)"
        if interp.path in at_hand:
            note += ", CPU torch {} {}".format(version, "at hand" if at_hand[interp.path] else "not at hand")
        _say(f"found Python {_dotted(interp.version)} at {interp.path}{note}")
    chosen, why = choose_python(found, bounds=bounds, torch_at_hand=at_hand, requested=requested)
    _say(f"using Python {_dotted(chosen.version)} at {chosen.path}: {why}")
    print("CHOSEN_PYTHON=" + shlex.quote(chosen.path))


def _main_torch(cuda: bool) -> None:
    version = torch_pin()
    local = None if cuda else find_local_torch(sys.executable, version)
    plan = plan_torch(version=version, local=local, index_url=os.environ.get("CTO_TORCH_INDEX_URL") or None, cuda=cuda)
    print("TORCH_ARGS=" + shlex.quote(" ".join(shlex.quote(a) for a in plan.pip_args)))
    print("TORCH_SOURCE=" + shlex.quote(plan.source))
    print("TORCH_SIZE=" + shlex.quote(plan.size))


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    if verb == "python":
        _main_python()
    elif verb == "torch":
        _main_torch(cuda="--cuda" in sys.argv[2:])
    else:
        raise SystemExit("usage: setup_plan.py python | torch [--cuda]")
