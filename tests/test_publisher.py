"""The publisher against a real (Tansu) broker: acknowledgements, faults, SASL_SSL, settings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.errors import (
    MessageSizeTooLargeError,
)

from document_exceptions.connection import ConfigurationError, ConnectionResolver
from document_exceptions.contract import ContractSettings, prepare_record
from document_exceptions.kafka_connect import KafkaConnectError
from document_exceptions.publisher import (
    ProducerSettings,
    ProducerSettingsError,
    Publisher,
    PublishResult,
)
from document_exceptions.record import Record as WireRecord
from tests.guide_examples import GUIDE_EXAMPLES
from tests.harness.broker import free_port
from tests.harness.relay import Record, RelayedBroker
from tests.harness.sasl_front_end import SaslSslBroker, ScramCredential

# Fail within a couple of seconds instead of the production timeouts (tens of seconds).
FAST = {
    "request_timeout_ms": 1000,
    "delivery_timeout_ms": 2000,
    "max_block_ms": 2000,
    "bootstrap_timeout_ms": 2000,
    "reconnect_backoff_max_ms": 200,
}


def messages(count: int, prefix: str = "SB") -> list[dict[str, Any]]:
    return [
        {
            "order_req_id": f"{prefix}{index:06d}",
            "s3_key": f"documents/user{index}/file.pdf",
            "user_id": f"user{index}",
            "exception_type": "download_failed",
            "error_message": f"download {index} failed",
        }
        for index in range(count)
    ]


def prepared(fields: list[dict[str, Any]], topic: str, **contract: Any) -> list[WireRecord]:
    """Prepared for `topic` (a message naming its topic, like the seed's, is moved there)."""
    settings = ContractSettings(topic=topic, **contract)
    return [
        prepare_record(item | ({"topic": topic} if "topic" in item else {}), settings).record
        for item in fields
    ]


def make_publisher(
    environ: dict[str, str], topic: str, **overrides: Any
) -> tuple[Publisher, ConnectionResolver]:
    resolver = ConnectionResolver(environ)
    publisher = Publisher(resolver, ProducerSettings(**overrides), ContractSettings(topic=topic))
    return publisher, resolver


def plain_env(broker: RelayedBroker) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": json.dumps([broker.bootstrap])}


@pytest.fixture
def topic(kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]) -> str:
    return kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)


@pytest.fixture
def publisher(kafka_broker: RelayedBroker, topic: str) -> Iterator[Publisher]:
    publisher, _ = make_publisher(plain_env(kafka_broker), topic, **FAST)
    yield publisher
    publisher.close()


def by_position(records: list[Record]) -> dict[tuple[int, int], Record]:
    return {(record.partition, record.offset): record for record in records}


def assert_published_records_are_on_the_broker(
    broker: RelayedBroker, topic: str, sent: list[WireRecord], results: list[PublishResult]
) -> dict[tuple[int, int], Record]:
    """Every record reported published is on the broker at its partition and offset, intact."""
    published = [(r, result) for r, result in zip(sent, results, strict=True) if result.published]
    stored = by_position(broker.read_all(topic, expected=None, timeout=10))
    for record, result in published:
        found = stored.get((result.partition, result.offset))
        assert found is not None, f"reported published at {result} but not on the broker"
        assert (found.key, found.value, found.headers) == (record.key, record.value, record.headers)
    return stored


# --- publishing ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_results_carry_the_brokers_partition_and_offset(
    kafka_broker: RelayedBroker, topic: str, publisher: Publisher
) -> None:
    sent = prepared([*GUIDE_EXAMPLES.values(), *messages(20)], topic)
    results = publisher.publish(sent)
    assert all(result.published for result in results)
    assert all(result.error is None for result in results)
    stored = assert_published_records_are_on_the_broker(kafka_broker, topic, sent, results)
    assert len(stored) == len(sent)
    assert {result.partition for result in results} == {0} or len(
        {r.partition for r in results}
    ) == 1


@pytest.mark.timeout(60)
def test_key_by_order_spreads_over_partitions(kafka_broker: RelayedBroker, topic: str) -> None:
    publisher = Publisher(
        ConnectionResolver(plain_env(kafka_broker)),
        ProducerSettings(**FAST),
        ContractSettings(topic=topic, key_by="order_req_id"),
    )
    sent = prepared(messages(30), topic, key_by="order_req_id")
    results = publisher.publish(sent)
    publisher.close()
    assert len({result.partition for result in results}) > 1
    assert_published_records_are_on_the_broker(kafka_broker, topic, sent, results)


@pytest.mark.timeout(60)
def test_one_producer_is_made_lazily_and_reused(
    kafka_broker: RelayedBroker, topic: str, publisher: Publisher
) -> None:
    assert not publisher.has_producer
    assert publisher.publish([]) == []
    assert not publisher.has_producer
    first = publisher.publish(prepared(messages(2), topic))
    second = publisher.publish(prepared(messages(2, "SC"), topic))
    assert all(result.published for result in first + second)
    assert publisher.producers_created == 1
    offsets = sorted(result.offset for result in first + second)
    assert offsets == sorted(set(offsets))


def test_creating_a_publisher_connects_to_nothing() -> None:
    environ = {"KAFKA_BOOTSTRAP_SERVERS": json.dumps([f"127.0.0.1:{free_port()}"])}
    publisher = Publisher.from_environment(environ)
    assert not publisher.has_producer
    assert publisher.producers_created == 0


@pytest.mark.timeout(30)
def test_unreachable_brokers_fail_every_record_with_a_clear_error(topic: str) -> None:
    environ = {"KAFKA_BOOTSTRAP_SERVERS": json.dumps([f"127.0.0.1:{free_port()}"])}
    publisher, _ = make_publisher(environ, topic, **{**FAST, "bootstrap_timeout_ms": 1000})
    started = time.monotonic()
    results = publisher.publish(prepared(messages(3), topic))
    assert time.monotonic() - started < 5
    assert [result.published for result in results] == [False] * 3
    assert isinstance(results[0].error, KafkaConnectError)
    assert "refused the connection" in str(results[0].error)


@pytest.mark.timeout(30)
def test_a_record_too_large_for_the_producer_fails_alone(
    kafka_broker: RelayedBroker, topic: str
) -> None:
    publisher, _ = make_publisher(plain_env(kafka_broker), topic, **FAST)
    records = prepared(messages(3), topic)
    oversized = records[1]._replace(value=records[1].value + b" " * 1_100_000)
    results = publisher.publish([records[0], oversized, records[2]])
    publisher.close()
    assert [result.published for result in results] == [True, False, True]
    assert isinstance(results[1].error, MessageSizeTooLargeError)


# --- faults injected at the relay, with Tansu running --------------------------------------


class FaultAfter(list):
    """A list of records whose iteration injects a fault once `count` records went out.

    The publisher iterates the records once to send them; this waits until the independent
    reader sees the first `count` on the broker, then calls `fault`.
    """

    def __init__(
        self,
        records: list[WireRecord],
        count: int,
        wait: Callable[[], Any],
        fault: Callable[[], None],
    ) -> None:
        super().__init__(records)
        self.count = count
        self.wait = wait
        self.fault = fault

    def __iter__(self) -> Iterator[WireRecord]:
        for index, record in enumerate(super().__iter__()):
            if index == self.count:
                self.wait()
                self.fault()
            yield record


@pytest.mark.timeout(60)
def test_blackhole_mid_batch_reports_only_acknowledged_records_published(
    kafka_broker: RelayedBroker, topic: str, publisher: Publisher
) -> None:
    records = prepared(messages(40), topic)
    batch = FaultAfter(
        records,
        10,
        wait=lambda: kafka_broker.read_all(topic, expected=10, timeout=10),
        fault=kafka_broker.relay.blackhole,
    )
    results = publisher.publish(batch)
    kafka_broker.relay.heal()

    assert all(result.published for result in results[:10])
    assert not any(result.published for result in results[10:])
    assert all(result.error for result in results[10:])
    assert_published_records_are_on_the_broker(kafka_broker, topic, records, results)

    after = publisher.publish(prepared(messages(3, "SD"), topic))
    assert all(result.published for result in after)
    assert publisher.producers_created == 2  # the failed producer was replaced


@pytest.mark.timeout(60)
def test_connections_cut_mid_batch_are_retried_and_nothing_is_lost(
    kafka_broker: RelayedBroker, topic: str, publisher: Publisher
) -> None:
    records = prepared(messages(40), topic)
    batch = FaultAfter(
        records,
        10,
        wait=lambda: kafka_broker.read_all(topic, expected=10, timeout=10),
        fault=kafka_broker.relay.cut,
    )
    results = publisher.publish(batch)
    assert all(result.published for result in results)
    stored = assert_published_records_are_on_the_broker(kafka_broker, topic, records, results)
    assert {record.value for record in stored.values()} == {record.value for record in records}


@pytest.mark.timeout(60)
def test_refused_connections_fail_the_batch_then_recover(
    kafka_broker: RelayedBroker, topic: str, publisher: Publisher
) -> None:
    assert all(r.published for r in publisher.publish(prepared(messages(2), topic)))
    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    failed = publisher.publish(prepared(messages(5, "SE"), topic))
    kafka_broker.relay.heal()
    assert not any(result.published for result in failed)
    recovered = publisher.publish(prepared(messages(5, "SF"), topic))
    assert all(result.published for result in recovered)


# --- SASL_SSL + SCRAM-SHA-512, as MSK speaks it ---------------------------------------------


@pytest.fixture
def secure_topic(secure_kafka_broker: SaslSslBroker, fresh_topic: Callable[..., str]) -> str:
    return secure_kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)


@pytest.mark.timeout(60)
def test_sasl_ssl_with_the_right_credentials_publishes(
    secure_kafka_broker: SaslSslBroker, secure_topic: str
) -> None:
    publisher, resolver = make_publisher(secure_kafka_broker.client_env(), secure_topic, **FAST)
    sent = prepared(list(GUIDE_EXAMPLES.values()), secure_topic)
    results = publisher.publish(sent)
    publisher.close()
    assert all(result.published for result in results)
    assert resolver.lookups == 1
    assert_published_records_are_on_the_broker(secure_kafka_broker, secure_topic, sent, results)


@pytest.mark.timeout(30)
def test_a_wrong_password_fails_fast_with_a_clear_error_after_one_reread(
    secure_kafka_broker: SaslSslBroker, secure_topic: str
) -> None:
    environ = {**secure_kafka_broker.client_env(), "KAFKA_SASL_PASSWORD": "wrong-password"}
    publisher, resolver = make_publisher(environ, secure_topic)  # production timeouts (10 s)
    started = time.monotonic()
    results = publisher.publish(prepared(messages(2), secure_topic))
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f} s: the bootstrap timeout was waited out"
    assert not any(result.published for result in results)
    assert isinstance(results[0].error, KafkaConnectError)
    assert "rejected the SASL/SCRAM-SHA-512 login" in str(results[0].error)
    assert "wrong-password" not in str(results[0].error)
    assert resolver.lookups == 2  # invalidated and read again once


@pytest.mark.timeout(60)
def test_a_rotated_password_is_read_again_after_an_authentication_failure(
    secure_kafka_broker: SaslSslBroker, secure_topic: str
) -> None:
    environ = secure_kafka_broker.client_env()
    publisher, resolver = make_publisher(environ, secure_topic, **FAST)
    front_end = secure_kafka_broker.front_end
    original = front_end.credential
    try:
        assert all(r.published for r in publisher.publish(prepared(messages(2), secure_topic)))
        front_end.credential = ScramCredential.from_password(
            secure_kafka_broker.username, "rotated"
        )
        environ["KAFKA_SASL_PASSWORD"] = "rotated"  # what re-reading the secret now returns
        front_end.cut()  # existing sessions end; new ones must log in with the new password
        sent = prepared(messages(3, "SG"), secure_topic)
        results = publisher.publish(sent)
    finally:
        front_end.credential = original
        publisher.close()
    assert all(result.published for result in results), results
    assert resolver.lookups == 2
    assert publisher.producers_created == 2
    assert_published_records_are_on_the_broker(secure_kafka_broker, secure_topic, sent, results)


# --- settings -----------------------------------------------------------------------------


def test_default_settings_are_accepted_by_kafka_python(kafka_broker: RelayedBroker) -> None:
    producer = KafkaProducer(
        bootstrap_servers=[kafka_broker.bootstrap], **ProducerSettings().kafka_kwargs()
    )
    try:
        assert producer.config["acks"] == -1
        assert producer.config["enable_idempotence"] is True
    finally:
        producer.close()


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"acks": "0"}, "acks"),
        ({"acks": "1"}, "acks"),  # idempotence needs acks=all
        ({"linger_ms": -1}, "linger_ms"),
        ({"batch_size": True}, "batch_size"),
        ({"compression_type": "brotli"}, "compression_type"),
        ({"max_in_flight_requests_per_connection": 6}, "max_in_flight_requests_per_connection"),
        ({"delivery_timeout_ms": 5_000}, "delivery_timeout_ms"),
        ({"batch_size": 2_000_000}, "batch_size"),
    ],
)
def test_invalid_producer_settings_name_the_setting(
    overrides: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ProducerSettingsError) as raised:
        ProducerSettings(**overrides)
    assert raised.value.name == setting


def test_acks_1_is_allowed_without_idempotence() -> None:
    assert ProducerSettings(acks="1", enable_idempotence=False).kafka_kwargs()["acks"] == 1


def test_producer_settings_from_environment() -> None:
    settings = ProducerSettings.from_environment(
        {
            "PRODUCER_LINGER_MS": "20",
            "PRODUCER_COMPRESSION_TYPE": "none",
            "PRODUCER_ENABLE_IDEMPOTENCE": "false",
            "PRODUCER_BATCH_SIZE": " 65536 ",
            "UNRELATED": "x",
        }
    )
    assert (settings.linger_ms, settings.compression_type, settings.enable_idempotence) == (
        20,
        None,
        False,
    )
    assert settings.batch_size == 65_536
    assert (
        ProducerSettings.from_environment({"PRODUCER_COMPRESSION_TYPE": "GZIP"}).compression_type
        == "gzip"
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRODUCER_LINGER_MS", "five"),
        ("PRODUCER_ENABLE_IDEMPOTENCE", "maybe"),
        ("PRODUCER_COMPRESSION_TYPE", "brotli"),
        ("PRODUCER_DELIVERY_TIMEOUT_MS", "100"),
        ("PRODUCER_ACKS", "0"),
    ],
)
def test_producer_settings_errors_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ProducerSettingsError, match=f"^{variable}: "):
        ProducerSettings.from_environment({variable: value})


def test_the_producer_must_be_able_to_send_the_contracts_largest_record() -> None:
    with pytest.raises(ProducerSettingsError, match="max_request_size"):
        Publisher(
            ConnectionResolver({}),
            ProducerSettings(max_request_size=500_000, batch_size=262_144),
            ContractSettings(max_record_bytes=600_000),
        )


def test_connection_configuration_errors_are_failed_results_naming_the_variable(topic: str) -> None:
    publisher, _ = make_publisher({"KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"}, topic)
    (result,) = publisher.publish(prepared(messages(1), topic))
    assert not result.published
    assert isinstance(result.error, ConfigurationError)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(result.error)


def test_gzip_is_the_default_compression() -> None:
    # The standard library's codec: the Lambda asset carries no codec wheel.
    assert ProducerSettings().compression_type == "gzip"
    assert ProducerSettings().kafka_kwargs()["compression_type"] == "gzip"
