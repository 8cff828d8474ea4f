"""Markdown through a real parser, HTML through a main-content extractor (issue 18)."""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.html import load_html_text
from ingest.loaders.markdown import load_markdown_text
from ingest.pipeline import run_ingest
from kb.core.settings import Settings
from tests.helpers import write
from tests.ingest_support import hash_kb

RUNBOOK = """---
title: Restarting the SIS sync
date: 2025-01-15
---
Restarting the SIS sync
=======================

Do this after hours: the sync locks rosters while it restarts.

```bash
# stop the service first
systemctl stop sis-sync
# then clear the queue
rm -rf /var/lib/sis-sync/queue/*
```

Checking the result
-------------------

| Step | Who | Minutes |
| --- | --- | --- |
| Stop the service | Tier 2 | 5 |
| Clear the queue | Tier 2 | 10 |

    # an indented code block is code too
    echo done

1. Confirm with the registrar.
2. Re-run the nightly export.

## Escalation

Call the vendor's support line when the restart fails twice.
"""


def test_markdown_code_blocks_are_not_headings_and_setext_headings_count() -> None:
    doc = load_markdown_text(RUNBOOK, "runbook.md")
    headings = [s.heading for s in doc.sections]
    assert headings == ["Restarting the SIS sync", "Checking the result", "Escalation"], headings
    assert not any(h and ("stop the service" in h or "clear the queue" in h or "indented" in h) for h in headings)
    first = doc.sections[0].text
    assert "# stop the service first" in first and "systemctl stop sis-sync" in first  # code kept verbatim, as code
    assert doc.title == "Restarting the SIS sync" and doc.date == "2025-01-15"  # as written; kb.core.metadata checks it later
    second = doc.sections[1]
    assert second.anchor == "checking-the-result"
    assert "Step | Who | Minutes\nStop the service | Tier 2 | 5\nClear the queue | Tier 2 | 10" in second.text
    assert "# an indented code block is code too" in second.text
    assert "1. Confirm with the registrar.\n2. Re-run the nightly export." in second.text


def test_markdown_inline_markup_is_dropped_but_words_kept() -> None:
    text = "# Guide\n\nUse **MFA** on [the portal](https://x.example) and `ssh`; see ![the diagram](d.png).<br>\n{% raw %}Done."
    [section] = load_markdown_text(text, "g.md").sections
    assert section.text == "Use MFA on the portal and ssh; see the diagram.\nDone."


def test_starter_library_parses_to_the_same_sections_as_before(tmp_path: Path) -> None:
    """The starter library's briefs keep their headings (citations and gold sets rest on them)."""
    from kb.core.settings import REPO_ROOT

    doc = load_markdown_text((REPO_ROOT / "library" / "cyber-ransomware-preparedness.md").read_text(), "r.md")
    assert any(s.heading == "Before an attack (preparation)" for s in doc.sections)
    prep = next(s for s in doc.sections if s.heading == "Before an attack (preparation)")
    assert prep.text.startswith("1. Keep at least one copy of critical backups offline")


ARTICLE = """<!doctype html><html><head><title>Board approves new data privacy rules</title>
<meta name="viewport" content="width=device-width">
<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2025-04-22T09:00:00-05:00"}</script>
</head><body>
<div class="topbar"><a href="/">Home</a> <a href="/news">News</a> <a href="/calendar">Calendar</a></div>
<div id="content">
<div class="post">
<h1>Board approves new data privacy rules</h1>
<p>The board of education approved rules that require every classroom application to sign the state data privacy
agreement before teachers may use it with students.</p>
<h2>What changes for teachers</h2>
<p>Teachers check the approved-apps list before adopting a new tool, and request a review for anything not on it.
The technology office answers review requests within ten school days.</p>
<table><tr><th>App</th><th>Status</th></tr><tr><td>Quizlet</td><td>Approved</td></tr></table>
</div>
<div class="sidebar-widget">Popular: lunch menu, bus routes, snow days, sports schedule</div>
</div>
<div class="site-footer-links">Privacy | Terms | Accessibility | Sitemap</div>
</body></html>"""


def test_html_main_content_extracted_with_date_from_htmldate() -> None:
    doc = load_html_text(ARTICLE, "https://district.example/news/privacy-rules")
    text = "\n".join(s.text for s in doc.sections)
    assert doc.health["extractor"] == "trafilatura"
    assert "state data privacy agreement" in text and "ten school days" in text
    assert "App | Status\nQuizlet | Approved" in text
    assert "lunch menu" not in text and "Sitemap" not in text
    assert doc.date == "2025-04-22"  # JSON-LD, read by htmldate: no meta date tag on the page
    assert [s.anchor for s in doc.sections if s.heading == "What changes for teachers"] == ["what-changes-for-teachers"]


def test_markdown_runbook_through_the_pipeline(hash_settings: Settings, tmp_path: Path) -> None:
    kb, _ = hash_kb(hash_settings)
    report = run_ingest(kb, [str(write(tmp_path / "runbook.md", RUNBOOK))])
    assert report.counts() == {"added": 1}, report.to_dict()
    sections = {c.section for c in kb.store.iter_chunks()}
    assert "Checking the result" in sections and not any(s and "stop the service" in s for s in sections)


PHASES = """# Data modernization roadmap

The state moves to the new data standard in three phases.

```mermaid
flowchart TD
  %% "a comment that the rendered diagram never shows"
  Plan["Planning<br/>3 months<br/>RFP, <b>budget</b> and data mapping"]
  Pilot["Pilot<br/>9 months<br/>Run the pilot with core data elements; run a gap analysis"]
  Owners(["Districts"])
  Note[Vendors certify before the parallel year] -->|then| Plan
  Plan --> Pilot
```

```python
print("code in other languages is kept as code")
```
"""


def test_a_mermaid_diagram_is_read_as_its_labels_not_its_syntax() -> None:
    [section] = load_markdown_text(PHASES, "roadmap.md").sections
    assert ("- Planning: 3 months; RFP, budget and data mapping.\n"
            "- Pilot: 9 months; Run the pilot with core data elements; run a gap analysis.\n"
            "- Vendors certify before the parallel year.") in section.text
    for syntax in ("flowchart", "<br", "-->", "Districts", '["', "|then|", "comment"):
        assert syntax not in section.text  # a bare node name is dropped with the syntax
    assert 'print("code in other languages is kept as code")' in section.text


def test_a_diagram_without_labels_leaves_nothing() -> None:
    [section] = load_markdown_text("# T\n\nSome words before it.\n\n```mermaid\ngraph LR\n  A --> B\n```\n", "t.md").sections
    assert section.text == "Some words before it."


def test_markdown_files_are_read_again_once_for_the_diagram_reader(hash_settings: Settings) -> None:
    from ingest.unchanged import hash_suffix

    markdown, pdf = hash_suffix(hash_settings, {}, "markdown"), hash_suffix(hash_settings, {}, "pdf")
    assert markdown.endswith(":md2") and not pdf.endswith(":md2")  # only Markdown's content hashes change


def test_a_mermaid_mind_map_is_read_as_its_branches() -> None:
    text = ("# Portal\n\nWhat districts should see.\n\n```mermaid\nmindmap\n  root((State Data Portal))\n    Data Received\n"
            "      Counts and summaries\n      Attendance\n    Data Usage\n      Funding impacts\n    Last Update\n```\n")
    [section] = load_markdown_text(text, "portal.md").sections
    assert section.text == ("What districts should see.\n\nState Data Portal:\n- Data Received: Counts and summaries; Attendance.\n"
                            "- Data Usage: Funding impacts.\n- Last Update.")
