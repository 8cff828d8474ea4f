"""The starter library: every brief is well-formed, dated, sourced, and of practitioner length."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from ingest.loaders.markdown import split_front_matter
from kb.core.areas import area_ids
from kb.core.settings import REPO_ROOT

LIBRARY = sorted((REPO_ROOT / "library").glob("*.md"))
REQUIRED = {"title", "summary", "areas", "audience", "date", "sources"}


def test_library_has_forty_documents_and_six_per_area() -> None:
    assert len(LIBRARY) >= 40
    per_area = {a: 0 for a in area_ids()}
    for path in LIBRARY:
        front, _ = split_front_matter(path.read_text(encoding="utf-8"))
        for area in front["areas"]:
            per_area[area] += 1
    assert min(per_area.values()) >= 6, per_area


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_front_matter_and_length(path) -> None:  # type: ignore[no-untyped-def]
    front, body = split_front_matter(path.read_text(encoding="utf-8"))
    assert REQUIRED <= set(front), f"missing fields: {REQUIRED - set(front)}"
    assert front["areas"] and set(front["areas"]) <= set(area_ids()), front["areas"]
    written = front["date"] if isinstance(front["date"], dt.date) else dt.date.fromisoformat(str(front["date"]))
    assert dt.date(2020, 1, 1) <= written <= dt.date.today()
    sources = front["sources"]
    assert any(str(s.get("url", "")).startswith("https://") for s in sources), "needs a source with a URL"
    for source in sources:
        assert {"organization", "title", "year"} <= set(source), source
    words = len(re.findall(r"\b\w[\w'-]*\b", body))
    assert 800 <= words <= 2500, f"{words} words"


def test_library_yaml_is_plain_data() -> None:
    for path in LIBRARY:
        text = path.read_text(encoding="utf-8")
        block = text.split("---", 2)[1]
        assert isinstance(yaml.safe_load(block), dict)
