"""document_exceptions.app.sender / api against the real local broker (Tansu behind a relay).

Outages are made at the relay (refuse, cut, blackhole), never by restarting Tansu (its memory
storage and idempotent producers do not survive a restart; see local-broker.md).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, RecordListTooLargeError

from document_exceptions.app import api
from document_exceptions.app.settings import AppSettings
from document_exceptions.app.spool import Spool
from document_exceptions.app.transport import (
    DeliveryError,
    Outcome,
    UndeliverableError,
    is_permanent,
)
from document_exceptions.contract import ValidationError, prepare_record
from document_exceptions.kafka_connect import FailureKind, KafkaConnectError
from document_exceptions.publisher import NotAcknowledgedError
from document_exceptions.record import Record
from tests.app_helpers import FAST, configure_app, message_fields, order_ids

__all__ = ["configure_app"]  # a fixture

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(60)
def test_messages_reach_the_topic_exactly_as_the_contract_serializes_them(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    settings = configure_app(kafka_broker.bootstrap, topic)
    run = uuid.uuid4().hex[:8]
    for index in range(50):
        api.send_document_access_exception(**message_fields(run, index))
    result = api.flush(10)
    assert (result.delivered, result.spooled, result.pending) == (50, 0, 0)

    records = kafka_broker.read_all(topic, expected=50)
    assert order_ids(records) == Counter(f"{run}-{i}" for i in range(50))
    first = next(r for r in records if json.loads(r.value)["order_req_id"] == f"{run}-0")
    message = json.loads(first.value)
    expected = prepare_record(
        {**message_fields(run, 0), "timestamp": message["timestamp"]}, settings.contract
    )
    assert first.value == expected.record.value
    assert first.key == expected.record.key == b"DocumentAccessLog"
    assert dict(first.headers) == dict(expected.record.headers)
    stats = api.stats()
    assert stats["delivered"] == 50
    assert stats["spool_size"] == 0


@pytest.mark.timeout(30)
def test_invalid_fields_raise_a_validation_error_at_once_and_are_counted(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    configure_app(kafka_broker.bootstrap, fresh_topic())
    with pytest.raises(ValidationError) as raised:
        api.send_document_access_exception(
            order_req_id="SB1", s3_key="", user_id="u", exception_type="Access Denied"
        )
    assert set(raised.value.fields) == {"s3_key", "exception_type", "error_message"}
    with pytest.raises(ValidationError) as raised:
        api.send_document_access_exception(**message_fields("x", 1), userid="typo")
    assert raised.value.fields == ("userid",)
    assert api.stats()["validation_errors"] == 2
    assert api.stats()["submitted"] == 0


@pytest.mark.timeout(60)
def test_threads_sending_at_once_lose_nothing(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic)
    run = uuid.uuid4().hex[:8]
    start = threading.Barrier(8)

    def send(thread: int) -> None:
        start.wait()
        for index in range(250):
            api.send_document_access_exception(**message_fields(f"{run}-{thread}", index))

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert api.flush(20).pending == 0
    records = kafka_broker.read_all(topic, expected=2000, timeout=20)
    assert order_ids(records) == Counter(f"{run}-{t}-{i}" for t in range(8) for i in range(250))


@pytest.mark.timeout(60)
def test_send_never_waits_for_a_broker_that_does_not_answer(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    """Blackholed broker: calls return at once, flush spools, every message arrives later.

    At-least-once: the blackholed bytes may reach the broker after the heal although the
    producer gave up on them, so a message can be on the topic twice; none may be missing.
    """
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic)
    run = uuid.uuid4().hex[:8]
    api.send_document_access_exception(**message_fields(run, 0))
    assert api.flush(10).delivered == 1  # connected before the outage

    kafka_broker.relay.blackhole()
    slowest = 0.0
    for index in range(1, 41):
        started = time.perf_counter()
        api.send_document_access_exception(**message_fields(run, index))
        slowest = max(slowest, time.perf_counter() - started)
    result = api.flush(0.5)
    assert result.pending == 0
    assert result.delivered == 0
    assert result.spooled == 40
    # Not a speed check (bench/ measures that): a send that waited for the broker would take
    # at least PRODUCER_MAX_BLOCK_MS (2 s) here.
    assert slowest < 1.0, f"a send took {slowest:.3f}s with the broker blackholed"

    kafka_broker.relay.heal()
    assert api.drain_spool(30)
    records = kafka_broker.read_all(topic, expected=41, timeout=15)
    found = order_ids(records)
    assert set(found) == {f"{run}-{i}" for i in range(41)}
    stats = api.stats()
    assert stats["replayed"] + stats["late_deliveries"] == 40
    assert stats["spool_size"] == 0


@pytest.mark.timeout(60)
def test_a_full_buffer_spools_by_default_and_loses_nothing(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic, DOCUMENT_EXCEPTIONS_BUFFER_SIZE="5")
    run = uuid.uuid4().hex[:8]
    api.send_document_access_exception(**message_fields(run, 0))
    assert api.flush(10).delivered == 1

    kafka_broker.relay.blackhole()
    api.send_document_access_exception(**message_fields(run, 1))
    deadline = time.monotonic() + 5
    while api.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the delivery thread now waits for the blackholed broker
    for index in range(2, 30):
        api.send_document_access_exception(**message_fields(run, index))
    stats = api.stats()
    assert stats["buffer_full"] == 23
    assert stats["spooled"] >= 23
    assert stats["dropped"] == 0

    kafka_broker.relay.heal()
    assert api.flush(10).pending == 0
    assert api.drain_spool(30)
    found = order_ids(kafka_broker.read_all(topic, expected=30, timeout=15))
    assert set(found) == {f"{run}-{i}" for i in range(30)}


class GatedTransport:
    """A transport that holds every batch until ``gate`` opens, then reports success."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.busy = threading.Event()
        self.delivered: list[bytes] = []

    def deliver(self, records: Sequence[Record]) -> list[Outcome]:
        self.busy.set()
        self.gate.wait(10)
        self.delivered.extend(record.value for record in records)
        return [None] * len(records)

    def close(self, timeout: float) -> None:
        self.gate.set()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("policy", "survivors"),
    [("drop_oldest", [0, 7, 8, 9]), ("drop_newest", [0, 1, 2, 3])],
)
def test_drop_policies_drop_and_count_the_documented_messages(
    tmp_path: Path, policy: str, survivors: list[int]
) -> None:
    transport = GatedTransport()
    api.configure(
        {
            "KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9"]',
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
            "DOCUMENT_EXCEPTIONS_BUFFER_SIZE": "3",
            "DOCUMENT_EXCEPTIONS_FULL_BUFFER_POLICY": policy,
        },
        environ={},
        django={},
        transport_factory=lambda settings: transport,
    )
    try:
        api.send_document_access_exception(**message_fields("p", 0))
        assert transport.busy.wait(5)
        for index in range(1, 10):
            api.send_document_access_exception(**message_fields("p", index))
        stats = api.stats()
        assert (stats["buffer_full"], stats["dropped"], stats["spooled"]) == (6, 6, 0)
        transport.gate.set()
        assert api.flush(5).pending == 0
        delivered = [json.loads(value)["order_req_id"] for value in transport.delivered]
        assert delivered == [f"p-{i}" for i in survivors]
    finally:
        api.shutdown(timeout=1)


MessageSizeLookalike = type("MessageSizeTooLargeError", (Exception,), {})


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (MessageSizeTooLargeError("from send()"), True),
        (RecordListTooLargeError(), True),
        (UndeliverableError("larger than an asynchronous invocation"), True),
        (KafkaTimeoutError("Expiring 5 record(s)"), False),
        (NotAcknowledgedError("not acknowledged in time"), False),
        (KafkaConnectError(FailureKind.TIMEOUT, "no broker answered", "the network"), False),
        (DeliveryError("throttled"), False),
        (MessageSizeLookalike("same name, another type"), False),
    ],
)
def test_permanent_is_decided_by_the_exceptions_type_not_its_name(
    error: BaseException, permanent: bool
) -> None:
    assert is_permanent(error) is permanent


class OneTooLargeTransport:
    """Refuses the record whose order id is ``refused`` as the broker would (too large)."""

    name = "one-too-large"

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.delivered: list[str] = []

    def deliver(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for record in records:
            order = json.loads(record.value)["order_req_id"]
            if order == self.refused:
                outcomes.append(MessageSizeTooLargeError("larger than the broker accepts"))
            else:
                self.delivered.append(order)
                outcomes.append(None)
        return outcomes

    def close(self, timeout: float) -> None:
        """Nothing to release."""


@pytest.mark.timeout(30)
def test_a_record_the_broker_refuses_as_too_large_is_set_aside_with_its_error(
    tmp_path: Path,
) -> None:
    transport = OneTooLargeTransport("big-1")
    api.configure(
        {
            "KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9"]',
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
        },
        environ={},
        django={},
        transport_factory=lambda settings: transport,
    )
    try:
        for index in range(3):
            api.send_document_access_exception(**message_fields("big", index))
        assert api.flush(5).pending == 0
        stats = api.stats()
    finally:
        api.shutdown(timeout=1)
    assert transport.delivered == ["big-0", "big-2"]
    assert (stats["rejected"], stats["spool_size"], stats["healthy"]) == (1, 0, True)
    [(record, reason)] = Spool(tmp_path).rejected()
    assert json.loads(record.value)["order_req_id"] == "big-1"
    assert reason.startswith("MessageSizeTooLargeError: ")
    assert reason.endswith("larger than the broker accepts")


def run_script(env: dict[str, str], *args: str, timeout: float = 40) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "app_sender_process.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def process_env(bootstrap: str, topic: str, spool_dir: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DOCUMENT_"))},
        "PYTHONPATH": os.pathsep.join([str(ROOT)]),
        "KAFKA_BOOTSTRAP_SERVERS": json.dumps([bootstrap]),
        "KAFKA_TOPIC": topic,
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(spool_dir),
        **FAST,
    }


@pytest.mark.timeout(90)
def test_an_outage_spools_and_a_restarted_process_delivers_every_message_exactly_once(
    kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    """Broker refused → process 1 sends, flushes: all spooled. Broker back → process 2
    replays the spool at start: every message on the topic.

    Exactly once *here*: the relay refused every connection, so no byte of process 1's
    records reached the broker, and process 2 sends each spooled record once and deletes it
    after the acknowledgement. The general guarantee is at-least-once (see sender.py).
    """
    topic = kafka_broker.create_topic(fresh_topic())
    env = process_env(kafka_broker.bootstrap, topic, tmp_path / "spool")
    run = uuid.uuid4().hex[:8]

    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    sent = run_script(env, "send", run, "60")
    assert sent["spooled"] == 60
    assert sent["pending"] == 0
    assert sent["delivered"] == 0
    assert sent["exit_spool_size"] == 60

    kafka_broker.relay.heal()
    replayed = run_script(env, "replay", run, "0")
    assert replayed["drained"] is True
    assert replayed["replayed"] == 60
    assert replayed["spool_size"] == 0

    found = order_ids(kafka_broker.read_all(topic, expected=60, timeout=15))
    assert found == Counter(f"{run}-{i}" for i in range(60))


def healthy_process_env(bootstrap: str, topic: str, spool_dir: Path) -> dict[str, str]:
    """`process_env` with the timeouts of a healthy deployment instead of FAST's short ones:
    for tests where the broker is up, so a slow child on a loaded machine is no outage."""
    return {
        **process_env(bootstrap, topic, spool_dir),
        "PRODUCER_BOOTSTRAP_TIMEOUT_MS": "15000",
        "PRODUCER_REQUEST_TIMEOUT_MS": "10000",
        "PRODUCER_DELIVERY_TIMEOUT_MS": "20000",
        "DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT": "30",
    }


@pytest.mark.timeout(120)
def test_the_exit_hook_delivers_what_is_pending_when_the_process_ends(
    kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    env = healthy_process_env(kafka_broker.bootstrap, topic, tmp_path / "spool")
    run = uuid.uuid4().hex[:8]
    ended = run_script(env, "send-and-exit", run, "300", timeout=60)
    assert ended["submitted"] == 300
    spooled = Spool(tmp_path / "spool").count()
    found = order_ids(kafka_broker.read_all(topic, expected=300, timeout=15))
    assert (spooled, found) == (0, Counter(f"{run}-{i}" for i in range(300)))


@pytest.mark.timeout(120)
def test_the_exit_hook_delivers_records_queued_before_the_producer_exists(
    kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    """The process queues its records and exits while its sender is still starting (the
    transport is ready 1.5 s after the first record, as on a loaded machine): the exit hook,
    registered with the first record, waits for the transport and delivers them."""
    topic = kafka_broker.create_topic(fresh_topic())
    env = healthy_process_env(kafka_broker.bootstrap, topic, tmp_path / "spool")
    run = uuid.uuid4().hex[:8]
    ended = run_script(env, "send-and-exit-slow-start", run, "50", timeout=60)
    assert ended["submitted"] == 50
    spooled = Spool(tmp_path / "spool").count()
    found = order_ids(kafka_broker.read_all(topic, expected=50, timeout=15))
    assert (spooled, found) == (0, Counter(f"{run}-{i}" for i in range(50)))


def _send_in_forked_child(run: str, results: multiprocessing.Queue) -> None:
    api.send_document_access_exception(**message_fields(run, 1))
    flushed = api.flush(10)
    results.put((flushed.delivered, api.stats()["submitted"], os.getpid()))


@pytest.mark.timeout(60)
def test_a_forked_child_gets_its_own_sender_and_the_parent_keeps_working(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic)
    run = uuid.uuid4().hex[:8]
    api.send_document_access_exception(**message_fields(run, 0))
    assert api.flush(10).delivered == 1  # the parent's thread and producer are running
    parent_sender = api.get_sender()

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_send_in_forked_child, args=(run, results))
    child.start()
    delivered, submitted, child_pid = results.get(timeout=30)
    child.join(10)
    assert child.exitcode == 0
    assert child_pid != os.getpid()
    assert (delivered, submitted) == (1, 1)  # nothing of the parent's state came along

    api.send_document_access_exception(**message_fields(run, 2))
    assert api.flush(10).delivered == 1
    assert api.get_sender() is parent_sender
    found = order_ids(kafka_broker.read_all(topic, expected=3))
    assert found == Counter(f"{run}-{i}" for i in range(3))


@pytest.mark.timeout(60)
def test_sasl_ssl_scram_from_the_seeds_variables(
    secure_kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
) -> None:
    topic = secure_kafka_broker.create_topic(fresh_topic())
    api.configure(
        {
            **secure_kafka_broker.client_env(),
            "KAFKA_TOPIC": topic,
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
            **FAST,
        },
        environ={},
        django={},
    )
    try:
        run = uuid.uuid4().hex[:8]
        api.send_document_access_exception(**message_fields(run, 0))
        assert api.flush(15).delivered == 1
    finally:
        api.shutdown(timeout=2)
    found = order_ids(secure_kafka_broker.read_all(topic, expected=1))
    assert found == Counter([f"{run}-0"])
