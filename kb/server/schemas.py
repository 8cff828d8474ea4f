"""Request bodies of the API, validated on the way in (unknown fields of /v1/ask are refused)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FilterBody", "AskRequest", "ChatMessage", "ChatRequest"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TEXT = 4000  # characters of one question or message (the assistant reads at most 2,000 of a question)


class FilterBody(BaseModel):
    """Restrictions on retrieval, as in ``kb ask --area/--authority/--jurisdiction/--from/--to``."""

    model_config = ConfigDict(extra="forbid")

    areas: list[str] = Field(default_factory=list, max_length=20)
    authorities: list[str] = Field(default_factory=list, max_length=20)
    jurisdictions: list[str] = Field(default_factory=list, max_length=20)
    date_from: str | None = None
    date_to: str | None = None

    @field_validator("areas")
    @classmethod
    def _known_areas(cls, value: list[str]) -> list[str]:
        from kb.core.areas import area_ids

        unknown = [a for a in value if a not in area_ids()]
        if unknown:
            raise ValueError(f"unknown area {', '.join(unknown)}; choose from {', '.join(area_ids())}")
        return value

    @field_validator("date_from", "date_to")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None and not _DATE.match(value):
            raise ValueError("dates are YYYY-MM-DD, e.g. 2024-07-01")
        return value

    def to_filters(self) -> Any:
        from kb.answering.retrieval import Filters

        return Filters(areas=tuple(self.areas), authorities=tuple(self.authorities),
                       jurisdictions=tuple(self.jurisdictions), date_from=self.date_from, date_to=self.date_to)


class AskRequest(BaseModel):
    """``POST /v1/ask``: a question, the earlier questions of the conversation (oldest first), filters."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_TEXT)
    history: list[str] = Field(default_factory=list, max_length=200)
    filters: FilterBody = Field(default_factory=FilterBody)
    k: int | None = Field(None, ge=1, le=50)


class ChatMessage(BaseModel):
    """One OpenAI chat message; content may be a string or a list of text parts."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions`` as OpenAI clients send it (sampling options are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = "cto-assistant"
    messages: list[ChatMessage] = Field(min_length=1, max_length=400)
    stream: bool = False
    filters: FilterBody = Field(default_factory=FilterBody)

    def question_and_history(self, max_history: int) -> tuple[str, list[str]]:
        """The last user message is the question; the user messages before it are the history."""
        users = [m.text().strip() for m in self.messages if m.role == "user" and m.text().strip()]
        if not users:
            from kb.server.app import ApiError

            raise ApiError(400, "invalid_request", "the messages hold no user message with text: the last user "
                           "message is the question")
        question = users[-1][:MAX_TEXT]
        history = users[:-1][-max_history:] if max_history else []
        return question, history
