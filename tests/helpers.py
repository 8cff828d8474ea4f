"""Test-data builders: real PDFs, DOCX and HTML written by the tests themselves."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[str], header: str | None = None, footer: str | None = None,
             title: str | None = None) -> Path:
    """Write a multi-page PDF with reportlab; each page's text wraps at about 90 characters."""
    import textwrap

    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    if title:
        c.setTitle(title)
    width, height = letter
    for number, text in enumerate(pages, start=1):
        if header:
            c.setFont("Helvetica", 9)
            c.drawString(72, height - 40, header)
        c.setFont("Helvetica", 11)
        y = height - 80
        for para in text.split("\n\n"):
            for line in textwrap.wrap(para, 90) or [""]:
                c.drawString(72, y, line)
                y -= 15
            y -= 8
        if footer:
            c.setFont("Helvetica", 9)
            c.drawString(72, 30, f"{footer} | Page {number}")
        c.showPage()
    c.save()
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], title: str | None = None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading(heading, level=1)
    for para in paragraphs:
        document.add_paragraph(para)
    document.save(str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ask_in_chat(page, question: str, *, wait_ms: int) -> object:  # type: ignore[no-untyped-def]
    """Type a question into the app's chat and wait for the whole answer (its feedback buttons); returns its message."""
    from playwright.sync_api import expect

    messages = page.get_by_test_id("stChatMessage")
    before = messages.count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    expect(messages).to_have_count(before + 2, timeout=wait_ms)
    expect(messages.last.get_by_test_id("stFeedback")).to_be_visible(timeout=wait_ms)
    return messages.last
