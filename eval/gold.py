"""Gold question sets: loading and normalising the YAML files in ``eval/gold/``.

An item may carry ``tags`` (for example ``[casual]``): each tag names a *slice* of the gold set
that ``python -m eval run`` scores as its own row and keeps out of the overall and per-area rows,
so a new slice never moves the established baselines or the regression gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["GoldRef", "GoldItem", "GOLD_DIR", "load_gold", "GOLD_SETS"]

GOLD_DIR = Path(__file__).resolve().parent / "gold"
GOLD_SETS = {"library": "library_*.yaml", "k12docs": "k12docs*.yaml", "formats": "formats.yaml"}


@dataclass(frozen=True)
class GoldRef:
    """A place that answers a question: a document (by file stem) and, for PDFs, its pages."""

    stem: str
    pages: tuple[int, ...] = ()

    def matches(self, source: str, page: int | None) -> bool:
        name = Path(source).name
        if self.stem not in (Path(source).stem, name):
            return False
        return not self.pages or page in self.pages


@dataclass
class GoldItem:
    id: str
    question: str
    area: str
    kind: str
    refs: list[GoldRef] = field(default_factory=list)
    key_facts: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    tags: tuple[str, ...] = ()  # slices this item belongs to (scored apart from the main set)

    @property
    def abstain(self) -> bool:
        return self.kind == "abstain"

    def is_relevant(self, source: str, page: int | None) -> bool:
        return any(ref.matches(source, page) for ref in self.refs)


def _item(row: dict[str, Any]) -> GoldItem:
    refs = [GoldRef(str(stem)) for stem in row.get("gold_docs") or []]
    if row.get("doc"):
        refs.append(GoldRef(str(row["doc"]), tuple(int(p) for p in row.get("pages") or [])))
    return GoldItem(id=str(row["id"]), question=str(row["question"]), area=str(row.get("area", "")),
                    kind=str(row.get("kind", "factual")), refs=refs,
                    key_facts=[str(f) for f in row.get("key_facts") or []],
                    history=[str(h) for h in row.get("history") or []],
                    tags=tuple(str(t) for t in row.get("tags") or []))


def load_gold(name: str = "library", folder: Path = GOLD_DIR, *, slices: bool = True) -> list[GoldItem]:
    """Load a gold set by name (``library`` or ``k12docs``) or by file path.

    Args:
        name: ``library``, ``k12docs`` or the path of one YAML file.
        folder: where the named sets live.
        slices: ``False`` leaves out tagged items (the casual slice), e.g. for code that trains
            or tunes on the gold set and must keep the slice held out.
    """
    path = Path(name)
    if path.suffix in {".yaml", ".yml"} and not path.is_file():
        raise FileNotFoundError(f"no gold set {name!r}: that file does not exist; give a YAML file or one of "
                                f"{', '.join(GOLD_SETS)}")
    files = [path] if path.suffix in {".yaml", ".yml"} and path.exists() else sorted(folder.glob(GOLD_SETS.get(name, name)))
    if not files:
        raise FileNotFoundError(f"no gold set {name!r} in {folder}; choose one of {', '.join(GOLD_SETS)}")
    items: list[GoldItem] = []
    for file in files:
        items.extend(_item(row) for row in yaml.safe_load(file.read_text(encoding="utf-8")) or [])
    return items if slices else [item for item in items if not item.tags]
