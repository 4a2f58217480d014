"""lambda_src/rejected_queue.py: parking rejected messages, bounded in time (moto SQS)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from document_exceptions.aws_clients import CALL_BUDGET_S
from rejected_queue import (
    MAX_REASON_CHARS,
    ParkingError,
    Rejected,
    RejectedQueue,
    body_text,
    sqs_batches,
    sqs_entry,
)

REGION = "eu-west-1"


def rejected(count: int, body_bytes: int = 10) -> list[Rejected]:
    return [Rejected(f"id-{i}", f"{i:0{body_bytes}d}", f"reason {i}") for i in range(count)]


class CountingClient:
    """An SQS client whose SendMessageBatch fails as an unreachable endpoint does."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com/")


def test_batches_hold_at_most_ten_entries_and_256_kib() -> None:
    assert [len(batch) for batch in sqs_batches(rejected(25))] == [10, 10, 5]
    large = rejected(3, body_bytes=100_000)
    assert [len(batch) for batch in sqs_batches(large)] == [2, 1]


def test_every_entry_is_parked_with_its_reason_and_origin(fake_aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="rejected")["QueueUrl"]
    entries = [*rejected(24), Rejected("long", "{}", "x" * (MAX_REASON_CHARS + 10))]
    assert RejectedQueue(url).park(entries, "sqs", time.monotonic() + 60) == {}
    found: dict[str, dict[str, Any]] = {}
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for item in batch:
            found[item["Body"]] = item["MessageAttributes"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
    assert set(found) == {entry.body for entry in entries}
    assert found[entries[3].body]["reason"]["StringValue"] == "reason 3"
    assert len(found["{}"]["reason"]["StringValue"]) == MAX_REASON_CHARS
    assert {attributes["origin"]["StringValue"] for attributes in found.values()} == {"sqs"}


def test_after_one_failed_call_the_rest_is_not_tried() -> None:
    client = CountingClient()
    queue = RejectedQueue("https://sqs.eu-west-1.amazonaws.com/1/rejected", lambda: client)
    not_parked = queue.park(rejected(25), "sqs", time.monotonic() + 60)
    assert client.calls == 1
    assert set(not_parked) == {f"id-{i}" for i in range(25)}
    assert all(isinstance(error, EndpointConnectionError) for error in not_parked.values())


def test_no_call_starts_without_the_time_one_may_take() -> None:
    client = CountingClient()
    queue = RejectedQueue("https://sqs.eu-west-1.amazonaws.com/1/rejected", lambda: client)
    not_parked = queue.park(rejected(3), "direct", time.monotonic() + CALL_BUDGET_S - 1)
    assert client.calls == 0
    assert set(not_parked) == {"id-0", "id-1", "id-2"}
    (error,) = set(not_parked.values())
    assert isinstance(error, ParkingError)
    assert "invocation left" in str(error)


def test_without_a_queue_url_nothing_is_parked_and_the_variable_is_named() -> None:
    not_parked = RejectedQueue(None).park(rejected(2), "sqs")
    assert set(not_parked) == {"id-0", "id-1"}
    assert "REJECTED_QUEUE_URL is not set" in str(not_parked["id-0"])


def test_a_message_refused_by_sqs_alone_is_not_parked() -> None:
    """SQS refuses single entries in a 200 answer (moto accepts anything: botocore's Stubber)."""
    client = boto3.client(
        "sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/rejected"
    entries = [Rejected("ok", "fine", "r"), Rejected("bad", "refused by the stub", "r")]
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
                "Failed": [{"Id": "1", "SenderFault": True, "Code": "InvalidMessageContents"}],
            },
            {"QueueUrl": url, "Entries": [sqs_entry(i, e, "sqs") for i, e in enumerate(entries)]},
        )
        not_parked = RejectedQueue(url, lambda: client).park(entries, "sqs")
        stub.assert_no_pending_responses()
    assert set(not_parked) == {"bad"}
    assert isinstance(not_parked["bad"], ParkingError)
    assert "InvalidMessageContents" in str(not_parked["bad"])


@pytest.mark.parametrize(
    ("item", "text"),
    [("{not json", "{not json"), (b"bytes", "bytes"), ({"a": "\u00e9"}, '{"a": "\u00e9"}')],
)
def test_parked_bodies_are_the_message_as_it_came(item: Any, text: str) -> None:
    assert body_text(item) == text


def test_characters_sqs_refuses_are_escaped_so_the_rest_of_the_call_is_parked() -> None:
    client = boto3.client(
        "sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/rejected"
    entries = [
        Rejected("a", '{"x": "\ud800"}', "x: \x00\x1b"),
        Rejected("b", "fine\t\U0001f600", "r"),
    ]
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {"Successful": [], "Failed": []},
            {
                "QueueUrl": url,
                "Entries": [
                    sqs_entry(0, Rejected("a", '{"x": "\\ud800"}', "x: \\u0000\\u001b"), "sqs"),
                    sqs_entry(1, entries[1], "sqs"),
                ],
            },
        )
        assert RejectedQueue(url, lambda: client).park(entries, "sqs") == {}
        stub.assert_no_pending_responses()


def test_bodies_that_are_not_text_are_parked_readable() -> None:
    assert body_text(b"\xff{") == "\\xff{"
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert body_text(deep) == "(a list nested deeper than 254 levels)"
    assert body_text([[1]]) == "[[1]]"
