"""The producer's three event shapes, told apart and unpacked: plain functions, no I/O.

- SQS batches: `Records` of `aws:sqs` records; a record's envelope is checked on its own
  (`sqs_envelope_error`), so one malformed record never stops the others.
- EventBridge: detail-type `DocumentAccessException`, the message in `detail`.
- Direct invocation: one message, a list, or `{"messages": [...]}` (`direct_messages`);
  `"raise_on_failure": true` marks an asynchronous caller.

Each unpacker returns the items to publish and, where the shape itself is wrong, a
`ValidationError` per item naming the field, which `publishing.publish_batch` reports as
that item's rejection instead of validating its contract.
"""

from __future__ import annotations

from typing import Any, Literal

from document_exceptions import names
from document_exceptions.contract import FieldError, ValidationError
from document_exceptions.echo import echo

EventShape = Literal["sqs", "eventbridge", "direct"]
Prepared = list[ValidationError | None] | None


def event_shape(event: Any) -> EventShape:
    if isinstance(event, dict):
        records = event.get("Records")
        first = records[0] if isinstance(records, list) and records else None
        if isinstance(first, dict) and first.get("eventSource") == "aws:sqs":
            return "sqs"
        if "detail-type" in event and "detail" in event and "source" in event:
            return "eventbridge"
    return "direct"


def sqs_items(records: list[Any]) -> tuple[list[Any], Prepared]:
    """Each record's body, or the whole record where its envelope is malformed (it is then
    rejected, and parked whole, with the envelope's errors)."""
    envelope = [sqs_envelope_error(index, record) for index, record in enumerate(records)]
    items = [
        record if error is not None else record["body"]
        for record, error in zip(records, envelope, strict=True)
    ]
    return items, envelope


def sqs_envelope_error(index: int, record: Any) -> ValidationError | None:
    """What is wrong with an SQS record's envelope (SQS itself always sends a string body and
    a message id), naming the field; None for a well-formed record."""
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        return ValidationError([FieldError(where, f"expected an object, got {type_name(record)}")])
    errors = []
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        problem = "required" if message_id is None else f"{echo(message_id)} is not a message id"
        errors.append(FieldError(f"{where}.messageId", problem))
    if not isinstance(record.get("body"), str):
        problem = f"expected a string, got {type_name(record.get('body'))}"
        errors.append(FieldError(f"{where}.body", problem))
    return ValidationError(errors) if errors else None


def sqs_message_id(record: Any) -> str | None:
    message_id = record.get("messageId") if isinstance(record, dict) else None
    return message_id if isinstance(message_id, str) and message_id else None


def eventbridge_items(event: dict[str, Any]) -> tuple[list[Any], Prepared]:
    """The event's `detail`, rejected naming `detail-type` when that is not this app's."""
    detail_type = event.get("detail-type")
    if detail_type == names.EVENTBRIDGE_DETAIL_TYPE:
        return [event.get("detail")], None
    problem = f"{echo(detail_type)} is not {names.EVENTBRIDGE_DETAIL_TYPE!r}"
    return [event.get("detail")], [ValidationError([FieldError("detail-type", problem)])]


def is_asynchronous(event: Any) -> bool:
    """A direct caller that asked for a raised error on failure (and parking of invalid ones)."""
    return isinstance(event, dict) and event.get("raise_on_failure") is True


def direct_messages(event: Any) -> tuple[list[Any], Prepared]:
    """One message, a list of them, or `{"messages": [...]}`; `messages` that is not a list
    is rejected naming the field."""
    messages = event.get("messages", event) if isinstance(event, dict) else event
    items = messages if isinstance(messages, list) else [messages]
    if isinstance(event, dict) and "messages" in event and not isinstance(messages, list):
        return items, [ValidationError([FieldError("messages", "expected a list of messages")])]
    return items, None


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
