"""Setup's choices (scripts/setup_plan.py): which Python, and where torch comes from. Nothing is downloaded.

The pure rules are tested with made-up interpreters and wheels; pip's part (does it see a CPU
torch without an index?) runs the real pip against a folder of small fake torch wheels.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT

_spec = importlib.util.spec_from_file_location("setup_plan", REPO_ROOT / "scripts" / "setup_plan.py")
assert _spec and _spec.loader
plan = importlib.util.module_from_spec(_spec)
sys.modules["setup_plan"] = plan
_spec.loader.exec_module(plan)

BOUNDS = ((3, 11), (3, 14))


def interp(path: str, version: tuple[int, int, int], *, has_venv: bool = True) -> object:
    return plan.Interpreter(path=path, version=version, has_venv=has_venv)


def test_supported_range_is_read_from_pyproject() -> None:
    assert plan.supported_range() == BOUNDS
    assert plan.torch_pin() == "2.13.0"


def test_python_with_torch_at_hand_wins_over_older_and_newer() -> None:
    found = [interp("/a/python3.11", (3, 11, 7)), interp("/b/python3.12", (3, 12, 1)), interp("/c/python3.13", (3, 13, 0))]
    chosen, why = plan.choose_python(found, bounds=BOUNDS, torch_at_hand={"/b/python3.12": True})
    assert chosen.path == "/b/python3.12" and "CPU build of torch" in why


def test_without_torch_at_hand_the_oldest_supported_python_is_taken_and_path_order_breaks_ties() -> None:
    found = [interp("/usr/bin/python3.13", (3, 13, 5)), interp("/x/python3.10", (3, 10, 13)),
             interp("/pyenv/python3.12", (3, 12, 1)), interp("/usr/bin/python3.12", (3, 12, 3))]
    chosen, why = plan.choose_python(found, bounds=BOUNDS, torch_at_hand={})
    assert chosen.path == "/pyenv/python3.12"
    assert "oldest supported" in why and "index" in why


def test_only_an_unsupported_python_is_refused_with_what_to_install() -> None:
    found = [interp("/usr/bin/python3.10", (3, 10, 12)), interp("/usr/bin/python3.14", (3, 14, 0))]
    with pytest.raises(SystemExit, match=r"no Python 3.11 to 3.13 found \(seen: 3.10.12, 3.14.0\).*apt-get install"):
        plan.choose_python(found, bounds=BOUNDS, torch_at_hand={})


def test_a_python_without_venv_names_the_debian_package() -> None:
    found = [interp("/usr/bin/python3.12", (3, 12, 3), has_venv=False)]
    with pytest.raises(SystemExit, match=r"apt-get install python3.12-venv"):
        plan.choose_python(found, bounds=BOUNDS, torch_at_hand={})


def test_PYTHON_is_obeyed_or_refused() -> None:
    found = [interp("/opt/py/bin/python3", (3, 13, 0))]
    chosen, why = plan.choose_python(found, bounds=BOUNDS, torch_at_hand={}, requested="/opt/py/bin/python3")
    assert chosen.path == "/opt/py/bin/python3" and "PYTHON" in why
    with pytest.raises(SystemExit, match=r"is Python 3.10.1; CTO Assistant needs Python 3.11 to 3.13"):
        plan.choose_python([interp("/old", (3, 10, 1))], bounds=BOUNDS, torch_at_hand={}, requested="/old")
    with pytest.raises(SystemExit, match=r"does not run"):
        plan.choose_python([], bounds=BOUNDS, torch_at_hand={}, requested="/missing")


def test_torch_comes_from_the_local_wheel_then_the_cpu_index_then_the_mirror_and_cuda_only_when_asked() -> None:
    wheel = plan.TorchWheel(location="/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
                            version="2.13.0+cpu", size_mb=182)
    local = plan.plan_torch(version="2.13.0", local=wheel, index_url=None, cuda=False)
    assert local.pip_args == [wheel.location] and "182 MB" in local.size
    index = plan.plan_torch(version="2.13.0", local=None, index_url=None, cuda=False)
    assert index.pip_args == ["torch==2.13.0", "--index-url", "https://download.pytorch.org/whl/cpu"]
    mirror = plan.plan_torch(version="2.13.0", local=None, index_url="https://mirror.district.example/cpu", cuda=False)
    assert mirror.pip_args[-1] == "https://mirror.district.example/cpu" and "CTO_TORCH_INDEX_URL" in mirror.source
    cuda = plan.plan_torch(version="2.13.0", local=wheel, index_url="https://mirror.district.example/cpu", cuda=True)
    assert cuda.pip_args == ["torch==2.13.0"] and "GB" in cuda.size


@pytest.mark.parametrize(("version", "requires", "cpu"), [
    ("2.13.0+cpu", ["filelock"], True),
    ("2.13.0+cu128", [], False),
    ("2.13.0", ["filelock", "nvidia-cublas-cu12==12.8.4.1; platform_system == 'Linux'"], False),
    ("2.13.0", ["filelock", "triton==3.5.0; platform_system == 'Linux'"], False),
    ("2.13.0", ["filelock", "sympy>=1.13.3"], True),  # macOS and aarch64 wheels: CPU without a label
])
def test_cpu_build_is_told_by_label_or_requirements(version: str, requires: list[str], cpu: bool) -> None:
    assert plan.is_cpu_build(version, requires) is cpu


def test_candidates_come_from_path_and_pyenv(tmp_path: Path) -> None:
    bin_dir, pyenv = tmp_path / "bin", tmp_path / "pyenv"
    for exe in (bin_dir / "python3", bin_dir / "python3.12", pyenv / "versions" / "3.13.0" / "bin" / "python3.13"):
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    (bin_dir / "python3.10").write_text("")  # not a supported version: never probed
    found = plan.candidate_paths(env={"PATH": str(bin_dir), "PYENV_ROOT": str(pyenv)}, bounds=BOUNDS)
    assert found[:2] == [str(bin_dir / "python3.12"), str(bin_dir / "python3")]  # PATH first
    assert str(pyenv / "versions" / "3.13.0" / "bin" / "python3.13") in found
    assert str(bin_dir / "python3.10") not in found


def _fake_torch_wheel(folder: Path, version: str, requires: list[str]) -> Path:
    """A tiny installable wheel named torch (metadata only): enough for pip's resolver."""
    folder.mkdir(exist_ok=True)
    dist = f"torch-{version}.dist-info"
    files = {
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: torch\nVersion: " + version + "\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for name, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    path = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def _pip_env(find_links: Path) -> dict[str, str]:
    """pip with no configuration but one find-links folder (the machine's own config would add its wheels)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(find_links), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_pip_sees_a_local_cpu_wheel_and_ignores_a_cuda_one(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    cpu = _fake_torch_wheel(wheels, "99.1.0+cpu", ["filelock"])
    _fake_torch_wheel(wheels, "99.2.0", ["filelock", "nvidia-cublas-cu12==12.8.4.1"])
    found = plan.find_local_torch(sys.executable, "99.1.0", env=_pip_env(wheels))
    assert found is not None and Path(found.location) == cpu and found.version == "99.1.0+cpu"
    assert plan.find_local_torch(sys.executable, "99.2.0", env=_pip_env(wheels)) is None  # a CUDA build
    assert plan.find_local_torch(sys.executable, "99.3.0", env=_pip_env(wheels)) is None  # nothing on disk


def test_the_torch_verb_prints_shell_assignments_for_the_mirror(tmp_path: Path) -> None:
    env = _pip_env(tmp_path) | {"CTO_TORCH_INDEX_URL": "https://mirror.district.example/cpu"}
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "setup_plan.py"), "torch"], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    script = done.stdout + 'printf "%s|%s" "$TORCH_ARGS" "$TORCH_SOURCE"'
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert shown == ("torch==2.13.0 --index-url https://mirror.district.example/cpu|"
                     "the CPU index https://mirror.district.example/cpu (CTO_TORCH_INDEX_URL)")
