"""Cutting a sequence into request-sized chunks: the one chunker of the runtime.

Used for SQS SendMessageBatch (at most 10 entries and 256 KiB a call: the producer's
rejected-messages queue) and for asynchronous Lambda invocations (one payload of at most
256 KB: the app's Lambda transport).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def size_bounded_chunks(
    items: Iterable[T],
    size_of: Callable[[T], int],
    max_bytes: int,
    max_items: int | None = None,
) -> list[list[T]]:
    """Consecutive chunks of `items`, in order, each of at most `max_items` items whose
    sizes add up to at most `max_bytes`.

    An item larger than `max_bytes` by itself gets a chunk of its own: whether it can be
    sent at all is the caller's decision (the Lambda transport sets such records aside
    before chunking).
    """
    chunks: list[list[T]] = []
    current: list[T] = []
    size = 0
    for item in items:
        item_size = size_of(item)
        full = max_items is not None and len(current) >= max_items
        if current and (full or size + item_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        chunks.append(current)
    return chunks
