"""Faults with the real local broker: nothing sent is lost, and nothing hangs.

Outages are made in front of Tansu (the harness relay or the SASL_SSL front-end: cut the
open connections and refuse new ones, or blackhole them), never by restarting it. After the
fault heals, what was reported failed is delivered again the way production does it (SQS
redelivers the batchItemFailures, a direct caller re-sends its failed messages, the app-side
library replays its spool); then the set of messages on the topic must equal the set sent.
Delivery is at-least-once: a record whose acknowledgement was lost in the cut is sent again,
so duplicates are counted and reported, and only missing messages fail the test.

The second half gives every path wrong credentials, an untrusted CA, or brokers that refuse
or never answer, and measures that each fails within its configured timeout with an error
that says what to check.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from document_exceptions import cli
from tests.figures import report_figures
from tests.harness import make_tls_files
from tests.ops_helpers import (
    LambdaContext,
    message_fields,
    order_ids,
    sqs_event_for,
    without_kafka_environment,
)
from tests.topic_bootstrap_asset import load
from tests.topic_events import cloudformation_event, topic_properties

# Every wait of the producer bounded by a few seconds, so an outage resolves within the test.
FAST_PRODUCER = {
    "PRODUCER_DELIVERY_TIMEOUT_MS": "3000",
    "PRODUCER_REQUEST_TIMEOUT_MS": "1500",
    "PRODUCER_MAX_BLOCK_MS": "2000",
    "PRODUCER_BOOTSTRAP_TIMEOUT_MS": "2000",
}
# One small request in flight at a time stretches a few thousand records over about a second
# of round trips, so an outage started after the first acknowledgements lands mid-batch.
STRETCHED = {
    "PRODUCER_BATCH_SIZE": "4096",
    "PRODUCER_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION": "1",
    "PRODUCER_LINGER_MS": "0",
}
MAX_ROUNDS = 5
MARGIN_S = 3.0  # slack on top of a configured timeout: thread start-up, a busy machine


# --- helpers -----------------------------------------------------------------------------------


class OutageAfter:
    """Watches the topic and, once ``count`` records are on it, cuts every connection
    through the broker's relay and refuses new ones (until the test heals it)."""

    def __init__(self, broker: Any, topic: str, count: int) -> None:
        self.broker = broker
        self.topic = topic
        self.count = count
        self.started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="outage-after", daemon=True)

    def __enter__(self) -> OutageAfter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        consumer = KafkaConsumer(
            **self.broker.kafka_python_config(), enable_auto_commit=False, group_id=None
        )
        try:
            partitions = [
                TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic)
            ]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            seen = 0
            while not self._stop.is_set() and seen < self.count:
                seen += sum(len(batch) for batch in consumer.poll(timeout_ms=20).values())
            if seen >= self.count:
                self.broker.relay.refuse()
                self.broker.relay.cut()
                self.started.set()
        finally:
            consumer.close()


def read_everything(broker: Any, topic: str) -> Counter[str]:
    """Every record of the topic by order id (no `expected` count: duplicates would make
    such a read stop before the last records)."""
    return order_ids(broker.read_all(topic, timeout=30))


def within(seconds: float, call: Callable[[], Any], what: str) -> tuple[Any, float]:
    """``call()``'s result and duration; fails the test (instead of hanging it) when it has
    not returned after ``seconds``. A hung call is left behind in a daemon thread."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, name=f"within-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - started
    if worker.is_alive():
        pytest.fail(f"{what} hangs: no answer after {seconds:g} s", pytrace=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], elapsed


def duplicates(counts: Counter[str]) -> int:
    return sum(count - 1 for count in counts.values())


@pytest.fixture
def producer_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``use(env)``: the producer handler module configured with ``env`` (fresh runtime)."""
    import handler  # noqa: PLC0415 - lambda_src/handler.py, the Lambda's entry module

    def use(environment: dict[str, str]) -> Any:
        without_kafka_environment(monkeypatch)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        handler.reset()
        return handler

    yield use
    # A publish left hanging by a test holds the publisher's lock: reset within a bound, and
    # if that does not work, forget the runtime so the next test starts clean.
    resetting = threading.Thread(target=handler.reset, name="handler-reset", daemon=True)
    resetting.start()
    resetting.join(15)
    if resetting.is_alive():
        handler._runtime = None  # the hung runtime is abandoned with its thread


def plain_env(broker: Any, topic: str, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": json.dumps([broker.bootstrap]),
        "KAFKA_TOPIC": topic,
        **FAST_PRODUCER,
        **extra,
    }


def bodies(run: str, count: int) -> list[tuple[str, str]]:
    return [(f"{run}-{i}", json.dumps(message_fields(run, i))) for i in range(count)]


# --- outages during delivery -------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_relay_cut_during_an_sqs_batch_then_redelivery_loses_nothing(
    kafka_broker: Any,
    fresh_topic: Any,
    producer_handler: Callable[..., Any],
    request: pytest.FixtureRequest,
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    handler = producer_handler(plain_env(kafka_broker, topic, **STRETCHED))
    run = uuid.uuid4().hex[:8]
    pending = bodies(run, 3000)
    rounds: list[tuple[int, int]] = []

    with OutageAfter(kafka_broker, topic, count=150) as outage:
        response = handler.handler(sqs_event_for(pending), LambdaContext())
    assert outage.started.is_set(), "the outage never started"
    kafka_broker.relay.heal()
    while True:
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        rounds.append((len(pending), len(failed)))
        pending = [record for record in pending if record[0] in failed]
        if not pending or len(rounds) == MAX_ROUNDS:
            break
        response = handler.handler(sqs_event_for(pending), LambdaContext())  # SQS redelivers

    first_total, first_failed = rounds[0]
    assert 0 < first_failed < first_total, f"the cut did not land mid-batch: {rounds}"
    assert pending == [], f"still failing after {MAX_ROUNDS} deliveries: {rounds}"
    on_topic = read_everything(kafka_broker, topic)
    assert set(on_topic) == {f"{run}-{i}" for i in range(3000)}
    report_figures(
        request,
        "sqs-batch-cut",
        {
            "sent": 3000,
            "failed_in_outage": first_failed,
            "deliveries": len(rounds),
            "on_topic": sum(on_topic.values()),
            "duplicates": duplicates(on_topic),
        },
    )


@pytest.mark.timeout(90)
def test_relay_cut_during_a_direct_invoke_then_resending_the_failed_loses_nothing(
    kafka_broker: Any,
    fresh_topic: Any,
    producer_handler: Callable[..., Any],
    request: pytest.FixtureRequest,
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    handler = producer_handler(plain_env(kafka_broker, topic, **STRETCHED))
    run = uuid.uuid4().hex[:8]
    pending = [message_fields(run, i) for i in range(2000)]
    rounds: list[tuple[int, int]] = []

    with OutageAfter(kafka_broker, topic, count=150) as outage:
        response = handler.handler({"messages": pending}, LambdaContext())
    assert outage.started.is_set(), "the outage never started"
    kafka_broker.relay.heal()
    while True:
        results = response["results"]
        assert {result["status"] for result in results} <= {"published", "failed"}
        for result in results:
            if result["status"] == "published":
                assert isinstance(result["partition"], int)
                assert isinstance(result["offset"], int)
            else:
                assert result["error"]  # says why, never a stack trace
        failed = [pending[r["index"]] for r in results if r["status"] == "failed"]
        rounds.append((len(pending), len(failed)))
        pending = failed
        if not pending or len(rounds) == MAX_ROUNDS:
            break
        response = handler.handler({"messages": pending}, LambdaContext())  # the caller retries

    first_total, first_failed = rounds[0]
    assert 0 < first_failed < first_total, f"the cut did not land mid-invoke: {rounds}"
    assert pending == [], f"still failing after {MAX_ROUNDS} invocations: {rounds}"
    on_topic = read_everything(kafka_broker, topic)
    assert set(on_topic) == {f"{run}-{i}" for i in range(2000)}
    report_figures(
        request,
        "direct-invoke-cut",
        {
            "sent": 2000,
            "failed_in_outage": first_failed,
            "invocations": len(rounds),
            "on_topic": sum(on_topic.values()),
            "duplicates": duplicates(on_topic),
        },
    )


@pytest.fixture
def app_library(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``configure(overrides)``: the app-side library's process-wide API, shut down after."""
    from document_exceptions.app import api  # noqa: PLC0415

    def configure(overrides: dict[str, str]) -> Any:
        settings = {
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path / "spool"),
            "DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL": "0.3",
            "DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT": "5",
            **FAST_PRODUCER,
            **overrides,
        }
        api.configure(settings, environ={}, django={})
        return api

    yield configure
    api.shutdown(timeout=2)


@pytest.mark.timeout(90)
def test_relay_cut_under_the_library_sender_then_spool_replay_loses_nothing(
    kafka_broker: Any,
    fresh_topic: Any,
    app_library: Callable[..., Any],
    request: pytest.FixtureRequest,
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    api = app_library(
        {
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([kafka_broker.bootstrap]),
            "KAFKA_TOPIC": topic,
            **STRETCHED,
        }
    )
    run = uuid.uuid4().hex[:8]

    with OutageAfter(kafka_broker, topic, count=150) as outage:
        for index in range(1500):
            api.send_document_access_exception(**message_fields(run, index))
        assert outage.started.wait(20), "the outage never started"
    for index in range(1500, 1700):  # sent while the brokers are unreachable
        api.send_document_access_exception(**message_fields(run, index))
    during = api.flush(timeout=8)  # what could not be delivered is in the spool now
    kafka_broker.relay.heal()
    assert api.drain_spool(timeout=40), f"spool not replayed: {api.stats()}"
    stats = api.stats()

    assert during.spooled > 0, f"the outage did not reach the sender: {stats}"
    on_topic = read_everything(kafka_broker, topic)
    assert set(on_topic) == {f"{run}-{i}" for i in range(1700)}
    assert stats["spool_size"] == 0
    report_figures(
        request,
        "library-sender-cut",
        {
            "sent": 1700,
            "spooled": stats["spooled"],
            "replayed": stats["replayed"],
            "on_topic": sum(on_topic.values()),
            "duplicates": duplicates(on_topic),
        },
    )


# --- bad settings and unreachable brokers: fail in time, say what to check -------------------

FAULTS = ("wrong-password", "wrong-ca", "refuse", "blackhole")
BOOTSTRAP_S = 2.0


@pytest.fixture
def faulty_env(
    secure_kafka_broker: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """The seed's variables for the SASL_SSL broker, broken as the test's ``fault`` says.

    Request it after the fixtures of the code under test: it heals the front-end first on
    teardown, so a call left hanging by the test can finish before they clean up."""
    fault = request.node.callspec.params["fault"]
    environment = secure_kafka_broker.client_env()
    if fault == "wrong-password":
        environment["KAFKA_SASL_PASSWORD"] = "not-the-password"
    elif fault == "wrong-ca":
        environment["KAFKA_SSL_CAFILE"] = str(make_tls_files(tmp_path / "other-ca").ca_cert)
    else:
        getattr(secure_kafka_broker.relay, fault)()
    yield environment
    secure_kafka_broker.relay.heal()


# What each failure must point the operator to (a phrase of the error), per fault: the same
# for the producer handler and the app library.
CLIENT_HINTS = {
    "wrong-password": "rejected the SASL/SCRAM-SHA-512 login",
    "wrong-ca": "is not trusted",
    # The front-end accepts, then closes a refused connection during the TLS handshake.
    "refuse": "closed the connection during the TLS handshake",
    "blackhole": "no answer from the brokers",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", FAULTS)
def test_producer_handler_fails_in_time_saying_what_to_check(
    fault: str,
    producer_handler: Callable[..., Any],
    fresh_topic: Any,
    caplog: pytest.LogCaptureFixture,
    faulty_env: dict[str, str],
) -> None:
    handler = producer_handler({**faulty_env, "KAFKA_TOPIC": fresh_topic(), **FAST_PRODUCER})
    run = uuid.uuid4().hex[:8]

    # Two invocations, each bounded by the bootstrap timeout (a rejected login is retried
    # once with the secret read again).
    bound = 2 * (2 * BOOTSTRAP_S) + MARGIN_S

    def invoke_twice() -> tuple[Any, Any]:
        direct = handler.handler({"messages": [message_fields(run, 0)]}, LambdaContext())
        return direct, handler.handler(sqs_event_for(bodies(run, 3)), LambdaContext())

    (direct, batch), _ = within(bound, invoke_twice, "the producer handler")

    (result,) = direct["results"]
    assert result["status"] == "failed"
    # The caller gets a generic reason; what to check (brokers, login) is in the log.
    assert result["error"] == handler.publishing.BROKER_ERROR
    logged = [r for r in caplog.records if r.getMessage() == "messages not published"]
    assert any(CLIENT_HINTS[fault] in " ".join(r.errors) for r in logged), logged
    assert sorted(item["itemIdentifier"] for item in batch["batchItemFailures"]) == [
        f"{run}-{i}" for i in range(3)
    ]  # every record is retried by SQS: nothing reported published


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", FAULTS)
def test_library_sender_keeps_the_message_and_logs_what_to_check(
    fault: str,
    app_library: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    fresh_topic: Any,
    faulty_env: dict[str, str],
) -> None:
    api = app_library({**faulty_env, "KAFKA_TOPIC": fresh_topic()})
    caplog.set_level(logging.WARNING, logger="document_exceptions")

    _, sent_in = within(
        1.0, lambda: api.send_document_access_exception(**message_fields("lib", 0)), "sending"
    )
    flushed, _ = within(
        2 * BOOTSTRAP_S + MARGIN_S, lambda: api.flush(timeout=2 * BOOTSTRAP_S), "flush"
    )

    assert sent_in < 0.1  # the request path never waits for the broker
    assert flushed.pending == 0
    assert api.stats()["spool_size"] == 1  # kept for replay, not lost
    assert CLIENT_HINTS[fault] in caplog.text, caplog.text


TOPIC_BOOTSTRAP_HINTS = {
    "wrong-password": ("the SCRAM secret is associated with the cluster",),
    "wrong-ca": ("brokers' certificate authority is trusted",),
    # The front-end closes a refused connection during the TLS handshake: reported either
    # as unreachable or as a failed handshake, each with its checks.
    "refuse": ("security group allows", "the broker string is the SASL/SCRAM one"),
    "blackhole": ("security group allows",),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", FAULTS)
def test_topic_bootstrap_handler_fails_within_its_timeout_saying_what_to_check(
    fault: str,
    faulty_env: dict[str, str],
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic_handler = load("handler")
    topic_admin = load("topic_admin")
    without_kafka_environment(monkeypatch)
    for name, value in faulty_env.items():
        monkeypatch.setenv(name, value)
    timeout_s = 10  # the smallest TimeoutSeconds the resource accepts
    event = cloudformation_event(
        "Create",
        topic_properties(
            TopicName=fresh_topic(), ReplicationFactor="1", TimeoutSeconds=str(timeout_s)
        ),
    )

    with pytest.raises(topic_admin.TopicAdminError) as failed:
        within(
            timeout_s + MARGIN_S,
            lambda: topic_handler.on_event(event, LambdaContext(timeout_s=300)),
            "the topic bootstrap handler",
        )

    message = str(failed.value)
    assert any(hint in message for hint in TOPIC_BOOTSTRAP_HINTS[fault]), message
    assert "Check that" in message


DOCTOR_HINTS = {
    "wrong-password": "password",
    "wrong-ca": "--cafile",
    "refuse": "security group",
    "blackhole": "security group",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", FAULTS)
def test_cli_doctor_fails_within_its_timeout_saying_what_to_check(
    fault: str,
    faulty_env: dict[str, str],
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    for name, value in faulty_env.items():
        monkeypatch.setenv(name, value)

    argv = ["doctor", "--topic", fresh_topic(), "--timeout", str(BOOTSTRAP_S), "--json"]
    code, _ = within(BOOTSTRAP_S + MARGIN_S, lambda: cli.main(argv), "cli doctor")

    assert code == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    (failed,) = [check for check in checks if check["status"] == "failed"]
    assert failed["check"] == "brokers accept the login (TLS + SASL/SCRAM)"
    assert DOCTOR_HINTS[fault] in failed["hint"], failed
    assert checks[-1]["status"] == "skipped"  # no topic check without a login
