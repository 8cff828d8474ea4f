"""E-mail loader (.eml): a forwarded state memo with its subject, date and every text part.

Uses the standard library's ``email`` package. The message body and each forwarded
message inside it become sections under their subjects; HTML-only bodies are read by the
HTML loader; attachments are listed by name (ingest them as files of their own).
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

from ingest.clean import clean_text
from ingest.loaders.html import load_html_text
from kb.core.documents import LoadedDocument, Section, slugify
from kb.core.errors import IngestError

__all__ = ["load_eml"]


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):  # an unknown charset: bytes, decoded leniently
        payload: Any = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace")
    if part.get_content_subtype() == "html":
        try:
            return "\n\n".join(s.text for s in load_html_text(content, "message.html").sections)
        except IngestError:
            return ""
    return str(content)


def _sections(message: EmailMessage, depth: int = 0) -> list[Section]:
    subject = clean_text(str(message.get("subject") or "")) or "(no subject)"
    heading = subject if depth == 0 else f"Forwarded: {subject}"
    header = " | ".join(f"{k}: {clean_text(str(message[k]))}" for k in ("From", "To", "Date") if message.get(k))
    sections = []
    text = clean_text(_body(message))
    if text:
        sections.append(Section(text=f"{header}\n\n{text}" if header else text, heading=heading, anchor=slugify(heading, 80)))
    attachments = []
    for part in message.iter_attachments():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_content()
            if isinstance(inner, EmailMessage) and depth < 5:
                sections.extend(_sections(inner, depth + 1))
        elif part.get_filename():
            attachments.append(str(part.get_filename()))
    if attachments and sections:
        sections[-1].text += "\n\nAttachments (not read; ingest them as files): " + ", ".join(attachments)
    return sections


def load_eml(data: bytes, source: str) -> LoadedDocument:
    """Parse an RFC 822 message (.eml)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not (message.get("subject") or message.get("from")):
        raise IngestError("file is named .eml but has no e-mail headers (Subject, From); save the message again from the mail program")
    sections = _sections(message)
    if not sections:
        raise IngestError("e-mail has no readable text (only attachments?); ingest the attachments as files")
    date = None
    if message.get("date"):
        try:
            date = parsedate_to_datetime(str(message["date"])).date().isoformat()
        except (TypeError, ValueError):
            date = None
    title = clean_text(str(message.get("subject") or "")) or source.rsplit("/", 1)[-1]
    return LoadedDocument(source=source, source_type="eml", title=title, sections=sections, date=date)
