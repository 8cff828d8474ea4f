"""`make run` seeds an empty knowledge base from the starter library, once."""

from __future__ import annotations

import shutil
from pathlib import Path

from ingest.seed import seed_if_empty
from kb.core.settings import REPO_ROOT, Settings
from kb.index.knowledge import KnowledgeBase


def test_seeds_an_empty_knowledge_base_once(tmp_path: Path, hash_settings: Settings) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for name in ("cyber-backups-3-2-1.md", "budget-device-refresh-cycles.md"):
        shutil.copy(REPO_ROOT / "library" / name, library / name)
    kb = KnowledgeBase(hash_settings.with_overrides(library_dir=library))
    report = seed_if_empty(kb)
    assert report is not None and report.counts() == {"added": 2}
    assert len(kb.done_docs()) == 2
    assert seed_if_empty(kb) is None  # not empty any more: nothing happens


def test_missing_library_folder_leaves_the_knowledge_base_empty(tmp_path: Path, hash_settings: Settings) -> None:
    kb = KnowledgeBase(hash_settings.with_overrides(library_dir=tmp_path / "nowhere"))
    assert seed_if_empty(kb) is None and kb.store.docs() == []
