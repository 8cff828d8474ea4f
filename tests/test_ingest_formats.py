"""Every supported format, from real files, down to what lands in Chroma and the manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.pipeline import IngestReport, run_ingest
from ingest.sources import doc_id_for
from kb.core.settings import Settings
from kb.index.knowledge import DONE, KnowledgeBase
from tests.helpers import make_pdf, write
from tests.ingest_support import assert_consistent, closed_port, hash_kb, pdf_with_lines, raw_chunk_rows, serve_folder

PAGE_TOPICS = [
    "Ransomware recovery depends on tested offline backups and practiced restores of student systems.",
    "Multi-factor authentication for staff email stops most credential phishing attacks on districts.",
    "E-rate category two funding covers internal connections such as switches and wireless access points.",
    "Rostering through OneRoster keeps student accounts in sync between the SIS and learning applications.",
    "Digital citizenship lessons teach students to judge sources and protect their own information online.",
]
HEADER = "Acme Unified School District - Technology Plan 2025"
FOOTER = "Confidential draft for board review"


def _ingest(settings: Settings, inputs: list[str]) -> tuple[KnowledgeBase, IngestReport]:
    kb, _ = hash_kb(settings)
    return kb, run_ingest(kb, inputs)


def _chunks_of(kb: KnowledgeBase, doc_id: str) -> list:  # type: ignore[type-arg]
    return sorted((c for c in kb.store.iter_chunks() if c.doc_id == doc_id), key=lambda c: c.index)


FILLER = [
    "The technology director owns the plan and reports on it to the cabinet each quarter.",
    "Principals name one contact per building who knows the local network closets.",
    "Vendors sign the state data privacy agreement before any student data is shared.",
    "Help desk tickets are reviewed monthly to spot problems that keep coming back.",
    "Budget requests for the coming year are due to the business office in February.",
    "Staff training happens during the August in-service days and again in January.",
    "The district keeps an inventory of every application that stores student records.",
    "Teachers may request new software through the curriculum approval process.",
]


def _pdf_pages() -> list[str]:
    """Pages with distinct text (as in a real report), so that only the header and footer repeat."""
    return [f"Part {n}. {topic} " + " ".join(FILLER[(n + k) % len(FILLER)] for k in range(n + 2)) + f" End of part {n} notes."
            for n, topic in enumerate(PAGE_TOPICS, start=1)]


def test_pdf_keeps_pages_and_drops_running_headers_and_footers(hash_settings: Settings, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "tech-plan.pdf", _pdf_pages(), header=HEADER, footer=FOOTER, title="Acme Technology Plan")
    kb, report = _ingest(hash_settings, [str(pdf)])
    assert report.counts() == {"added": 1}, report.to_dict()
    doc_id = doc_id_for(str(pdf.resolve()), False)
    chunks = _chunks_of(kb, doc_id)
    assert {c.page for c in chunks} == {1, 2, 3, 4, 5}
    for chunk in chunks:
        assert chunk.title == "Acme Technology Plan" and chunk.source_type == "pdf"
        assert "Acme Unified" not in chunk.text and "Confidential draft" not in chunk.text, chunk.text
        assert re.fullmatch(rf"{re.escape(doc_id)}-\d{{5}}-[0-9a-f]{{10}}", chunk.id)
        assert PAGE_TOPICS[chunk.page - 1].split()[0] in " ".join(c.text for c in chunks if c.page == chunk.page)
    # the page-specific body text survives on its own page (only the repeated edges go)
    page3 = " ".join(c.text for c in chunks if c.page == 3)
    assert "E-rate category two" in page3 and "End of part 3 notes." in page3
    [row] = kb.store.docs()
    assert row.status == DONE and row.chunk_count == len(chunks) and row.source == str(pdf.resolve())
    assert row.meta["health"]["pages"] == 5 and row.meta["health"]["empty_pages"] == []
    raw = raw_chunk_rows(hash_settings)
    assert set(raw) == {c.id for c in chunks}
    assert all(meta["doc_id"] == doc_id and isinstance(meta["page"], int) for _, meta in raw.values())
    assert assert_consistent(kb.store) == {doc_id: len(chunks)}


def test_pdf_body_lines_repeated_on_two_pages_are_not_taken_for_footers(hash_settings: Settings, tmp_path: Path) -> None:
    """A sentence that happens to end two of four pages is body text, not a running footer."""
    pages = [[f"Section {n}. {topic}", FILLER[n],
              "Review it every year with the board." if n > 2 else f"Review it in {2020 + n} with the cabinet."]
             for n, topic in enumerate(PAGE_TOPICS[:4], start=1)]
    pdf = pdf_with_lines(tmp_path / "short-pages.pdf", pages, header=HEADER, footer=FOOTER)
    kb, report = _ingest(hash_settings, [str(pdf)])
    assert report.counts() == {"added": 1}
    text = {c.page: c.text for c in kb.store.iter_chunks()}
    assert "Review it every year with the board." in text[3] and "Review it every year with the board." in text[4]
    assert "Review it in 2021 with the cabinet." in text[1]
    assert all(HEADER not in t and FOOTER not in t for t in text.values())


def test_pdf_rejoins_words_hyphenated_at_line_ends(hash_settings: Settings, tmp_path: Path) -> None:
    lines = [
        ["Districts hold a great deal of student infor-", "mation in many systems, and each system needs an",
         "owner who can answer for its security and recov-", "ery plan when something goes wrong at school."],
        ["A well-known practice is to keep one offline copy of", "every backup, so that ransomware cannot en-",
         "crypt it along with the servers in the data center."],
        ["The board should see the plan each spring, with the", "costs of the next device refresh and the",
         "funding sources that will pay for it over five years."],
    ]
    pdf = pdf_with_lines(tmp_path / "hyphens.pdf", lines, footer="District plan")
    kb, report = _ingest(hash_settings, [str(pdf)])
    assert report.counts() == {"added": 1}
    text = " ".join(c.text for c in kb.store.iter_chunks())
    for word in ("information", "recovery", "encrypt"):
        assert word in text
    assert "infor-" not in text and "recov-" not in text
    assert "well-known" in text  # a hyphen inside a line is a real hyphen


HTML_PAGE = """<!doctype html>
<html lang="en"><head>
<title>Network Segmentation for Schools | Example Agency</title>
<meta property="article:published_time" content="2024-03-05T10:00:00Z">
<script>window.tracker = "TRACKING-CODE-123";</script>
<style>.x { color: red }</style>
</head><body>
<header class="site-header"><a href="/">Example Agency home</a></header>
<nav><ul><li><a href="/a">About us</a></li><li><a href="/c">Contact the webmaster</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve this site.</div>
<main>
  <h1>Network segmentation for schools</h1>
  <p>Segmentation limits how far an attacker can move once inside the district network.</p>
  <h2>Separate student and staff traffic</h2>
  <p>Put student devices, staff devices and building systems on separate VLANs with firewall rules between them.</p>
  <ul><li>Cameras and HVAC controllers go on their own VLAN.</li><li>Guest Wi-Fi reaches only the internet.</li></ul>
  <h2>Review rules every year</h2>
  <p>Firewall rules grow over time; review them with the network team at least once a year and remove stale ones.</p>
  <script>document.write("INJECTED-BY-SCRIPT")</script>
</main>
<aside>Related posts: ten tips for summer</aside>
<footer>Copyright 2024 Example Agency. All rights reserved.</footer>
</body></html>
"""


def test_html_title_date_sections_without_boilerplate(hash_settings: Settings, tmp_path: Path) -> None:
    page = write(tmp_path / "segmentation.html", HTML_PAGE)
    kb, report = _ingest(hash_settings, [str(page)])
    assert report.counts() == {"added": 1}, report.to_dict()
    [row] = kb.store.docs()
    assert row.title == "Network Segmentation for Schools | Example Agency"
    assert row.date == "2024-03-05" and row.source_type == "html"
    chunks = list(kb.store.iter_chunks())
    text = "\n".join(c.text for c in chunks)
    for boilerplate in ("TRACKING-CODE", "INJECTED-BY-SCRIPT", "Example Agency home", "Contact the webmaster",
                        "cookies", "Related posts", "All rights reserved", "color: red"):
        assert boilerplate not in text
    assert "separate VLANs" in text and "- Guest Wi-Fi reaches only the internet." in text
    sections = {c.section for c in chunks}
    assert "Review rules every year" in sections
    assert any(s and "Separate student and staff traffic" in s or "Separate student and staff traffic" in c.text
               for c in chunks for s in [c.section])
    assert all(c.date == "2024-03-05" for c in chunks)
    assert {m["date_ord"] for _, m in raw_chunk_rows(hash_settings).values()} == {20240305}


@pytest.mark.parametrize("head, body_date, expected", [
    ('<meta name="date" content="2023-11-02">', "", "2023-11-02"),
    ("", '<p>Posted <time datetime="2022-09-14T08:00">September 14, 2022</time></p>', "2022-09-14"),
    ("", "", None),
])
def test_html_publication_date_sources(hash_settings: Settings, tmp_path: Path, head: str, body_date: str,
                                       expected: str | None) -> None:
    html = (f"<html><head><title>Bandwidth targets</title>{head}</head><body><article>{body_date}"
            "<h2>Targets</h2><p>Plan for at least one megabit per second per student for classroom use, and grow "
            "the internet connection as devices and video use increase each year.</p></article></body></html>")
    kb, report = _ingest(hash_settings, [str(write(tmp_path / "bandwidth.htm", html))])
    assert report.counts() == {"added": 1}
    [row] = kb.store.docs()
    assert row.date == expected and row.title == "Bandwidth targets"


def _docx_with_table(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Device Refresh Plan"
    document.add_heading("Why refresh on a cycle", level=1)
    document.add_paragraph("A four-year cycle keeps student devices reliable and spreads the cost evenly over the budget.")
    document.add_heading("Costs per device", level=2)
    document.add_paragraph("The table lists the planned unit costs for the next purchase.")
    table = document.add_table(rows=3, cols=2)
    for row, (item, cost) in zip(table.rows, [("Item", "Unit cost"), ("Chromebook", "$310"), ("Teacher laptop", "$890")], strict=True):
        row.cells[0].text, row.cells[1].text = item, cost
    document.add_heading("Next steps", level=2)
    document.add_paragraph("Bring the plan to the board in March with the five-year cost projection attached.")
    document.save(str(path))
    return path


def test_docx_headings_and_tables(hash_settings: Settings, tmp_path: Path) -> None:
    path = _docx_with_table(tmp_path / "refresh.docx")
    kb, report = _ingest(hash_settings, [str(path)])
    assert report.counts() == {"added": 1}, report.to_dict()
    [row] = kb.store.docs()
    assert row.title == "Device Refresh Plan" and row.source_type == "docx" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", row.date or "")
    chunks = list(kb.store.iter_chunks())
    text = "\n".join(c.text for c in chunks)
    assert "Chromebook | $310" in text and "Teacher laptop | $890" in text
    table_chunk = next(c for c in chunks if "Chromebook | $310" in c.text)
    assert table_chunk.section and "Costs per device" in (table_chunk.section + table_chunk.text)
    assert "Next steps" in {c.section for c in chunks} or "Next steps" in text
    assert_consistent(kb.store)


MARKDOWN = """---
title: "Cyber insurance for school districts"
date: 2024-06-30
areas: [cybersecurity, budgets-funding]
summary: "What insurers ask for, and how to budget for premiums."
source_url: https://example.org/cyber-insurance
authority: federal
jurisdiction: national
expires: 2027-01-01
reviewed: 2025-02-01
---
# Cyber insurance for school districts

Insurers now require multi-factor authentication, offline backups and an incident response plan before they quote.

## Premiums and the budget

Premiums rose sharply after 2021; plan for increases and compare consortium pools with the private market every year.

## Questions insurers ask

- Do all staff use MFA for email and remote access?
- Are backups immutable or offline, and tested?
"""


def test_markdown_front_matter_lands_in_chunk_metadata(hash_settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path / "cyber-insurance.md", MARKDOWN)
    kb, report = _ingest(hash_settings, [str(path)])
    assert report.counts() == {"added": 1}, report.to_dict()
    raw = raw_chunk_rows(hash_settings)
    assert raw
    for _text, meta in raw.values():
        assert meta["title"] == "Cyber insurance for school districts"
        assert meta["date"] == "2024-06-30" and meta["date_ord"] == 20240630
        assert meta["areas"] == "cybersecurity,budgets-funding"
        assert meta["area_cybersecurity"] is True and meta["area_budgets-funding"] is True
        assert "area_interoperability" not in meta
        assert meta["url"] == "https://example.org/cyber-insurance"
        assert meta["authority"] == "federal" and meta["jurisdiction"] == "national"
        assert meta["expires"] == "2027-01-01" and meta["reviewed"] == "2025-02-01"
        assert meta["source_type"] == "markdown"
    sections = {meta.get("section") for _, meta in raw.values()}
    assert any(s and "Premiums and the budget" in s for s in sections)
    [row] = kb.store.docs()
    assert row.meta["summary"] == "What insurers ask for, and how to budget for premiums."  # summary lives in the manifest
    assert row.areas == ["cybersecurity", "budgets-funding"] and row.date == "2024-06-30"
    # the area flags are usable as Chroma filters
    vector = kb.embedder.embed_batch(["insurance premiums budget"])[0]
    assert kb.store.search(vector, 5, where={"area_budgets-funding": True})
    assert kb.store.search(vector, 5, where={"area_interoperability": True}) == []


def test_markdown_unknown_area_is_a_warning_and_areas_fall_back_to_classification(hash_settings: Settings, tmp_path: Path) -> None:
    text = MARKDOWN.replace("areas: [cybersecurity, budgets-funding]", "areas: [cyber-security]")
    kb, report = _ingest(hash_settings, [str(write(tmp_path / "insurance.md", text))])
    [result] = report.results
    assert result.status == "added"
    assert any("unknown area(s) ignored: cyber-security" in w for w in result.warnings)
    [row] = kb.store.docs()
    assert "cybersecurity" in row.areas  # classified from the text instead


def test_plain_text(hash_settings: Settings, tmp_path: Path) -> None:
    body = "\n\n".join(f"Paragraph {n}: home internet hotspots for students without broadband, lending rules and "
                       f"data plans, reviewed each semester by the equity team." for n in range(30))
    path = write(tmp_path / "hotspot_lending-notes.txt", body)
    kb, report = _ingest(hash_settings, [str(path)])
    assert report.counts() == {"added": 1}
    [row] = kb.store.docs()
    assert row.title == "hotspot lending notes" and row.source_type == "text" and row.chunk_count > 1
    chunks = _chunks_of(kb, row.doc_id)
    assert [c.index for c in chunks] == list(range(row.chunk_count))
    assert all(len(c.text) <= hash_settings.chunk_size for c in chunks)
    assert "Paragraph 29:" in chunks[-1].text
    assert "digital-equity" in row.areas


def test_urls_served_over_http(hash_settings: Settings, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write(site / "segmentation.html", HTML_PAGE)
    make_pdf(site / "report.pdf", _pdf_pages()[:3], header=HEADER, footer=FOOTER, title="Remote Report")
    with serve_folder(site) as base:
        html_url, pdf_url, missing = f"{base}/segmentation.html", f"{base}/report.pdf", f"{base}/gone.html"
        unreachable = f"http://127.0.0.1:{closed_port()}/page.html"
        kb, report = _ingest(hash_settings, [html_url, pdf_url, missing, unreachable])
    by_source = {r.source: r for r in report.results}
    assert by_source[html_url].status == "added" and by_source[pdf_url].status == "added"
    assert by_source[missing].status == "failed" and "HTTP 404" in by_source[missing].reason
    assert by_source[unreachable].status == "failed" and "unreachable" in by_source[unreachable].reason
    assert report.exit_code == 1
    rows = {r.source: r for r in kb.store.docs()}
    assert set(rows) == {html_url, pdf_url}
    assert rows[html_url].source_type == "html" and rows[html_url].date == "2024-03-05"
    assert rows[pdf_url].source_type == "pdf" and rows[pdf_url].doc_id == doc_id_for(pdf_url, True)
    pdf_chunks = _chunks_of(kb, rows[pdf_url].doc_id)
    assert {c.page for c in pdf_chunks} == {1, 2, 3}
    assert all(c.source == pdf_url and c.title == "Remote Report" for c in pdf_chunks)
    assert all(FOOTER not in c.text for c in pdf_chunks)
    assert_consistent(kb.store)


def test_real_model_finds_the_right_pdf_page(settings: Settings, real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the real MiniLM model, a question lands on the page that answers it."""
    pdf = make_pdf(tmp_path / "plan.pdf", _pdf_pages(), header=HEADER, footer=FOOTER, title="Plan")
    kb = KnowledgeBase(settings, embedder=real_embedder)
    report = run_ingest(kb, [str(pdf)])
    assert report.counts() == {"added": 1}
    vector = real_embedder.embed_batch(["Which E-rate category pays for wireless access points and switches?"])[0]
    hits = kb.store.search(vector, 3)
    assert hits[0].chunk.page == 3, [(h.chunk.page, round(h.score, 3)) for h in hits]
    assert hits[0].score > 0.3


def test_pdf_bullet_glyphs_become_list_items() -> None:
    """Symbol-font bullets (private use area) and Unicode bullets start list items, even mid-line."""
    from ingest.clean import clean_text

    text = "Notify:\n\uf0b7 CIO \uf03c Legal department\n\n\u2022 Law enforcement (if appropriate)"
    assert clean_text(text) == "Notify:\n- CIO\n- Legal department\n\n- Law enforcement (if appropriate)"
    assert clean_text("A plain line stays as it is.") == "A plain line stays as it is."
