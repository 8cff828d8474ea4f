"""The single-writer lock on an embedded store: a second writing process is refused, clearly, and changes nothing.

Real processes throughout: a holder process takes the lock the way the app does, and the
real `ingest` and `kb` commands run against the same data directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT, Settings
from kb.index import lock
from kb.index.lock import WriteLockBusy
from tests.helpers import child_env, lock_holder, write


def _env(data_dir: Path) -> dict[str, str]:
    return child_env(data_dir)


def _run(args: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], env=_env(data_dir), cwd=cwd, capture_output=True, text=True,
                          timeout=180)


def _docs(data_dir: Path, cwd: Path) -> list[str]:
    done = _run(["kb", "docs", "--json"], data_dir, cwd)
    assert done.returncode == 0, done.stderr
    return sorted(d["doc_id"] for d in json.loads(done.stdout))


def _corpus(folder: Path, words: list[str]) -> Path:
    for word in words:
        write(folder / f"{word}.md", f"# The {word} rule\n\nThe {word} rule says how technicians label closets. " * 3)
    return folder


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Another process holding the data directory's write lock, as the running app does."""
    with lock_holder(tmp_path / "data", tmp_path) as proc:
        yield proc


def test_second_writer_process_is_refused_and_changes_nothing(tmp_path: Path, holder) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    # the store exists with one document, written before the holder started
    holder.stdin.close()
    holder.wait(timeout=30)
    first = _run(["ingest", str(_corpus(tmp_path / "a", ["quokka"]))], data, tmp_path)
    assert first.returncode == 0, first.stderr
    before = _docs(data, tmp_path)
    assert len(before) == 1

    with lock_holder(data, tmp_path) as again:
        refused = _run(["ingest", str(_corpus(tmp_path / "b", ["marzipan", "trellis"]))], data, tmp_path)
        assert refused.returncode == 1
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, refused.stderr  # one line, no traceback
        message = lines[0]
        assert f"the app (pid {again.pid}" in message
        assert "Library page" in message and "server mode" in message and "make run-server" in message
        for command in (["kb", "remove", before[0]], ["kb", "reset", "--yes"]):
            done = _run(command, data, tmp_path)
            assert done.returncode == 1 and "open for writing by the app" in done.stderr, done.stderr
        assert _docs(data, tmp_path) == before  # reading is allowed, and nothing changed
    # the holder is gone (its lock went with it): the same ingest now works
    done = _run(["ingest", str(tmp_path / "b")], data, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(_docs(data, tmp_path)) == 3


def test_killed_holder_leaves_no_stale_lock(tmp_path: Path, holder) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    with pytest.raises(WriteLockBusy, match="open for writing by the app"):
        lock.hold(settings, "test")
    with pytest.raises(WriteLockBusy, match="Library page"):  # a running app is not waited for
        with lock.write_lock(settings, "test", wait_s=600):
            pass
    holder.kill()
    holder.wait(timeout=30)
    with lock.write_lock(settings, "test", wait_s=0):
        assert lock.held(settings)
    assert not lock.held(settings)


def test_lock_is_reentrant_in_one_process_and_released_by_the_last_hold(tmp_path: Path) -> None:
    data = tmp_path / "data"
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\nfrom pathlib import Path\nfrom kb.core.settings import Settings\n"
                     "from kb.index import lock\n"
                     "try:\n    lock.hold(Settings(data_dir=Path(sys.argv[1])), 'probe')\nexcept Exception as exc:\n"
                     "    print(type(exc).__name__)\nelse:\n    print('free')\n", encoding="utf-8")

    def other_process_sees() -> str:
        done = subprocess.run([sys.executable, str(probe), str(data)], env=_env(data), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        return done.stdout.strip()

    settings = Settings(data_dir=data)
    lock.hold(settings, "the app")
    with lock.write_lock(settings, "ingest", wait_s=0):  # the Library page ingests while the app holds the lock
        assert other_process_sees() == "WriteLockBusy"
    assert lock.held(settings) and other_process_sees() == "WriteLockBusy"
    lock.release(settings)
    assert not lock.held(settings) and other_process_sees() == "free"


def test_server_mode_writes_take_their_own_lock_not_the_embedded_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=1)
    with lock.write_lock(settings, "ingest", wait_s=0):
        assert lock.held(settings) and lock.lock_path(settings).name == "write-server.lock"
        assert lock.holder_of(settings.data_dir) is None  # `kb run --server` may hold the embedded one meanwhile


def test_app_started_while_a_command_writes_says_so_and_opens_once_it_is_free(tmp_path: Path, holder,  # type: ignore[no-untyped-def]
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CTO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
        errors = " ".join(e.value for e in at.error)
        assert f"the app (pid {holder.pid}" in errors and "is changing the knowledge base" in errors, errors
        assert not at.exception
        holder.stdin.close()
        holder.wait(timeout=30)
        at.run()  # reloading once the writer has finished opens the knowledge base
        assert not at.error and not at.exception
        assert lock.held(Settings(data_dir=tmp_path / "data"))
    finally:
        st.cache_resource.clear()
        while lock.held(Settings(data_dir=tmp_path / "data")):
            lock.release(Settings(data_dir=tmp_path / "data"))
