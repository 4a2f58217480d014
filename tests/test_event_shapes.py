"""lambda_src/event_shapes.py: the producer's event shapes, told apart and unpacked (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

import event_shapes
from document_exceptions import names
from tests.ops_helpers import eventbridge_event, sqs_event

MESSAGE = {"order_req_id": "SB0000001", "s3_key": "documents/u/f.pdf"}


def reasons(prepared: event_shapes.Prepared) -> list[str | None]:
    assert prepared is not None
    return [None if error is None else "; ".join(map(str, error.errors)) for error in prepared]


def test_event_shapes_are_told_apart() -> None:
    assert event_shapes.event_shape(sqs_event(["{}"])) == "sqs"
    assert event_shapes.event_shape(eventbridge_event({})) == "eventbridge"
    assert event_shapes.event_shape(MESSAGE) == "direct"
    assert event_shapes.event_shape({"messages": [MESSAGE]}) == "direct"
    assert event_shapes.event_shape([MESSAGE]) == "direct"
    assert event_shapes.event_shape({"Records": []}) == "direct"
    assert event_shapes.event_shape({"Records": [{"eventSource": "aws:kinesis"}]}) == "direct"


def test_sqs_items_are_the_bodies_and_a_malformed_envelope_is_the_whole_record() -> None:
    good = {"messageId": "m-1", "body": "{}"}
    records: list[Any] = [good, {"messageId": "m-2", "body": None}, "not a record", {"body": "x"}]
    items, prepared = event_shapes.sqs_items(records)
    assert items == ["{}", records[1], "not a record", records[3]]
    assert reasons(prepared) == [
        None,
        "Records[1].body: expected a string, got null",
        "Records[2]: expected an object, got str",
        "Records[3].messageId: required",
    ]


@pytest.mark.parametrize(
    ("record", "expected"),
    [({"messageId": "m-1"}, "m-1"), ({"messageId": ""}, None), ({}, None), ("m-1", None)],
)
def test_only_a_non_empty_string_is_a_message_id(record: Any, expected: str | None) -> None:
    assert event_shapes.sqs_message_id(record) == expected


def test_eventbridge_detail_is_the_item_and_another_detail_type_is_rejected_naming_it() -> None:
    event = eventbridge_event(MESSAGE)
    assert event_shapes.eventbridge_items(event) == ([MESSAGE], None)
    items, prepared = event_shapes.eventbridge_items({**event, "detail-type": "Other"})
    assert items == [MESSAGE]
    assert reasons(prepared) == [f"detail-type: 'Other' is not {names.EVENTBRIDGE_DETAIL_TYPE!r}"]


@pytest.mark.parametrize(
    ("event", "items"),
    [
        (MESSAGE, [MESSAGE]),
        ([MESSAGE, MESSAGE], [MESSAGE, MESSAGE]),
        ({"messages": [MESSAGE]}, [MESSAGE]),
        ({"messages": [], "raise_on_failure": True}, []),
        ("text", ["text"]),
    ],
)
def test_direct_messages_unpack_one_a_list_or_messages(event: Any, items: list[Any]) -> None:
    assert event_shapes.direct_messages(event) == (items, None)


def test_direct_messages_that_is_not_a_list_is_rejected_naming_the_field() -> None:
    items, prepared = event_shapes.direct_messages({"messages": MESSAGE})
    assert items == [MESSAGE]
    assert reasons(prepared) == ["messages: expected a list of messages"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"raise_on_failure": True}, True),
        ({"raise_on_failure": "true"}, False),
        ({"messages": []}, False),
        ([{"raise_on_failure": True}], False),
    ],
)
def test_only_a_literal_true_raise_on_failure_is_asynchronous(event: Any, expected: bool) -> None:
    assert event_shapes.is_asynchronous(event) is expected
