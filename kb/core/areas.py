"""The five challenge areas, read from ``kb/core/areas.yaml`` (data staff can edit).

Classification is by keyword evidence: cheap, explainable, and good enough to
boost and filter retrieval; a question can belong to zero, one or several areas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

__all__ = ["Area", "load_areas", "classify", "area_ids", "AREAS_FILE"]

AREAS_FILE = Path(__file__).with_name("areas.yaml")


@dataclass(frozen=True)
class Area:
    id: str
    label: str
    description: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]


@lru_cache(maxsize=4)
def load_areas(path: Path = AREAS_FILE) -> tuple[Area, ...]:
    """Read and validate the areas file (cached)."""
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    areas = []
    for row in rows:
        keywords = tuple(str(k).lower() for k in row.get("keywords", []))
        alternation = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
        pattern = re.compile(rf"(?<![a-z0-9])(?:{alternation})(?![a-z0-9])")
        areas.append(Area(id=row["id"], label=row["label"], description=row.get("description", ""),
                          keywords=keywords, pattern=pattern))
    return tuple(areas)


def area_ids() -> list[str]:
    return [a.id for a in load_areas()]


def area_label(area_id: str) -> str:
    return next((a.label for a in load_areas() if a.id == area_id), area_id)


def scores(text: str) -> dict[str, int]:
    """Keyword hits per area (distinct keywords count once each, repeats add one)."""
    lowered = text.lower()
    out = {}
    for area in load_areas():
        hits = area.pattern.findall(lowered)
        if hits:
            out[area.id] = len(set(hits)) + min(len(hits) - len(set(hits)), 5)
    return out


def classify(text: str, max_areas: int = 2, min_share: float = 0.5) -> list[str]:
    """Areas of a text: the best-scoring area, plus others with at least ``min_share`` of its score."""
    found = scores(text)
    if not found:
        return []
    best = max(found.values())
    ranked = sorted(found.items(), key=lambda kv: -kv[1])
    return [area for area, score in ranked[:max_areas] if score >= best * min_share]
