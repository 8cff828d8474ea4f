"""`kb doctor`: every check passes on a good install and fails (or warns) with its fix under the real condition.

Real conditions where they can be made: a broken torch on the path, a copy of the model with
one byte changed, a closed server port, a read-only and a nearly full file system (tmpfs
mounts, as root), a process holding the write lock, a data dir from 0.1.0 or from the future,
a PATH without tesseract and chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from kb.cli import doctor
from kb.cli.doctor import FAIL, OK, SKIP, WARN
from kb.core.settings import REPO_ROOT, Settings
from kb.embed.base import resolve_model_dir
from kb.index.datadir import DATA_SCHEMA, STAMP_FILE
from kb.index.knowledge import KnowledgeBase
from tests.app_fixtures import free_port
from tests.helpers import INGEST_HOLDER, child_env, lock_holder, write


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return child_env(data_dir, model=None, **extra)


def _doctor(tmp_path: Path, **extra: str) -> tuple[int, dict[str, dict[str, str]]]:
    done = subprocess.run([sys.executable, "-m", "kb", "doctor", "--json"], env=_env(tmp_path / "data", **extra),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    return done.returncode, {c["name"]: c for c in json.loads(done.stdout)}


def _filled(settings: Settings, tmp_path: Path) -> Settings:
    write(tmp_path / "docs" / "patch.md", "# The patch rule\n\nThe patch rule says how technicians patch closets. " * 3)
    assert not run_ingest(KnowledgeBase(settings), [str(tmp_path / "docs")]).failed
    return settings


def test_a_good_install_passes_every_check_in_one_line_each(settings: Settings, tmp_path: Path) -> None:
    """(``settings``, the real model's, marks this test as one that needs torch and the model.)"""
    done = subprocess.run([sys.executable, "-m", "kb", "doctor"], env=_env(tmp_path / "data"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()[1:]
    assert [line.split()[1] for line in lines] == ["python", "torch", "model", "encoder", "store", "data", "write",
                                                   "versions", "ocr", "chromium"]
    assert all(line.split()[0] in ("OK", "WARN", "SKIP") for line in lines), done.stdout
    assert "no knowledge base yet" in done.stdout and "-> run `make seed` or `ingest FOLDER`" in done.stdout


def test_python_outside_the_supported_versions_fails_with_the_fix(settings: Settings) -> None:
    assert doctor.check_python(settings).status == OK
    old = doctor.check_python(settings, version=(3, 9, 18))
    assert old.status == FAIL and "3.9.18 is not a supported version" in old.detail and "make setup" in old.fix


def test_a_broken_torch_fails_the_doctor_with_exit_1(tmp_path: Path) -> None:
    fake = tmp_path / "shadow" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('libtorch_cpu.so: cannot open shared object file')\n")
    env_path = f"{fake.parent}{os.pathsep}{REPO_ROOT}"
    code, checks = _doctor(tmp_path, PYTHONPATH=env_path)
    assert code == 1 and checks["torch"]["status"] == FAIL
    assert "libtorch_cpu.so" in checks["torch"]["detail"] and "CPU build of torch" in checks["torch"]["fix"]
    code, checks = _doctor(tmp_path, PYTHONPATH=env_path, CTO_EMBEDDING_MODEL="hash")
    assert checks["torch"]["status"] == SKIP and code == 0, "the hash embedder needs no torch"


def test_torch_build_is_named(settings: Settings) -> None:
    import torch

    check = doctor.check_torch(settings)
    assert check.status == OK and torch.__version__ in check.detail
    assert ("CPU build" if torch.version.cuda is None else "CUDA") in check.detail


def test_encoder_check_names_the_backend_and_why(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kb.embed.selection.cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    check = doctor.check_encoder(settings)
    assert check.status == OK and check.detail == "torch-bf16 (auto: this CPU multiplies bf16 natively)"
    monkeypatch.setattr("kb.embed.selection.cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: False)
    assert doctor.check_encoder(settings).detail == "torch (auto: this CPU does not multiply bf16 natively)"
    named = doctor.check_encoder(settings.with_overrides(embedding_backend="openvino"))
    assert named.status == FAIL and "openvino (set by CTO_EMBEDDING_BACKEND) is not installed" in named.detail
    assert "make setup" in named.fix and "CTO_EMBEDDING_BACKEND=torch" in named.fix
    pytest.importorskip("openvino")
    monkeypatch.setattr("kb.embed.openvino_model.openvino_available", lambda: True)
    from kb.embed.openvino_model import cache_folder

    check = doctor.check_encoder(settings)
    assert check.status == OK and check.detail.startswith("openvino ")
    assert "auto: this CPU does not multiply bf16 natively" in check.detail and str(cache_folder()) in check.detail


def test_model_weights_with_a_changed_byte_fail_the_hash_check(settings: Settings, tmp_path: Path) -> None:
    assert doctor.check_model(settings).status == OK
    copy = tmp_path / "model"
    shutil.copytree(resolve_model_dir(settings.embedding_model), copy)
    weights = copy / "model.safetensors"
    with weights.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    check = doctor.check_model(settings.with_overrides(embedding_model=str(copy)))
    assert check.status == FAIL and "expected 53aa51172d14" in check.detail and "--force-reinstall" in check.fix
    missing = doctor.check_model(settings.with_overrides(embedding_model="no-such-model-package"))
    assert missing.status == FAIL and "make setup" in missing.fix  # the model extra, named with the command that installs it


def test_store_reachable_embedded_and_a_closed_server_port_fails(hash_settings: Settings, tmp_path: Path) -> None:
    check = doctor.check_store(_filled(hash_settings, tmp_path))
    assert check.status == OK and "1 documents" in check.detail
    server = doctor.check_store(hash_settings.with_overrides(chroma_host="127.0.0.1", chroma_port=free_port()))
    assert server.status == FAIL and "cannot be opened" in server.detail and "chroma run" in server.fix


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[object]:
    """Mount a tmpfs with the given options (needs root); unmounted afterwards."""
    points: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a read-only or tiny file system needs root and mount(8)")
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"this machine does not allow a tmpfs mount ({done.stderr.strip()})")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def test_data_dir_writable_and_with_space_passes(settings: Settings) -> None:
    check = doctor.check_data_dir(settings)
    assert check.status in (OK, WARN) and "writable" in check.detail and "MB free" in check.detail


def test_a_read_only_data_dir_fails_with_the_fix(settings: Settings, mounted) -> None:  # type: ignore[no-untyped-def]
    folder = mounted("ro,size=1m")
    check = doctor.check_data_dir(settings.with_overrides(data_dir=folder))
    assert check.status == FAIL and "is not writable (Read-only file system)" in check.detail
    assert "CTO_DATA_DIR" in check.fix


def test_a_nearly_full_disk_fails_with_the_fix(settings: Settings, mounted) -> None:  # type: ignore[no-untyped-def]
    folder = mounted("size=8m")
    check = doctor.check_data_dir(settings.with_overrides(data_dir=folder))
    assert check.status == FAIL and "MB free" in check.detail and "free space" in check.fix


def test_write_lock_names_its_holder(hash_settings: Settings, tmp_path: Path) -> None:
    assert doctor.check_lock(hash_settings) == doctor.Check("write lock", OK, "free")
    with lock_holder(hash_settings.data_dir, tmp_path) as proc:
        check = doctor.check_lock(hash_settings)
        assert check.status == OK and f"held by the app (pid {proc.pid}" in check.detail
    with lock_holder(hash_settings.data_dir, tmp_path, INGEST_HOLDER) as proc:
        check = doctor.check_lock(hash_settings)
        assert check.status == WARN and f"held by ingest (pid {proc.pid}" in check.detail and "kill" in check.fix


def test_versions_current_older_and_newer(hash_settings: Settings, tmp_path: Path) -> None:
    _filled(hash_settings, tmp_path)
    current = doctor.check_versions(hash_settings)
    assert current.status == OK and f"data dir schema {DATA_SCHEMA}, written by" in current.detail
    stamp = hash_settings.data_dir / STAMP_FILE
    saved = json.loads(stamp.read_text())
    stamp.unlink()
    older = doctor.check_versions(hash_settings)
    assert older.status == WARN and "schema 1, written by 0.1.0 or earlier" in older.detail
    assert f"CTO_DATA_DIR={hash_settings.data_dir} kb upgrade" in older.fix
    stamp.write_text(json.dumps({**saved, "schema": DATA_SCHEMA + 1, "code_version": "9.0.0"}))
    newer = doctor.check_versions(hash_settings)
    assert newer.status == FAIL and "run CTO Assistant 9.0.0" in newer.fix


def test_ocr_and_chromium_found_or_missing(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("tesseract"):
        assert doctor.check_ocr(settings).status == OK and "tesseract" in doctor.check_ocr(settings).detail
    if shutil.which("chromium"):
        assert doctor.check_chromium(settings).status == OK
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ocr = doctor.check_ocr(settings)
    assert ocr.status == WARN and "scanned PDF pages are skipped" in ocr.detail and "tesseract-ocr" in ocr.fix
    chromium = doctor.check_chromium(settings)
    assert chromium.status == SKIP and "optional" in chromium.detail
