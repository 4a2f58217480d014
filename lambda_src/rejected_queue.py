"""The rejected-messages queue: where the producer parks messages that can never be published.

A parked message is the original body with two message attributes, `reason` (why the
contract refused it) and `origin` (`sqs`, `eventbridge` or `direct`), so an operator can
read, fix and replay it. Parking is bounded in time: the SQS client gives up within
`aws_clients.CALL_BUDGET_S` a call, no call starts without that much of the invocation
left, and after one call fails (the queue unreachable, access denied) the rest of the
invocation's entries are not tried. What is not parked is returned with the exception, so
the caller fails exactly those messages (SQS redelivers them, an asynchronous invocation is
retried) instead of the whole batch timing out.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from document_exceptions.aws_clients import CALL_BUDGET_S, aws_client
from document_exceptions.chunking import size_bounded_chunks
from document_exceptions.fields import MAX_JSON_TEXT_DEPTH, nested_deeper_than
from document_exceptions.names import REJECTED_QUEUE_URL_VARIABLE

MAX_REASON_CHARS = 4_000  # SQS message attributes count against the message size
# SendMessageBatch limits: entries per call, and bytes of all messages of a call.
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 262_144
# What an entry costs beyond its body and reason: attribute names, types, the origin.
ENTRY_OVERHEAD_BYTES = 64
# What SQS refuses in a message body or attribute value (its allowed set is #x9, #xA, #xD,
# #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF): lone surrogates, most control characters.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ParkingError(RuntimeError):
    """A rejected message could not be written to the rejected-messages queue."""


class Rejected(NamedTuple):
    """A message to park: the caller's id for it, its body as received, and the reason."""

    entry_id: str
    body: str
    reason: str


def sqs_client() -> Any:
    return aws_client("sqs")


class RejectedQueue:
    """The queue for messages that can never be published; the SQS client is made on use."""

    def __init__(
        self, queue_url: str | None, client_factory: Callable[[], Any] = sqs_client
    ) -> None:
        self.queue_url = queue_url
        self._client_factory = client_factory
        self._client: Any = None

    def park(
        self, entries: Sequence[Rejected], origin: str, deadline: float | None = None
    ) -> dict[str, BaseException]:
        """Send the entries; return the ids NOT parked, each with why.

        `deadline` (`time.monotonic()` seconds) is when the caller must be answering: no
        SendMessageBatch call starts with less than `CALL_BUDGET_S` left before it.
        """
        if not entries:
            return {}
        entries = [Rejected(e.entry_id, sqs_text(e.body), sqs_text(e.reason)) for e in entries]
        if not self.queue_url:
            unset = ParkingError(f"{REJECTED_QUEUE_URL_VARIABLE} is not set")
            return {entry.entry_id: unset for entry in entries}
        not_parked: dict[str, BaseException] = {}
        given_up: BaseException | None = None
        for chunk in sqs_batches(entries):
            if given_up is None and deadline is not None:
                left = deadline - time.monotonic()
                if left < CALL_BUDGET_S:
                    given_up = ParkingError(
                        f"{left:.1f} s of the invocation left, less than the {CALL_BUDGET_S} s "
                        "an SQS call may take"
                    )
            if given_up is not None:
                not_parked.update((entry.entry_id, given_up) for entry in chunk)
                continue
            try:
                failed = self._send(chunk, origin)
            except Exception as exc:  # any AWS or network error: no later call would do better
                given_up = exc
                not_parked.update((entry.entry_id, exc) for entry in chunk)
                continue
            not_parked.update(failed)
        return not_parked

    def _send(self, chunk: Sequence[Rejected], origin: str) -> dict[str, BaseException]:
        if self._client is None:
            self._client = self._client_factory()
        response = self._client.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[sqs_entry(index, entry, origin) for index, entry in enumerate(chunk)],
        )
        return {
            chunk[int(failure["Id"])].entry_id: ParkingError(
                f"SQS refused the message: {failure.get('Code')}: {failure.get('Message')}"
            )
            for failure in response.get("Failed", [])
        }


def sqs_batches(entries: Sequence[Rejected]) -> list[list[Rejected]]:
    """SendMessageBatch calls: at most 10 entries and 256 KiB each."""
    return size_bounded_chunks(entries, entry_bytes, SQS_BATCH_BYTES, SQS_BATCH_ENTRIES)


def entry_bytes(entry: Rejected) -> int:
    return (
        len(entry.body.encode()) + min(len(entry.reason), MAX_REASON_CHARS) + ENTRY_OVERHEAD_BYTES
    )


def sqs_entry(index: int, entry: Rejected, origin: str) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": entry.body or "(empty)",
        "MessageAttributes": {
            "reason": {"DataType": "String", "StringValue": entry.reason[:MAX_REASON_CHARS]},
            "origin": {"DataType": "String", "StringValue": origin},
        },
    }


def sqs_text(text: str) -> str:
    """`text` with each character SQS refuses written as its JSON escape (`\\ud800`), so one
    odd character never makes a whole SendMessageBatch call fail."""
    return _NOT_SQS_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def body_text(item: Any) -> str:
    """A message as it came (JSON text as is, anything else as JSON), for parking.

    Bytes that are not UTF-8 keep their value as `\\xff` escapes. A value nested deeper than
    any JSON encoder goes (it cannot have come through Lambda's JSON) is described instead,
    without recursing into it.
    """
    if isinstance(item, bytes):
        return item.decode(errors="backslashreplace")
    if isinstance(item, str):
        return item
    if nested_deeper_than(item, MAX_JSON_TEXT_DEPTH):
        return f"(a {type(item).__name__} nested deeper than {MAX_JSON_TEXT_DEPTH} levels)"
    try:
        return json.dumps(item, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return f"(a {type(item).__name__} that is not JSON)"
