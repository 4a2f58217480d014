"""document_exceptions.app.lambda_transport: asynchronous invokes of the producer function.

lambda:Invoke is answered by botocore's Stubber on a real boto3 client (request validation
against the service model included): moto would try to run the function's code in Docker,
which this machine does not have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from document_exceptions import aws_clients
from document_exceptions.app import api
from document_exceptions.app.lambda_transport import (
    ASYNC_PAYLOAD_LIMIT_BYTES,
    PAYLOAD_PREFIX,
    PAYLOAD_SUFFIX,
    LambdaTransport,
    lambda_client,
)
from document_exceptions.app.spool import Spool
from document_exceptions.app.transport import DeliveryError, UndeliverableError, is_permanent
from document_exceptions.contract import PreparedRecord, prepare_record
from document_exceptions.record import Record
from tests.app_helpers import message_fields

FUNCTION = "document-exceptions-producer"


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def prepared(count: int, run: str = "L") -> list[PreparedRecord]:
    return [prepare_record(message_fields(run, index)) for index in range(count)]


def records_of(items: list[PreparedRecord]) -> list[Record]:
    return [item.record for item in items]


def event_invoke(payload: bytes) -> dict[str, Any]:
    return {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": payload}


def expected_payload(records: list[Record]) -> bytes:
    values = b",".join(record.value for record in records)
    return b'{"messages":[' + values + b'],"raise_on_failure":true}'


def test_a_batch_is_one_event_invoke_with_the_contracts_messages(client: Any) -> None:
    items = prepared(3)
    records = records_of(items)
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 202}, event_invoke(expected_payload(records)))
        results = LambdaTransport(FUNCTION, client).deliver(records)
        stub.assert_no_pending_responses()
    assert results == [None, None, None]
    payload = json.loads(expected_payload(records))
    assert payload["raise_on_failure"] is True
    assert [m["order_req_id"] for m in payload["messages"]] == ["L-0", "L-1", "L-2"]
    assert all(m == items[i].message for i, m in enumerate(payload["messages"]))


def test_batches_are_cut_to_fit_the_async_payload_limit(client: Any) -> None:
    records = records_of(prepared(10))
    one = len(records[0].value)
    framing = len(PAYLOAD_PREFIX) + len(PAYLOAD_SUFFIX)
    transport = LambdaTransport(FUNCTION, client, payload_limit=3 * (one + 1) + framing + 5)
    chunks = transport.chunks(records)
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert [index for chunk in chunks for index in chunk] == list(range(10))
    with Stubber(client) as stub:
        for chunk in chunks:
            payload = LambdaTransport.payload([records[index] for index in chunk])
            assert len(payload) <= transport.payload_limit
            stub.add_response("invoke", {"StatusCode": 202}, event_invoke(payload))
        results = transport.deliver(records)
        stub.assert_no_pending_responses()
    assert results == [None] * 10
    assert ASYNC_PAYLOAD_LIMIT_BYTES == 262_144


def test_a_message_too_large_for_any_invoke_fails_permanently(client: Any) -> None:
    big = prepare_record({**message_fields("L", 0), "stack_trace": "x" * 99_000}).record
    small = records_of(prepared(1))[0]
    transport = LambdaTransport(FUNCTION, client, payload_limit=50_000)
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 202}, event_invoke(expected_payload([small])))
        error, delivered = transport.deliver([big, small])
        stub.assert_no_pending_responses()
    assert isinstance(error, UndeliverableError)
    assert is_permanent(error)
    assert delivered is None


@pytest.mark.parametrize(
    ("code", "status"),
    [("TooManyRequestsException", 429), ("ResourceNotFoundException", 404)],
)
def test_an_invoke_error_fails_every_message_of_the_batch(
    client: Any, code: str, status: int
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("invoke", code, "no", status, expected_params=None)
        errors = LambdaTransport(FUNCTION, client).deliver(records_of(prepared(2)))
    assert len(errors) == 2
    assert all(isinstance(e, DeliveryError) and not is_permanent(e) for e in errors)
    assert code in str(errors[0])
    assert isinstance(errors[0].__cause__, ClientError)  # the botocore exception is kept


def test_a_status_other_than_202_is_a_failure(client: Any) -> None:
    records = records_of(prepared(1))
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200}, event_invoke(expected_payload(records)))
        errors = LambdaTransport(FUNCTION, client).deliver(records)
    assert isinstance(errors[0], DeliveryError)
    assert "200, not 202" in str(errors[0])


def test_the_default_client_has_short_timeouts_and_standard_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    client = lambda_client("eu-central-1")
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.config.read_timeout == aws_clients.READ_TIMEOUT_S
    assert client.meta.config.connect_timeout == aws_clients.CONNECT_TIMEOUT_S
    assert client.meta.config.retries["mode"] == "standard"


@pytest.fixture
def lambda_app(tmp_path: Path, client: Any) -> Iterator[tuple[Stubber, LambdaTransport]]:
    transport = LambdaTransport(FUNCTION, client)
    stub = Stubber(client)
    stub.activate()
    api.configure(
        {
            "DOCUMENT_EXCEPTIONS_TRANSPORT": "lambda",
            "DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION": FUNCTION,
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
            "DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL": "0.2",
        },
        environ={},
        django={},
        transport_factory=lambda settings: transport,
    )
    yield stub, transport
    api.shutdown(timeout=1)
    stub.deactivate()


@pytest.mark.timeout(30)
def test_the_sender_delivers_through_the_lambda_transport(
    lambda_app: tuple[Stubber, LambdaTransport],
) -> None:
    stub, transport = lambda_app
    stub.add_response("invoke", {"StatusCode": 202}, None)
    api.send_document_access_exception(**message_fields("S", 0))
    result = api.flush(5)
    assert (result.delivered, result.spooled) == (1, 0)
    assert transport.invocations == 1
    stub.assert_no_pending_responses()


@pytest.mark.timeout(30)
def test_a_throttled_invoke_is_spooled_and_replayed_by_a_later_invoke(
    lambda_app: tuple[Stubber, LambdaTransport], tmp_path: Path
) -> None:
    stub, transport = lambda_app
    stub.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded", 429)
    stub.add_response("invoke", {"StatusCode": 202}, None)
    api.send_document_access_exception(**message_fields("T", 0))
    assert api.flush(5).pending == 0
    assert api.drain_spool(10)
    stats = api.stats()
    assert stats["delivery_failures"] == 1
    assert stats["spooled"] == 1
    assert (stats["delivered"], stats["replayed"]) == (0, 1)
    assert stats["spool_size"] == 0
    assert transport.invocations == 2
    stub.assert_no_pending_responses()


@pytest.mark.timeout(30)
def test_an_undeliverable_message_is_set_aside_not_retried_for_ever(
    lambda_app: tuple[Stubber, LambdaTransport], tmp_path: Path
) -> None:
    _, transport = lambda_app
    transport.payload_limit = 4_000
    api.send_document_access_exception(**{**message_fields("R", 0), "stack_trace": "x" * 5_000})
    assert api.flush(5).pending == 0
    assert api.drain_spool(10)
    assert api.stats()["rejected"] == 1
    [(record, reason)] = Spool(tmp_path).rejected()
    assert json.loads(record.value)["order_req_id"] == "R-0"
    assert "asynchronous Lambda invocation" in reason


class InProcessProducerFunction:
    """A Lambda client whose ``invoke`` runs the real producer handler in this process.

    Stands in for Lambda's asynchronous invoke (queue, then run the function) so that the
    transport's payloads are checked against what the producer function really accepts.
    """

    class Context:
        function_name = "document-exceptions-producer"
        function_version = "$LATEST"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:producer"
        aws_request_id = "00000000-0000-0000-0000-000000000000"

        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        import handler  # noqa: PLC0415 - the producer function's module, loaded on use

        assert InvocationType == "Event"
        self.answers.append(handler.handler(json.loads(Payload), self.Context()))
        return {"StatusCode": 202}


@pytest.mark.timeout(60)
def test_the_producer_function_publishes_what_the_lambda_transport_sends(
    kafka_broker: Any,
    fresh_topic: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import handler  # noqa: PLC0415

    topic = kafka_broker.create_topic(fresh_topic())
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    monkeypatch.setenv("KAFKA_TOPIC", topic)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DocumentExceptionsTest")
    handler.reset()
    function = InProcessProducerFunction()
    api.configure(
        {
            "DOCUMENT_EXCEPTIONS_TRANSPORT": "lambda",
            "DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION": FUNCTION,
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
            "KAFKA_TOPIC": topic,
        },
        environ={},
        django={},
        transport_factory=lambda settings: LambdaTransport(FUNCTION, function),
    )
    try:
        for index in range(5):
            api.send_document_access_exception(**message_fields("E", index))
        assert api.flush(20).delivered == 5
    finally:
        api.shutdown(timeout=1)
        handler.reset()
    assert sum(answer["published"] for answer in function.answers) == 5
    records = kafka_broker.read_all(topic, expected=5)
    assert sorted(json.loads(r.value)["order_req_id"] for r in records) == [
        f"E-{i}" for i in range(5)
    ]
