"""The evaluation's index of a corpus holds that corpus once, whichever checkout's copy of it ran last."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eval import run as eval_run
from kb.core.settings import Settings
from kb.embed.hashing import HashEmbedder
from tests.helpers import write


def test_a_second_copy_of_the_corpus_replaces_the_first_instead_of_doubling_it(
        hash_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "checkout-a" / "library"
    write(first / "mfa.md", "# MFA\n\nEvery administrator account uses multi-factor authentication at sign-in.\n")
    write(first / "backups.md", "# Backups\n\nOne copy of every backup stays offline, and restores are tested.\n")
    second = tmp_path / "checkout-b" / "library"
    shutil.copytree(first, second)
    embedder = HashEmbedder()

    monkeypatch.setitem(eval_run.CORPORA, "library", first)
    kb = eval_run.eval_kb(hash_settings, "library", embedder=embedder)
    assert len(kb.store.docs()) == 2
    monkeypatch.setitem(eval_run.CORPORA, "library", second)
    kb = eval_run.eval_kb(hash_settings, "library", embedder=embedder)
    sources = sorted(Path(d.source).relative_to(tmp_path).as_posix() for d in kb.store.docs())
    assert sources == ["checkout-b/library/backups.md", "checkout-b/library/mfa.md"]
    assert len(kb.keyword.search("offline backup", k=10)) == 1  # the keyword side lost the copies too
