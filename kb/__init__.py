"""The knowledge base and answering library, in layers: core < embed < index < governance < answering < cli.

The Python API is these four names (imported on first use, so ``import kb`` stays instant)::

    from kb import Assistant, KnowledgeBase, Settings, Answer

    settings = Settings()                      # CTO_* environment variables and .env
    answer = Assistant(settings).ask("How should we prepare for ransomware?")
    print(answer.to_markdown())                # or answer.to_dict(): text, citations, notices, ...

Documents go in with ``from ingest import run_ingest``; LangChain users start at ``kb.langchain``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kb.answering.assistant import Assistant
    from kb.core.answer import Answer
    from kb.core.settings import Settings
    from kb.index.knowledge import KnowledgeBase

__all__ = ["Assistant", "KnowledgeBase", "Settings", "Answer"]

_HOMES = {"Assistant": "kb.answering.assistant", "KnowledgeBase": "kb.index.knowledge", "Settings": "kb.core.settings",
          "Answer": "kb.core.answer"}


def __getattr__(name: str) -> Any:
    """Import one of the front-door names on first use (the answering path pulls in Chroma and the model code)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'kb' has no attribute {name!r}; the Python API is {', '.join(__all__)}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
