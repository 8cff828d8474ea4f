"""Seed an empty knowledge base from the starter library (``python -m ingest.seed``)."""

from __future__ import annotations

import logging
import sys

from ingest.pipeline import IngestReport, run_ingest
from kb.core.console import configure_logging, friendly_errors, load_settings
from kb.index.knowledge import KnowledgeBase

__all__ = ["seed_if_empty"]

logger = logging.getLogger(__name__)


def seed_if_empty(kb: KnowledgeBase) -> IngestReport | None:
    """Ingest ``settings.library_dir`` when the knowledge base holds no documents; else do nothing."""
    if kb.store.docs():
        return None
    folder = kb.settings.library_dir
    if not folder.is_dir():
        logger.warning("starter library not found dir=%s; the knowledge base stays empty", folder)
        return None
    return run_ingest(kb, [str(folder)])


@friendly_errors
def main() -> int:
    configure_logging("WARNING")
    kb = KnowledgeBase(load_settings())
    print(f"Knowledge base: {kb.settings.data_dir}", flush=True)
    report = seed_if_empty(kb)
    if report is None:
        print(f"Knowledge base already holds {len(kb.store.docs())} documents; not seeding.")
        return 0
    counts = report.counts()
    print(f"Seeded from the starter library: {counts.get('added', 0)} documents, {report.chunks_embedded} chunks "
          f"in {report.seconds:.0f} s" + (f"; {len(report.failed)} failed" if report.failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
