"""document_exceptions.chunking: the one chunker (SQS batches, Lambda payloads)."""

from __future__ import annotations

import pytest

from document_exceptions.chunking import size_bounded_chunks


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "max_items", "expected"),
    [
        ([], 10, None, []),
        ([3, 3, 3], 10, None, [[3, 3, 3]]),
        ([4, 4, 4], 10, None, [[4, 4], [4]]),
        ([5, 5, 5, 5], 10, None, [[5, 5], [5, 5]]),  # exactly full
        ([1] * 25, 1_000, 10, [[1] * 10, [1] * 10, [1] * 5]),  # SQS: 10 entries a call
        ([2, 20, 2], 10, None, [[2], [20], [2]]),  # too large alone: its own chunk
        ([20], 10, 10, [[20]]),
    ],
)
def test_chunks_keep_order_and_both_limits(
    sizes: list[int], max_bytes: int, max_items: int | None, expected: list[list[int]]
) -> None:
    chunks = size_bounded_chunks(sizes, lambda size: size, max_bytes, max_items)
    assert chunks == expected
    assert [size for chunk in chunks for size in chunk] == sizes
    for chunk in chunks:
        assert len(chunk) == 1 or sum(chunk) <= max_bytes
        assert max_items is None or len(chunk) <= max_items


def test_items_are_chunked_as_given_not_by_size_alone() -> None:
    items = [("a", 6), ("b", 6), ("c", 3)]
    chunks = size_bounded_chunks(items, lambda item: item[1], 10)
    assert [[name for name, _ in chunk] for chunk in chunks] == [["a"], ["b", "c"]]
