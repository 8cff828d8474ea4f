"""The parser process starts while ingest opens the store and plans, and never outlives the run."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

import ingest.pipeline as pipeline
from ingest.parse import ParseJob, ParserPool
from ingest.pipeline import IngestOptions, run_ingest
from kb.core.settings import Settings
from tests.helpers import write
from tests.ingest_support import assert_consistent, hash_kb

TEXT = "Schools should test restores from backup every term and keep one copy offline."


def _children_gone(before: set[multiprocessing.process.BaseProcess], timeout_s: float = 30.0) -> bool:
    """True once every child process started since ``before`` was taken has ended (other tests' are not ours)."""
    deadline = time.monotonic() + timeout_s
    while set(multiprocessing.active_children()) - before:  # also reaps the ones that ended
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def before() -> set[multiprocessing.process.BaseProcess]:
    """The child processes alive when the test starts."""
    return set(multiprocessing.active_children())


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each early start (``start_soon``) and each parse (``map``) of the pipeline's parser pools."""
    seen: list[str] = []

    class Recording(ParserPool):
        def start_soon(self) -> None:
            seen.append("start_soon")
            super().start_soon()

        def map(self, jobs):  # type: ignore[no-untyped-def]
            seen.append("map")
            return super().map(jobs)

    monkeypatch.setattr(pipeline, "ParserPool", Recording)
    return seen


def test_a_pool_started_early_parses_as_one_started_on_demand(tmp_path: Path, before: set[multiprocessing.process.BaseProcess]) -> None:
    path = write(tmp_path / "a.md", f"# Backups\n\n{TEXT}")
    early = ParserPool(30)
    early.start_soon()
    [result] = list(early.map([ParseJob(str(path), key="a")]))
    [again] = list(ParserPool(30).map([ParseJob(str(path), key="a")]))
    assert result.error is None and result.document is not None
    assert again.document is not None and result.document == again.document
    assert result.document.title == "Backups" and "copy offline" in str(result.document.sections)
    assert _children_gone(before)


def test_started_early_and_discarded_leaves_no_process(before: set[multiprocessing.process.BaseProcess]) -> None:
    pool = ParserPool(30)
    pool.start_soon()
    assert set(multiprocessing.active_children()) - before
    pool.discard()
    assert _children_gone(before)
    pool.discard()  # a second stop is harmless


def test_ingest_starts_the_parser_before_planning_and_stops_it_when_nothing_changed(
        hash_settings: Settings, tmp_path: Path, starts: list[str], before: set[multiprocessing.process.BaseProcess]) -> None:
    folder = tmp_path / "docs"
    for n in range(3):
        write(folder / f"d{n}.md", f"# Doc {n}\n\n{TEXT} ({n})")
    kb, _ = hash_kb(hash_settings)
    first = run_ingest(kb, [str(folder)])
    assert [r.status for r in first.results] == ["added"] * 3
    assert starts == ["start_soon", "map"]
    assert _children_gone(before)

    starts.clear()
    second = run_ingest(kb, [str(folder)])  # every file unchanged: started, then stopped unused
    assert [r.status for r in second.results] == ["unchanged"] * 3
    assert starts == ["start_soon"]
    assert _children_gone(before)
    assert_consistent(kb.store)


def test_a_dry_run_never_starts_the_parser(hash_settings: Settings, tmp_path: Path, starts: list[str],
                                           before: set[multiprocessing.process.BaseProcess]) -> None:
    write(tmp_path / "d.md", f"# Doc\n\n{TEXT}")
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(tmp_path / "d.md")], options=IngestOptions(dry_run=True))
    assert [r.status for r in report.results] == ["would-add"]
    assert starts == []
    assert not set(multiprocessing.active_children()) - before
