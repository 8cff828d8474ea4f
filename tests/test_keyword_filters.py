"""Filtered keyword search: the numpy mask keeps exactly the entries ``Filters.allows`` keeps, one by one."""

from __future__ import annotations

import numpy as np
import pytest

from kb.answering.retrieval import Filters
from kb.core.documents import Chunk
from kb.index.keyword import KeywordIndex

AREAS = ("cybersecurity", "budget", "infrastructure")


def _index() -> KeywordIndex:
    chunks = []
    for n in range(60):
        extra = {}
        if n % 3:
            extra["authority"] = ("federal", "state", "research")[n % 3]
        if n % 4 == 0:
            extra["jurisdiction"] = ("national", "California")[n % 8 == 0]
        chunks.append(Chunk(id=f"c{n}", doc_id=f"d{n // 5}", index=n % 5, text=f"phishing budget switch number {n}",
                            title="t", source="s", source_type=("pdf", "md", "html")[n % 3],
                            date=None if n % 7 == 0 else f"20{10 + n % 15:02d}-0{1 + n % 9}-15",
                            areas=[AREAS[n % 3]] + ([AREAS[(n + 1) % 3]] if n % 5 == 0 else []), extra=extra))
    return KeywordIndex.build(chunks)


@pytest.mark.parametrize("filters", [
    Filters(),
    Filters(areas=("cybersecurity",)),
    Filters(areas=("cybersecurity", "budget")),
    Filters(source_types=("pdf", "html")),
    Filters(source_types=("docx",)),  # no entry has it
    Filters(authorities=("federal",)),
    Filters(jurisdictions=("California",)),
    Filters(date_from="2015-01-01"),
    Filters(date_to="2012-06-30"),
    Filters(areas=("budget",), source_types=("md",), date_from="2011-01-01", date_to="2022-12-31"),
])
def test_keyword_mask_equals_allows_entry_by_entry(filters: Filters) -> None:
    index = _index()
    mask = filters.keyword_mask(index)
    if not filters.active:
        assert mask is None
        return
    assert mask is not None
    expected = np.array([filters.allows(m) for m in index.meta], dtype=np.float32)
    assert np.array_equal(mask, expected)
    by_mask = index.search("phishing budget", 60, mask=mask)
    by_allow = index.search("phishing budget", 60, filters.allows)
    assert by_mask == by_allow and len(by_mask) == int(expected.sum())
