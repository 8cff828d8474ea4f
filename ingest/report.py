"""What an ingest run is asked to do and what it reports: options, one result per input, the report.

Kept apart from the pipeline (numpy, the store, the parser pool) so that a command can
build them, and answer an unchanged folder (``ingest.unchanged``), without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.core.metadata import validate_fields

if TYPE_CHECKING:
    from ingest.fetch import Download

__all__ = ["IngestOptions", "FileResult", "IngestReport"]


@dataclass
class IngestOptions:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    prune: bool = False
    dry_run: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)  # overrides: areas, authority, title, ...
    prune_under: list[str] = field(default_factory=list)  # prune only documents whose files were under these folders
    prefetched: dict[str, Download] = field(default_factory=dict)  # URL -> its download (a site crawl read it already)

    def __post_init__(self) -> None:
        """The overrides are the operator's own input: a bad date or authority is refused here, before any work.

        Raises:
            MetadataError: naming the field and the forms it accepts.
        """
        self.metadata = validate_fields(self.metadata)


@dataclass
class FileResult:
    source: str
    status: str  # added | updated | unchanged | removed | failed (dry runs: would-add, ...)
    doc_id: str = ""
    title: str = ""
    chunks: int = 0
    reason: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class IngestReport:
    results: list[FileResult]
    seconds: float = 0.0
    chunks_embedded: int = 0
    repaired: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for result in self.results:
            out[result.status] = out.get(result.status, 0) + 1
        return out

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "seconds": round(self.seconds, 3), "chunks_embedded": self.chunks_embedded,
                "repaired": self.repaired, "results": [r.to_dict() for r in self.results]}
