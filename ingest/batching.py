"""The hand-off between the thread that prepares documents and the thread that encodes them.

The encoder takes whatever is ready the moment it is free (up to ``cap`` chunks, and once
at least ``least`` are ready: above 64 texts an encode uses every thread), so it never
waits for a large batch to fill while documents sit prepared: a fixed batch size made it
idle while a slow PDF was parsed, then left it a 1,300-chunk batch to encode alone after
parsing had finished. When the parser is ahead, batches grow to ``cap`` by themselves
(large batches pad little: sentence-transformers sorts each call by length). The
preparing side waits when ``limit`` chunks are queued, so memory stays bounded however
far the parser could run ahead.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")


class Batcher(Generic[T]):
    """A bounded FIFO of items with their chunk counts, taken in greedy batches; ``close`` ends it, ``fail`` stops the producer."""

    def __init__(self, *, limit: int):
        self._limit = limit
        self._items: deque[tuple[T, int]] = deque()
        self._chunks = 0
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    def put(self, item: T, chunks: int) -> bool:
        """Queue an item of ``chunks`` chunks, waiting while ``limit`` chunks are queued; False once the consumer failed."""
        with self._cond:
            while self._items and self._chunks + chunks > self._limit and self._error is None:
                self._cond.wait()
            if self._error is not None:
                return False
            self._items.append((item, chunks))
            self._chunks += chunks
            self._cond.notify_all()
            return True

    def take(self, cap: int, *, least: int = 1) -> list[T] | None:
        """The items queued now, oldest first, up to ``cap`` chunks (at least one item).

        Waits until ``least`` chunks are queued or the queue is closed; returns None once it is
        closed and empty.
        """
        with self._cond:
            while self._chunks < least and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            taken: list[T] = []
            count = 0
            while self._items and (not taken or count + self._items[0][1] <= cap):
                item, chunks = self._items.popleft()
                taken.append(item)
                count += chunks
            self._chunks -= count
            self._cond.notify_all()
            return taken

    @property
    def drained(self) -> bool:
        """Closed and empty: the items last taken were the last ones."""
        with self._cond:
            return self._closed and not self._items

    def close(self) -> None:
        """No more items: ``take`` returns what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """The consumer stopped on ``error``: a waiting or later ``put`` returns False instead of blocking forever."""
        with self._cond:
            self._error = error
            self._cond.notify_all()
