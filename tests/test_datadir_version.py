"""The data directory's version stamp: written for a new knowledge base, an older one upgraded after a backup
(or refused with the command to run), a newer one refused, and nothing changed by a refusal.

A knowledge base of 0.1.0 has no stamp; here one is made by removing the stamp of a fresh one
(tests/test_upgrade_v010.py builds one with 0.1.0's own code).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from kb.index import datadir
from kb.index.backup import read_header
from kb.index.datadir import DATA_SCHEMA, STAMP_FILE, DataDirVersionError
from kb.index.knowledge import KnowledgeBase
from kb.version import __version__
from tests.helpers import child_env, lock_holder, write


def _build(settings: Settings, tmp_path: Path) -> list[str]:
    docs = tmp_path / "docs"
    for word in ("patch", "badge", "closet"):
        write(docs / f"{word}.md", f"# The {word} rule\n\nThe {word} rule says how technicians label closets. " * 3)
    report = run_ingest(KnowledgeBase(settings), [str(docs)])
    assert not report.failed
    return sorted(KnowledgeBase(settings).store.chunk_ids())


def _as_0_1_0(settings: Settings) -> None:
    """Make the data directory look as 0.1.0 left it: no stamp, a saved keyword index."""
    (settings.data_dir / STAMP_FILE).unlink()
    assert any((settings.data_dir / "keyword").rglob("*")), "the keyword index was saved"


def _stamp(settings: Settings) -> dict[str, object]:
    return json.loads((settings.data_dir / STAMP_FILE).read_text())


def test_a_new_knowledge_base_is_stamped_with_schema_code_model_and_chunking(hash_settings: Settings) -> None:
    KnowledgeBase(hash_settings).store  # noqa: B018 (opening is what stamps)
    stamp = _stamp(hash_settings)
    assert stamp["schema"] == DATA_SCHEMA and stamp["code_version"] == stamp["created_by"] == __version__
    assert stamp["embedding_model"] == "hash" and stamp["chunk_size"] == 900 and stamp["chunk_overlap"] == 120
    assert oct((hash_settings.data_dir / STAMP_FILE).stat().st_mode & 0o777) == "0o644"
    assert not list(hash_settings.data_dir.glob(f".{STAMP_FILE}.*")), "no temporary file left behind"


def test_an_older_data_dir_is_upgraded_on_open_after_a_backup(hash_settings: Settings, tmp_path: Path) -> None:
    ids = _build(hash_settings, tmp_path)
    _as_0_1_0(hash_settings)
    kb = KnowledgeBase(hash_settings)
    assert sorted(kb.store.chunk_ids()) == ids
    stamp = _stamp(hash_settings)
    assert stamp["schema"] == DATA_SCHEMA and stamp["created_by"] == datadir.LEGACY_VERSION
    backups = list((hash_settings.data_dir / "backups").glob("before-upgrade-schema1-to-2-*.jsonl.gz"))
    assert len(backups) == 1 and read_header(backups[0])["chunks"] == len(ids)
    assert not (hash_settings.data_dir / "keyword").exists(), "0.1.0's saved keyword index was removed"
    assert kb.keyword is not None and len(kb.keyword) == len(ids), "and rebuilt on first use"


def test_upgrade_on_open_off_refuses_with_the_command_and_changes_nothing(hash_settings: Settings,
                                                                           tmp_path: Path) -> None:
    _build(hash_settings, tmp_path)
    _as_0_1_0(hash_settings)
    before = sorted(p.relative_to(hash_settings.data_dir) for p in hash_settings.data_dir.rglob("*"))
    with pytest.raises(DataDirVersionError) as refused:
        KnowledgeBase(hash_settings.with_overrides(upgrade_on_open=False)).store  # noqa: B018
    assert f"CTO_DATA_DIR={hash_settings.data_dir} kb upgrade" in str(refused.value)
    assert "schema 1, written by 0.1.0 or earlier" in str(refused.value)
    assert not (hash_settings.data_dir / STAMP_FILE).exists() and not (hash_settings.data_dir / "backups").exists()
    after = sorted(p.relative_to(hash_settings.data_dir) for p in hash_settings.data_dir.rglob("*"))
    assert [p for p in after if p not in before and p.name != "write.lock"] == []


def test_a_newer_data_dir_is_refused_clearly_and_left_alone(hash_settings: Settings, tmp_path: Path) -> None:
    _build(hash_settings, tmp_path)
    path = hash_settings.data_dir / STAMP_FILE
    path.write_text(json.dumps({**_stamp(hash_settings), "schema": DATA_SCHEMA + 1, "code_version": "9.0.0"}))
    before = path.read_text()
    with pytest.raises(DataDirVersionError) as refused:
        KnowledgeBase(hash_settings).store  # noqa: B018
    message = str(refused.value)
    assert f"schema {DATA_SCHEMA + 1}, written by CTO Assistant 9.0.0" in message
    assert f"this is {__version__}, which reads schema {DATA_SCHEMA} at most" in message and "nothing was changed" in message
    assert path.read_text() == before and not (hash_settings.data_dir / "backups").exists()


def test_an_unreadable_stamp_is_refused_with_what_to_do(hash_settings: Settings, tmp_path: Path) -> None:
    _build(hash_settings, tmp_path)
    (hash_settings.data_dir / STAMP_FILE).write_text("{not json")
    with pytest.raises(DataDirVersionError, match="cannot be read .*restore it from a backup"):
        KnowledgeBase(hash_settings).store  # noqa: B018


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return child_env(data_dir, **extra)


def test_an_upgrade_while_the_app_writes_is_refused_with_the_command(hash_settings: Settings, tmp_path: Path) -> None:
    _build(hash_settings, tmp_path)
    _as_0_1_0(hash_settings)
    with lock_holder(hash_settings.data_dir, tmp_path):
        with pytest.raises(DataDirVersionError) as refused:
            KnowledgeBase(hash_settings).store  # noqa: B018
        assert "Stop that process" in str(refused.value) and "the app (pid" in str(refused.value)
        assert f"CTO_DATA_DIR={hash_settings.data_dir} kb upgrade" in str(refused.value)
        assert not (hash_settings.data_dir / STAMP_FILE).exists()


def test_kb_upgrade_check_then_upgrade_then_current(hash_settings: Settings, tmp_path: Path) -> None:
    ids = _build(hash_settings, tmp_path)
    _as_0_1_0(hash_settings)
    env = _env(hash_settings.data_dir)

    def kb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kb", *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=180)

    check = kb("upgrade", "--check")
    assert check.returncode == 1 and "needs an upgrade: run `kb upgrade`" in check.stdout, check.stderr
    target = tmp_path / "saved" / "before.jsonl.gz"
    done = kb("upgrade", "--backup-to", str(target))
    assert done.returncode == 0, done.stderr
    assert f"backup written to {target}" in done.stdout and "upgraded from schema 1 to 2" in done.stdout
    assert read_header(target)["chunks"] == len(ids)
    again = kb("upgrade")
    assert again.returncode == 0 and "is current (schema 2); nothing to do" in again.stdout
    assert kb("upgrade", "--check").returncode == 0


def test_kb_upgrade_refuses_server_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from kb.cli import main

    monkeypatch.setenv("CTO_CHROMA_HOST", "127.0.0.1")
    result = CliRunner().invoke(main, ["upgrade"])
    assert result.exit_code == 2 and "works on the embedded store in CTO_DATA_DIR" in result.output
