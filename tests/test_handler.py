"""The producer Lambda handler, end to end: real broker, moto SQS and Secrets Manager."""

from __future__ import annotations

import gc
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import boto3
import pytest

import handler
import publishing
from document_exceptions import aws_clients
from document_exceptions.contract import build_message
from tests.guide_examples import GUIDE_EXAMPLES, GUIDE_MESSAGE
from tests.harness.relay import RelayedBroker
from tests.harness.sasl_front_end import SaslSslBroker
from tests.ops_helpers import (
    LambdaContext,
    eventbridge_event,
    sqs_event,
    throwaway_aws_credentials,
)

REGION = "eu-west-1"
FAST_PRODUCER_ENV = {
    "PRODUCER_REQUEST_TIMEOUT_MS": "1000",
    "PRODUCER_DELIVERY_TIMEOUT_MS": "2000",
    "PRODUCER_MAX_BLOCK_MS": "2000",
    "PRODUCER_BOOTSTRAP_TIMEOUT_MS": "2000",
    "PRODUCER_RECONNECT_BACKOFF_MAX_MS": "200",
}


def message(index: int, **changes: Any) -> dict[str, Any]:
    return {
        "order_req_id": f"SB{index:07d}",
        "s3_key": f"documents/user{index}/file.pdf",
        "user_id": f"user{index}",
        "exception_type": "access_denied",
        "error_message": f"denied {index}",
        "ip_address": "10.0.0.1",
        **changes,
    }


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a new Lambda container: no producer, no cached secret."""
    handler.reset()
    yield
    handler.reset()


@pytest.fixture
def rejected_queue(fake_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="rejected")["QueueUrl"]
    monkeypatch.setenv("REJECTED_QUEUE_URL", url)
    return url


def parked(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found.extend(batch)
        for item in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])
    return found


@pytest.fixture
def topic(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh topic on the shared broker, and the Lambda environment pointing at it."""
    name = kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    monkeypatch.setenv("KAFKA_TOPIC", name)
    for variable, value in FAST_PRODUCER_ENV.items():
        monkeypatch.setenv(variable, value)
    return name


def values_on(broker: RelayedBroker, topic: str, expected: int | None = None) -> list[bytes]:
    return [record.value for record in broker.read_all(topic, expected=expected) if record.value]


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    log_handler = handler.logger.registered_handler
    assert isinstance(log_handler, __import__("logging").StreamHandler)
    previous = log_handler.setStream(stream)
    try:
        yield stream
    finally:
        log_handler.setStream(previous)


def test_importing_and_preparing_the_container_connects_to_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:never-read")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_BROKERS", "b-1.example:9096")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    runtime = handler.runtime()
    assert not runtime.publisher.has_producer
    assert runtime.publisher._resolver.lookups == 0  # the secret is read on first publish


# --- seed examples, byte for byte ---------------------------------------------------------


@pytest.fixture(scope="module")
def seed_broker() -> Iterator[RelayedBroker]:
    """A broker of its own, so the seed's messages go to the seed's topic name."""
    with RelayedBroker() as broker:
        broker.create_topic("DocumentExceptions", partitions=3, replication_factor=2)
        yield broker


@pytest.mark.timeout(60)
def test_every_seed_example_round_trips_byte_for_byte(
    seed_broker: RelayedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([seed_broker.bootstrap]))
    monkeypatch.delenv("KAFKA_TOPIC", raising=False)
    results = {}
    for name, example in GUIDE_EXAMPLES.items():
        response = handler.handler(example, LambdaContext())
        assert response["published"] == 1, response
        results[name] = response["results"][0]
    stored = {(r.partition, r.offset): r for r in seed_broker.read_all("DocumentExceptions")}
    for name, example in GUIDE_EXAMPLES.items():
        record = stored[(results[name]["partition"], results[name]["offset"])]
        sent = json.loads(record.value or b"")
        expected = build_message({**example, "timestamp": sent["timestamp"]})
        assert record.key == b"DocumentAccessLog"
        assert record.value == json.dumps(expected, separators=(",", ":")).encode()
        assert record.headers == [
            ("exception_type", example["exception_type"].encode()),
            ("source", b"django_s3_app"),
            ("schema_version", b"1"),
            ("content-type", b"application/json"),
        ]
    full = stored[(results["message_format"]["partition"], results["message_format"]["offset"])]
    assert full.value == json.dumps(GUIDE_MESSAGE, separators=(",", ":")).encode()


@pytest.mark.timeout(60)
def test_seed_examples_through_the_sqs_path_arrive_unchanged(
    seed_broker: RelayedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([seed_broker.bootstrap]))
    before = len(seed_broker.read_all("DocumentExceptions"))
    body = json.dumps(GUIDE_MESSAGE, indent=4)  # as the seed prints it
    assert handler.handler(sqs_event([body]), LambdaContext()) == {"batchItemFailures": []}
    values = values_on(seed_broker, "DocumentExceptions")
    assert len(values) == before + 1
    assert json.dumps(GUIDE_MESSAGE, separators=(",", ":")).encode() in values


# --- direct invocation --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_direct_invocation_answers_per_message(kafka_broker: RelayedBroker, topic: str) -> None:
    event = {
        "messages": [
            message(1),
            message(2, ip_address="1.2.3", user_id=None),
            json.dumps(message(3)),
            "{not json",
        ]
    }
    response = handler.handler(event, LambdaContext())
    assert [result["status"] for result in response["results"]] == [
        "published",
        "rejected",
        "published",
        "rejected",
    ]
    assert [r["index"] for r in response["results"]] == [0, 1, 2, 3]
    assert response["results"][1]["errors"] == [
        {"field": "user_id", "problem": "required"},
        {"field": "ip_address", "problem": "'1.2.3' is not an IPv4 or IPv6 address"},
    ]
    assert response["results"][3]["errors"][0]["field"] == "message"
    assert (response["published"], response["rejected"], response["failed"]) == (2, 2, 0)
    stored = {(r.partition, r.offset) for r in kafka_broker.read_all(topic, expected=2)}
    assert {(r["partition"], r["offset"]) for r in response["results"][::2]} == stored
    assert "Traceback" not in json.dumps(response)


@pytest.mark.timeout(60)
def test_direct_single_message(kafka_broker: RelayedBroker, topic: str) -> None:
    response = handler.handler(message(7), LambdaContext())
    assert response["results"][0]["status"] == "published"
    assert isinstance(response["results"][0]["offset"], int)


def test_direct_messages_must_be_a_list(topic: str) -> None:
    response = handler.handler({"messages": {"order_req_id": "x"}}, LambdaContext())
    assert response["results"] == [
        {
            "index": 0,
            "status": "rejected",
            "errors": [{"field": "messages", "problem": "expected a list of messages"}],
        }
    ]


@pytest.mark.timeout(60)
def test_direct_invocation_with_the_broker_down_reports_failures_never_a_stack_trace(
    kafka_broker: RelayedBroker, topic: str
) -> None:
    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    with captured_logs() as logs:
        response = handler.handler({"messages": [message(1), message(2)]}, LambdaContext())
    assert [r["status"] for r in response["results"]] == ["failed", "failed"]
    assert response["results"][0]["error"] == publishing.BROKER_ERROR
    assert "Traceback" not in json.dumps(response)
    assert kafka_broker.bootstrap not in json.dumps(response)
    (logged,) = [
        json.loads(line) for line in logs.getvalue().splitlines() if "not published" in line
    ]
    assert "closed the connection during the Kafka handshake" in logged["errors"][0]
    assert kafka_broker.bootstrap in logged["errors"][0]


@pytest.mark.timeout(60)
def test_a_failed_login_tells_the_caller_neither_the_brokers_nor_the_user(
    secure_kafka_broker: SaslSslBroker,
    fresh_topic: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = secure_kafka_broker.create_topic(fresh_topic(), partitions=1, replication_factor=1)
    for variable, value in {**secure_kafka_broker.client_env(), **FAST_PRODUCER_ENV}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "not-the-password")
    monkeypatch.setenv("KAFKA_TOPIC", name)
    with captured_logs() as logs:
        response = handler.handler(message(1), LambdaContext())
    (result,) = response["results"]
    assert result == {"index": 0, "status": "failed", "error": publishing.BROKER_ERROR}
    answer = json.dumps(response)
    host = secure_kafka_broker.bootstrap.rpartition(":")[0]
    assert secure_kafka_broker.username not in answer
    assert host not in answer
    assert "not-the-password" not in logs.getvalue()
    (logged,) = [
        json.loads(line) for line in logs.getvalue().splitlines() if "not published" in line
    ]
    assert f"login as {secure_kafka_broker.username!r}" in logged["errors"][0]
    assert secure_kafka_broker.bootstrap in logged["errors"][0]


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_an_unexpected_error_answers_without_its_text(
    topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("SECRET-INTERNAL-DETAIL at b-1.example:9096")

    monkeypatch.setattr(handler, "handle_direct", broken)
    response = handler.handler(message(1), LambdaContext())
    assert "SECRET-INTERNAL-DETAIL" not in json.dumps(response)
    assert response["error"] == f"the invocation failed ({publishing.LOG_HINT})"


def test_direct_invocation_with_bad_configuration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.setenv("PRODUCER_LINGER_MS", "soon")
    response = handler.handler(message(1), LambdaContext())
    assert response["results"][0]["status"] == "failed"
    assert "PRODUCER_LINGER_MS" in response["results"][0]["error"]


@pytest.mark.timeout(60)
def test_asynchronous_direct_invocation_raises_on_failure_and_parks_invalid(
    kafka_broker: RelayedBroker, topic: str, rejected_queue: str
) -> None:
    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    event = {"messages": [message(1), message(2, exception_type="Bad")], "raise_on_failure": True}
    with pytest.raises(handler.PublishFailedError, match="1 of 2 messages were not acknowledged"):
        handler.handler(event, LambdaContext())
    (item,) = parked(rejected_queue)
    assert item["MessageAttributes"]["origin"]["StringValue"] == "direct"
    assert item["MessageAttributes"]["reason"]["StringValue"].startswith("exception_type: ")


# --- SQS batches --------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_sqs_shaped_records_with_a_bad_envelope_are_rejected_one_by_one(
    kafka_broker: RelayedBroker, topic: str, rejected_queue: str
) -> None:
    event = sqs_event([json.dumps(message(i)) for i in range(7)])
    records = event["Records"]
    records[1]["body"] = None
    records[2]["body"] = {"order_req_id": "SB1"}
    del records[3]["messageId"]
    records[4]["body"] = json.dumps(message(4)).replace("denied 4", "lone \ud800 surrogate")
    records[5]["body"] = b'{"order_req_id": "\xff\xfe"}'
    response = handler.handler(event, LambdaContext())

    assert response == {"batchItemFailures": []}
    on_topic = sorted(json.loads(v)["order_req_id"] for v in values_on(kafka_broker, topic, 2))
    assert on_topic == ["SB0000000", "SB0000006"]
    reasons = sorted(
        item["MessageAttributes"]["reason"]["StringValue"] for item in parked(rejected_queue)
    )
    assert reasons == [
        "Records[1].body: expected a string, got null",
        "Records[2].body: expected a string, got dict",
        "Records[3].messageId: required",
        "Records[5].body: expected a string, got bytes",
        reasons[4],
    ]
    assert reasons[4].startswith("message: not valid JSON")


def test_an_sqs_record_that_is_not_an_object_is_rejected_naming_it(
    topic: str, rejected_queue: str
) -> None:
    event = sqs_event(["{}"])
    event["Records"].append("not a record")
    response = handler.handler(event, LambdaContext())
    assert response == {"batchItemFailures": []}
    reasons = sorted(
        i["MessageAttributes"]["reason"]["StringValue"] for i in parked(rejected_queue)
    )
    assert "Records[1]: expected an object, got str" in reasons


def nested(depth: int) -> dict[str, Any]:
    """A message whose additional_context holds `depth` objects inside each other."""
    inner: dict[str, Any] = {}
    for _ in range(depth - 1):
        inner = {"a": inner}
    return message(1, additional_context=inner)


def nested_json(depth: int) -> str:
    head = json.dumps(message(1))[:-1]
    return head + ', "additional_context": ' + '{"a": ' * (depth - 1) + "{}" + "}" * depth


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [33, 40, 254, 255, 1000, 1025, 20_000])
def test_the_nesting_limit_is_the_same_on_every_path(
    topic: str, rejected_queue: str, depth: int
) -> None:
    assert json.loads(nested_json(40)) == nested(40)
    direct = handler.handler(nested(min(depth, 900)), LambdaContext())
    sqs = handler.handler(sqs_event([nested_json(depth)]), LambdaContext())
    eventbridge = handler.handler(eventbridge_event(nested_json(depth)), LambdaContext())

    assert direct["rejected"] == eventbridge["rejected"] == 1
    assert sqs == {"batchItemFailures": []}
    limit = "nested deeper than 32 levels"
    assert direct["results"][0]["errors"][0]["problem"] == limit
    (bridge_error,) = eventbridge["results"][0]["errors"]
    (sqs_reason,) = [
        i["MessageAttributes"]["reason"]["StringValue"] for i in parked(rejected_queue)
    ][:1]
    if depth <= 1024:  # orjson parses up to 1024 levels; deeper text is not JSON to it
        assert bridge_error["problem"] == limit
        assert bridge_error["field"].startswith("additional_context.a.a.a")
        assert sqs_reason.startswith("additional_context.a.a.a")
        assert sqs_reason.endswith(limit)
    else:
        assert bridge_error["field"] == "message"
        assert sqs_reason.startswith("message: ")


@pytest.mark.timeout(60)
def test_32_levels_are_accepted_on_every_path(kafka_broker: RelayedBroker, topic: str) -> None:
    assert handler.handler(nested(32), LambdaContext())["published"] == 1
    assert handler.handler(sqs_event([nested_json(32)]), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert handler.handler(eventbridge_event(nested_json(32)), LambdaContext())["published"] == 1
    assert len(values_on(kafka_broker, topic, 3)) == 3


def test_echoed_input_is_cut_short(topic: str, rejected_queue: str) -> None:
    huge = "x" * 1_000_000
    unknown = handler.handler(message(1, **{huge: 1}), LambdaContext())
    (error,) = unknown["results"][0]["errors"]
    assert error["field"].startswith("xxx")
    assert len(error["field"]) <= 80
    other_type = handler.handler(eventbridge_event(message(2), detail_type=huge), LambdaContext())
    (error,) = other_type["results"][0]["errors"]
    assert error["field"] == "detail-type"
    assert len(error["problem"]) < 200
    assert "1,000,000 characters" in error["problem"]
    assert len(json.dumps(unknown)) + len(json.dumps(other_type)) < 2_000
    reasons = [i["MessageAttributes"]["reason"]["StringValue"] for i in parked(rejected_queue)]
    assert reasons
    assert all(len(reason) < 400 for reason in reasons)


@pytest.mark.timeout(60)
def test_sqs_batch_publishes_valid_records_and_parks_invalid_ones(
    kafka_broker: RelayedBroker, topic: str, rejected_queue: str
) -> None:
    bodies = [
        json.dumps(message(1)),
        "not json at all",
        json.dumps(message(2)),
        json.dumps(message(3, ip_address="999.1.1.1")),
        json.dumps({"order_req_id": "SB1"}),
        json.dumps(message(4)),
    ]
    assert handler.handler(sqs_event(bodies), LambdaContext()) == {"batchItemFailures": []}

    on_topic = sorted(json.loads(v)["order_req_id"] for v in values_on(kafka_broker, topic, 3))
    assert on_topic == ["SB0000001", "SB0000002", "SB0000004"]
    rejected = {item["Body"]: item["MessageAttributes"] for item in parked(rejected_queue)}
    assert set(rejected) == {bodies[1], bodies[3], bodies[4]}
    assert rejected[bodies[1]]["reason"]["StringValue"].startswith("message: not valid JSON")
    assert "ip_address: '999.1.1.1' is not an IPv4" in rejected[bodies[3]]["reason"]["StringValue"]
    assert "s3_key: required" in rejected[bodies[4]]["reason"]["StringValue"]
    assert {attributes["origin"]["StringValue"] for attributes in rejected.values()} == {"sqs"}


@pytest.mark.timeout(60)
def test_sqs_invalid_records_that_cannot_be_parked_are_reported_failed(
    kafka_broker: RelayedBroker, topic: str, fake_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "REJECTED_QUEUE_URL", f"https://sqs.{REGION}.amazonaws.com/123456789012/does-not-exist"
    )
    bodies = [json.dumps(message(1)), "{}", json.dumps(message(2))]
    response = handler.handler(sqs_event(bodies), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert len(values_on(kafka_broker, topic, 2)) == 2


def test_sqs_without_a_rejected_queue_reports_invalid_records_failed(topic: str) -> None:
    response = handler.handler(sqs_event(["[1, 2]"]), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


@pytest.mark.timeout(60)
def test_sqs_batch_with_the_broker_unreachable_reports_only_valid_records_failed(
    kafka_broker: RelayedBroker, topic: str, rejected_queue: str
) -> None:
    kafka_broker.relay.blackhole()
    bodies = [json.dumps(message(1)), "oops", json.dumps(message(2))]
    response = handler.handler(sqs_event(bodies), LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]}
    assert len(parked(rejected_queue)) == 1


@pytest.mark.timeout(90)
def test_sqs_batch_cut_mid_way_reports_exactly_the_unacknowledged_records(
    kafka_broker: RelayedBroker, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One small request at a time, so that the batch is still being sent when the fault hits.
    monkeypatch.setenv("PRODUCER_BATCH_SIZE", "1024")
    monkeypatch.setenv("PRODUCER_LINGER_MS", "0")
    monkeypatch.setenv("PRODUCER_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION", "1")
    count = 1500
    event = sqs_event([json.dumps(message(index)) for index in range(count)])
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(handler.handler(event, LambdaContext()))
    )
    worker.start()
    kafka_broker.read_all(topic, expected=20, timeout=20)
    kafka_broker.relay.blackhole()
    worker.join(60)
    kafka_broker.relay.heal()

    failed = {item["itemIdentifier"] for item in outcome["batchItemFailures"]}
    reported_published = {f"SB{i:07d}" for i in range(count) if f"m-{i}" not in failed}
    on_broker = {json.loads(v)["order_req_id"] for v in values_on(kafka_broker, topic)}
    assert 20 <= len(reported_published) < count, "the fault did not land mid-batch"
    assert reported_published <= on_broker


# --- an unreachable rejected-messages queue -------------------------------------------------


@pytest.fixture
def silent_sqs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """An SQS endpoint that accepts TCP connections and never answers a byte: what the
    producer meets in a VPC with no path to SQS. Real boto3 clients, no moto."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with suppress(TimeoutError):
                held.append(server.accept()[0])

    acceptor = threading.Thread(target=accept, name="silent-sqs", daemon=True)
    acceptor.start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    throwaway_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint)
    monkeypatch.setenv("REJECTED_QUEUE_URL", f"{endpoint}/123456789012/rejected")
    try:
        yield endpoint
    finally:
        stop.set()
        acceptor.join(5)
        for connection in held:
            connection.close()
        server.close()


@pytest.mark.timeout(60)
def test_a_silent_rejected_queue_fails_only_the_invalid_record_and_answers_in_time(
    kafka_broker: RelayedBroker,
    topic: str,
    silent_sqs: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bodies = [json.dumps(message(index)) for index in range(9)]
    bodies.insert(4, "not json")
    context = LambdaContext()
    capsys.readouterr()
    started = time.monotonic()
    with captured_logs() as logs:
        response = handler.handler(sqs_event(bodies), context)
    elapsed = time.monotonic() - started

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-4"}]}
    on_topic = sorted(json.loads(v)["order_req_id"] for v in values_on(kafka_broker, topic, 9))
    assert on_topic == [f"SB{index:07d}" for index in range(9)]
    assert elapsed <= aws_clients.CALL_BUDGET_S + 5, f"{elapsed:.1f} s"
    assert elapsed < context.timeout_s / 3, f"{elapsed:.1f} s of a {context.timeout_s} s timeout"
    output = capsys.readouterr().out
    (blob,) = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    assert (blob["Published"], blob["Rejected"], blob["Failed"]) == ([9.0], [0.0], [1.0])
    assert blob["ParkingFailed"] == [1.0]
    assert "rejected messages could not be parked" in logs.getvalue()
    print(f"[silent-sqs] 9 valid + 1 invalid answered in {elapsed:.1f} s")


@pytest.mark.timeout(60)
def test_a_silent_rejected_queue_fails_an_asynchronous_invocation_fast(
    kafka_broker: RelayedBroker, topic: str, silent_sqs: str
) -> None:
    event = {"messages": [message(1), "{}", message(2)], "raise_on_failure": True}
    started = time.monotonic()
    with pytest.raises(handler.PublishFailedError, match="1 of 3 messages were not ackn"):
        handler.handler(event, LambdaContext())
    assert time.monotonic() - started <= aws_clients.CALL_BUDGET_S + 5
    assert len(values_on(kafka_broker, topic, 2)) == 2


@pytest.mark.timeout(60)
def test_a_rejected_event_not_parked_raises_for_lambdas_retries(
    kafka_broker: RelayedBroker, topic: str, silent_sqs: str
) -> None:
    event = eventbridge_event(message(3, user_id=""))
    with pytest.raises(handler.PublishFailedError, match="not acknowledged or parked") as raised:
        handler.handler(event, LambdaContext())
    assert "user_id: must not be empty" in str(raised.value)
    assert "parking it failed: ReadTimeoutError" in str(raised.value)


# --- EventBridge --------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_eventbridge_detail_is_published(kafka_broker: RelayedBroker, topic: str) -> None:
    response = handler.handler(eventbridge_event(message(5)), LambdaContext())
    assert response["results"][0]["status"] == "published"
    (value,) = values_on(kafka_broker, topic, 1)
    assert json.loads(value)["order_req_id"] == "SB0000005"


@pytest.mark.timeout(60)
def test_eventbridge_invalid_detail_or_type_is_parked_not_retried(
    topic: str, rejected_queue: str
) -> None:
    invalid = handler.handler(eventbridge_event(message(5, user_id="")), LambdaContext())
    assert invalid["results"][0]["errors"] == [{"field": "user_id", "problem": "must not be empty"}]
    other_type = handler.handler(eventbridge_event(message(6), "SomethingElse"), LambdaContext())
    assert other_type["results"][0]["errors"][0]["field"] == "detail-type"
    reasons = sorted(
        item["MessageAttributes"]["reason"]["StringValue"] for item in parked(rejected_queue)
    )
    assert reasons == [
        "detail-type: 'SomethingElse' is not 'DocumentAccessException'",
        "user_id: must not be empty",
    ]


@pytest.mark.timeout(60)
def test_eventbridge_unacknowledged_event_raises_for_lambdas_retries(
    kafka_broker: RelayedBroker, topic: str
) -> None:
    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    with pytest.raises(handler.PublishFailedError, match="was not acknowledged"):
        handler.handler(eventbridge_event(message(5)), LambdaContext())


# --- AWS: the secret, once per container --------------------------------------------------


@pytest.mark.timeout(60)
def test_the_secret_is_fetched_once_per_container_over_sasl_ssl(
    secure_kafka_broker: SaslSslBroker,
    fresh_topic: Callable[..., str],
    fake_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = secure_kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="AmazonMSK_document-exceptions",
        SecretString=json.dumps(
            {"username": secure_kafka_broker.username, "password": secure_kafka_broker.password}
        ),
    )["ARN"]
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("KAFKA_SECRET_ARN", secret_arn)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_BROKERS", secure_kafka_broker.bootstrap)
    monkeypatch.setenv("KAFKA_SSL_CAFILE", secure_kafka_broker.cafile)
    monkeypatch.setenv("KAFKA_TOPIC", name)
    calls: list[str] = []
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("GetSecretValue")
    )
    with captured_logs() as logs:
        for index in range(3):
            response = handler.handler(message(index), LambdaContext())
            assert response["published"] == 1, response
        assert handler.handler(sqs_event([json.dumps(message(9))]), LambdaContext()) == {
            "batchItemFailures": []
        }
    assert calls == ["GetSecretValue"]
    assert len(secure_kafka_broker.read_all(name, expected=4)) == 4
    assert secure_kafka_broker.password not in logs.getvalue()


@pytest.mark.timeout(60)
def test_with_iam_the_handler_signs_in_with_its_role_and_reads_no_secret(
    secure_kafka_broker: SaslSslBroker,
    fresh_topic: Callable[..., str],
    fake_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KAFKA_AUTH_MODE=iam as the construct sets it: the IAM broker string in
    KAFKA_BOOTSTRAP_BROKERS, no secret; the harness checks the SigV4 login."""
    name = secure_kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    for variable in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECRET_ARN"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in secure_kafka_broker.iam_client_env().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("KAFKA_TOPIC", name)
    calls: list[str] = []
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register(
        "before-call.secrets-manager", lambda event_name, **_: calls.append(event_name)
    )
    principals = len(secure_kafka_broker.front_end.iam_principals)
    response = handler.handler({"messages": [message(1), message(2)]}, LambdaContext())
    assert response["published"] == 2, response
    assert calls == []
    assert secure_kafka_broker.front_end.iam_principals[principals:]
    assert len(secure_kafka_broker.read_all(name, expected=2)) == 2


@pytest.mark.timeout(60)
def test_with_iam_a_refused_login_is_reported_failed_never_sent(
    secure_kafka_broker: SaslSslBroker,
    fresh_topic: Callable[..., str],
    fake_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = secure_kafka_broker.create_topic(fresh_topic(), partitions=1, replication_factor=1)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for variable, value in {**secure_kafka_broker.iam_client_env(), **FAST_PRODUCER_ENV}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-role-s-key")
    monkeypatch.setenv("KAFKA_TOPIC", name)
    monkeypatch.setattr(secure_kafka_broker.front_end, "failed_authentication_delay", 0.1)
    response = handler.handler({"messages": [message(1)]}, LambdaContext())
    assert response["published"] == 0, response
    (result,) = response["results"]
    assert result["status"] == "failed"
    assert "signature does not match" in (secure_kafka_broker.front_end.last_failure or "")
    assert secure_kafka_broker.read_all(name, timeout=2) == []


# --- logs and metrics ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_info_logs_hold_no_message_body_and_debug_logs_one_line_per_message(
    topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_text = "a very private error message"
    with captured_logs() as logs:
        handler.handler(
            {"messages": [message(1, error_message=secret_text), message(2)]}, LambdaContext()
        )
    info = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert secret_text not in logs.getvalue()
    assert [line["message"] for line in info] == ["direct invocation"]
    summary = info[-1]
    assert (summary["messages"], summary["published"], summary["rejected"]) == (2, 2, 0)

    handler.logger.setLevel("DEBUG")
    try:
        with captured_logs() as logs:
            handler.handler({"messages": [message(3, error_message=secret_text)]}, LambdaContext())
    finally:
        handler.logger.setLevel("INFO")
    debug = [json.loads(line) for line in logs.getvalue().splitlines()]
    published = [line for line in debug if line["message"] == "published"]
    assert [line["order_req_id"] for line in published] == ["SB0000003"]
    assert secret_text not in logs.getvalue()
    capsys.readouterr()


@pytest.mark.timeout(60)
def test_metrics_count_published_rejected_failed_and_latency(
    topic: str,
    rejected_queue: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capsys.readouterr()
    handler.handler(
        sqs_event([json.dumps(message(1)), "bad", json.dumps(message(2))]), LambdaContext()
    )
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (blob,) = blobs
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == handler.metrics.namespace
    assert {m["Name"] for m in directive["Metrics"]} == {
        "Published",
        "Rejected",
        "Failed",
        "PublishLatency",
    }
    assert (blob["Published"], blob["Rejected"], blob["Failed"]) == ([2.0], [1.0], [0.0])
    assert blob["PublishLatency"][0] > 0


def test_the_garbage_collector_is_tuned_only_inside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    default = gc.get_threshold()
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    handler.tune_garbage_collector()
    assert gc.get_threshold() == default
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "document-exceptions-producer")
    try:
        handler.tune_garbage_collector()
        assert gc.get_threshold()[0] == handler.GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*default)
