"""Getting documents into the knowledge base: sources, loaders by file type, cleaning, chunking, the pipeline, the ``ingest`` command.

The Python API (imported on first use, so ``import ingest`` stays instant)::

    from ingest import IngestOptions, run_ingest
    from kb import KnowledgeBase, Settings

    report = run_ingest(KnowledgeBase(Settings()), ["./library"], options=IngestOptions(prune=True))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.pipeline import IngestOptions, IngestReport, run_ingest

__all__ = ["run_ingest", "IngestOptions", "IngestReport"]


def __getattr__(name: str) -> Any:
    """Import the pipeline on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'ingest' has no attribute {name!r}; the Python API is {', '.join(__all__)}")
    value = getattr(importlib.import_module("ingest.pipeline"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
