"""Our Answer in the shape of OpenAI's chat completion (and its streamed chunks).

The message content is the answer with its numbered source list (what ``kb ask`` prints),
so a plain chat client shows the citations; the same citations come as structured data in
the extra field ``citations`` (and ``answer_id``, ``abstained``) for clients that read it.
Streaming sends the finished, checked answer in pieces: an answer is only released once
every sentence has its citation and personal data is redacted, so no raw model text is
ever streamed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

__all__ = ["completion", "stream", "models", "MODEL"]

MODEL = "cto-assistant"
_PIECE = re.compile(r"(?<=\s)(?=\S)")  # split before each word; the pieces join back exactly
_WORDS_PER_PIECE = 8


def _content(answer: Any) -> str:
    text = answer.to_markdown()
    for notice in answer.notices:
        text += f"\n\nNote: {notice}"
    return str(text)


def _extra(answer: Any) -> dict[str, Any]:
    return {"citations": [asdict(c) for c in answer.citations], "answer_id": answer.id, "abstained": answer.abstained}


def completion(answer: Any, model: str) -> dict[str, Any]:
    """The whole answer as one ``chat.completion`` object."""
    return {"id": f"chatcmpl-{answer.id}", "object": "chat.completion", "created": int(time.time()),
            "model": model or MODEL,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": _content(answer)}}],
            **_extra(answer)}


def _chunk(answer: Any, model: str, delta: dict[str, Any], finish: str | None, created: int) -> str:
    body = {"id": f"chatcmpl-{answer.id}", "object": "chat.completion.chunk", "created": created,
            "model": model or MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
    if finish:
        body.update(_extra(answer))
    return f"data: {json.dumps(body)}\n\n"


def stream(answer: Any, model: str) -> Iterator[str]:
    """Server-sent events: the role, the content a few words at a time, a last chunk with the citations."""
    created = int(time.time())
    yield _chunk(answer, model, {"role": "assistant", "content": ""}, None, created)
    words = _PIECE.split(_content(answer))
    for start in range(0, len(words), _WORDS_PER_PIECE):
        yield _chunk(answer, model, {"content": "".join(words[start:start + _WORDS_PER_PIECE])}, None, created)
    yield _chunk(answer, model, {}, "stop", created)
    yield "data: [DONE]\n\n"


def models() -> dict[str, Any]:
    """The one model this server offers (OpenAI clients often list models first)."""
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "cto-assistant"}]}
