"""The exception tree of the knowledge base.

Library code raises these; only the command-line tools and the UI turn them into
messages. Every message says what happened and what to do next.
"""

from __future__ import annotations

__all__ = [
    "KBError",
    "ConfigError",
    "ModelError",
    "StoreError",
    "StoreMismatchError",
    "IngestError",
    "UnsupportedFormatError",
    "DocumentRejected",
    "LLMError",
    "BackupError",
]


class KBError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(KBError):
    """A setting is missing or invalid."""


class ModelError(KBError):
    """The embedding model cannot be found, verified or loaded."""


class StoreError(KBError):
    """The vector store cannot be opened or answered with an error."""


class StoreMismatchError(StoreError):
    """The store was built with another embedding model or chunking parameters."""


class IngestError(KBError):
    """One input could not be ingested; the run goes on with the others."""


class UnsupportedFormatError(IngestError):
    """The input's type is not one the loaders read."""


class DocumentRejected(IngestError):
    """The document was read but refused by a policy (privacy scan, limits)."""


class LLMError(KBError):
    """The configured LLM backend failed or returned something unusable."""


class BackupError(KBError):
    """A backup file cannot be written, read or imported into this knowledge base."""

