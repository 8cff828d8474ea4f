"""The in-app source viewer: a citation opens its document at the quoted words.

- PDF: the cited page, rendered, with the quoted sentences boxed in amber (from the
  text layer, or from Tesseract's word boxes on a page that was OCR'd); and, in a second
  tab, the whole PDF in Streamlit's PDF element (``st.pdf``) with the same boxes drawn
  into the cited page.
- Markdown, HTML, text, Word, PowerPoint, spreadsheets, e-mail: the document's text,
  scrolled to the cited section, with the quoted sentences marked.

Only files under the library's own folders are served (``ingest.locate.library_file``).
"""

from __future__ import annotations

import html
import importlib.util
import re
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from ingest.locate import library_file, matched_words, norm_words
from kb.core.answer import Citation
from kb.core.documents import Chunk, DocRecord, LoadedDocument, Section
from kb.core.errors import IngestError
from kb.core.settings import Settings
from kb.core.text import split_sentences
from ui.safe_text import escape_md

_ITEM = re.compile(r"^\s*(?:[-*]|\d{1,3}[.)])\s")

__all__ = ["viewer_roots", "viewable", "view_label", "show_source", "document_html", "library_citation"]

TEXT_VIEW_HEIGHT = 560
PDF_HEIGHT = 700
PAGE_WIDTH = 760  # pixels: a letter page at this width reads like paper and the quote is visible without scrolling


def viewer_roots(settings: Settings) -> list[Path]:
    """The folders whose files the viewer may open: the library, uploads, and CTO_VIEWER_DIRS."""
    return [settings.library_dir, settings.data_dir / "uploads", *settings.viewer_dirs]


def viewable(c: Citation, settings: Settings) -> Path | None:
    """The cited document's file when the viewer may open it."""
    return library_file(c.source, viewer_roots(settings))


def view_label(c: Citation) -> str:
    where = c.place or (f"p. {c.page}" if c.page else "")
    return f"View at {where}" if where else ("View at this section" if c.section else "View the source")


def _targets(c: Citation) -> list[str]:
    """What to mark: the answer's sentences that rest on this passage, else the passage itself (nothing: a whole document)."""
    return list(c.supporting) or ([c.snippet] if c.snippet.strip() else [])


def library_citation(doc: DocRecord, chunk: Chunk | None = None) -> Citation:
    """What the viewer needs to open a Library document: at one of its passages (marked), or at its start."""
    if chunk is None:
        return Citation(n=0, doc_id=doc.doc_id, chunk_id="", title=doc.title, source=doc.source, page=None,
                        section=None, date=doc.date, snippet="", score=0.0)
    place = chunk.extra.get("place")
    return Citation(n=0, doc_id=doc.doc_id, chunk_id=chunk.id, title=doc.title, source=doc.source, page=chunk.page,
                    section=chunk.section, date=doc.date, snippet=chunk.text, score=0.0,
                    place=str(place) if place else None, ocr=bool(chunk.extra.get("ocr")))


def _show_pdf(c: Citation, path: Path, settings: Settings) -> None:
    """Two views: the cited page with the quote boxed (opens there), and the whole PDF in st.pdf with the same boxes.

    Streamlit's PDF element (``st.pdf``, the streamlit-pdf component with pdf.js bundled) takes
    only the file and a height: it cannot be told a page to open at, and it draws no text or
    annotation layer. So the boxes are drawn into a copy of the cited page, and the first view,
    the one the dialog opens on, is the cited page itself.
    """
    from ingest.locate import highlight_pdf_page, highlighted_pdf

    page = c.page or 1
    try:
        image = highlight_pdf_page(path, page, _targets(c), ocr=c.ocr, language=settings.ocr_language)
    except (ValueError, OSError, RuntimeError) as exc:
        st.error(f"The page could not be shown ({escape_md(str(exc))}). Download the original instead.", icon=":material/error:")
        return
    found = (f": {image.highlighted} quoted word(s) highlighted" if image.highlighted else
             ": the quoted words were not found on this page" if _targets(c) else "")
    cited, whole = st.tabs([f"Page {image.page}, the quote", f"The whole PDF ({image.pages} pages)"])
    with cited:
        st.caption(f"Page {image.page} of {image.pages}" + (" (OCR)" if c.ocr else "") + found)
        st.image(image.png, width=PAGE_WIDTH)
    with whole:
        if importlib.util.find_spec("streamlit_pdf") is None:
            st.info("The whole-document view needs the streamlit-pdf package (`pip install streamlit-pdf`).",
                    icon=":material/info:")
            return
        try:
            data = highlighted_pdf(path, page, image.boxes)
        except (ValueError, OSError) as exc:  # pypdf cannot rewrite it: the original, unmarked
            st.caption(f"The highlight could not be added to this file ({escape_md(str(exc))}); shown as it is.")
            data = path.read_bytes()
        if image.highlighted:
            st.caption(f"The quote is highlighted on page {image.page}: scroll down to it.")
        st.pdf(data, height=PDF_HEIGHT)


def _mark(text: str, targets: list[str]) -> tuple[str, int]:
    """Escaped HTML of a section with the sentences sharing 4-grams with a target wrapped in <mark>."""
    from ingest.locate import Word

    out: list[str] = []
    marked = 0
    for para in re.split(r"\n\s*\n", text):
        pieces = []
        for line in _lines(para):
            for sentence in split_sentences(line) or [line]:
                hit = bool(targets) and bool(norm_words(sentence)) and bool(matched_words([Word(sentence, (0, 0, 0, 0))], targets))
                escaped = html.escape(sentence)
                pieces.append(f"<mark>{escaped}</mark>" if hit else escaped)
                marked += hit
            pieces.append("<br>")
        out.append("<p>" + " ".join(pieces[:-1]) + "</p>")
    return "\n".join(out), marked


def _lines(paragraph: str) -> list[str]:
    """A paragraph's lines, with wrapped lines joined (a sentence may run over a line break); list items kept apart."""
    lines: list[str] = []
    for line in paragraph.split("\n"):
        if lines and not _ITEM.match(line) and " | " not in line and " | " not in lines[-1]:
            lines[-1] += " " + line
        else:
            lines.append(line)
    return lines


def _is_cited(section: Section, c: Citation) -> bool:
    if c.place:
        return section.place == c.place
    if c.page and section.page:
        return section.page == c.page
    return bool(c.section) and section.heading == c.section


def _cited_index(sections: list[Section], c: Citation) -> int | None:
    """The cited section: by place, page or heading; else the one sharing most words with the passage."""
    from ingest.locate import Word

    named = [i for i, s in enumerate(sections) if _is_cited(s, c)]
    candidates = named or list(range(len(sections)))
    best, best_score = None, 0
    for i in candidates:
        words = [Word(w, (0, 0, 0, 0)) for w in sections[i].text.split()]
        score = len(matched_words(words, [c.snippet]))
        if score > best_score:
            best, best_score = i, score
    return best if best is not None else (named[0] if named else None)


def document_html(doc: LoadedDocument, c: Citation) -> tuple[str, int]:
    """The document as a small self-contained page: sections, the cited one scrolled to and marked.

    All document text is escaped; the only script is ours (scroll to the first mark).
    """
    parts = []
    marked_total = 0
    cited_at = _cited_index(doc.sections, c)
    for index, section in enumerate(doc.sections):
        cited = index == cited_at
        body, marked = _mark(section.text, _targets(c)) if cited else (_mark(section.text, [])[0], 0)
        marked_total += marked
        ident = ' id="cited" class="cited"' if cited else ""
        heading = f"<h3>{html.escape(section.place or section.heading or '')}</h3>" if (section.place or section.heading) else ""
        parts.append(f"<section{ident}>{heading}{body}</section>")
    style = ("body{font-family:sans-serif;font-size:15px;line-height:1.5;margin:0 12px;color:#222}"
             "mark{background:#ffc800aa;outline:2px solid #d67800;}section.cited{border-left:4px solid #d67800;padding-left:10px}"
             "h3{font-size:16px;margin:18px 0 6px}")
    script = ("<script>const m=document.querySelector('mark')||document.getElementById('cited');"
              "if(m){m.scrollIntoView({block:'center'});}</script>")
    page = f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{''.join(parts)}{script}</body></html>"
    return page, marked_total


def _show_text(c: Citation, path: Path, settings: Settings) -> None:
    from ingest.loaders import LoadOptions, load_file

    try:
        doc = load_file(path, options=LoadOptions(ocr=False, sheet_max_rows=settings.sheet_max_rows,
                                                  sheet_max_cols=settings.sheet_max_cols))
    except (IngestError, OSError) as exc:
        st.error(f"The document could not be shown ({escape_md(str(exc))}). Download the original instead.", icon=":material/error:")
        return
    page, marked = document_html(doc, c)
    where = c.location or "the cited section"
    if not _targets(c):
        st.caption("The whole document, from its start.")
    else:
        st.caption(f"{escape_md(where)}: {marked} quoted sentence(s) marked" if marked else
                   f"{escape_md(where)}: the quoted sentences were not found in the current file (it may have changed)")
    components.html(page, height=TEXT_VIEW_HEIGHT, scrolling=True)


@st.dialog("Source", width="large")
def show_source(c: Citation, settings: Settings) -> None:
    """A dialog with the cited document opened at the quoted words."""
    path = viewable(c, settings)
    st.markdown(f"**{escape_md(c.title)}**" + (f" · {escape_md(c.location)}" if c.location else ""))
    if path is None:
        st.warning("This file is not in the library's folders, so it cannot be shown here.", icon=":material/block:")
        return
    if path.suffix.lower() == ".pdf":
        _show_pdf(c, path, settings)
    else:
        _show_text(c, path, settings)
