"""Tests of the Kafka test harness itself: Tansu, the faulty relay and the SASL_SSL front-end.

Clients: kafka-python 3.0.12 (the project's client) and confluent-kafka (librdkafka), plus
raw Kafka-protocol exchanges encoded with kafka-python's own protocol classes, so that the
front-end's hand-written encoding is checked against an independent implementation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.net.sasl.scram import ScramClient
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from document_exceptions.kafka_connect import close_producer
from tests.harness import (
    FaultyRelay,
    RelayedBroker,
    SaslSslBroker,
    ScramCredential,
    ScramError,
    ScramSha512Server,
    TansuBroker,
    TansuStartError,
)
from tests.harness.broker import port_accepts

pytestmark = pytest.mark.timeout(60)

# Fail a send within about 2 s of an outage. Not idempotent: kafka-python 3.0.12's default
# idempotent producer never recovers once a batch it had sent expires (see the test below).
FAST_FAIL = {
    "delivery_timeout_ms": 2000,
    "request_timeout_ms": 1000,
    "max_block_ms": 2000,
    "enable_idempotence": False,
}


@contextlib.contextmanager
def producer(
    config: dict[str, Any], close_timeout: float = 3.0, **settings: Any
) -> Iterator[KafkaProducer]:
    client = KafkaProducer(**config, **settings)
    try:
        yield client
    finally:
        # close() raises from flush() when records cannot be delivered and then leaves its
        # I/O thread running; close_producer stops that thread so it cannot outlive the test.
        close_producer(client, close_timeout)


def consume_with_kafka_python(
    config: dict[str, Any], topic: str, partitions: int, expected: int, timeout: float = 10.0
) -> list[Any]:
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def values(records: list[Any]) -> set[bytes]:
    return {record.value for record in records}


# -- raw Kafka protocol, for connections that must be driven byte by byte ----------------


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exactly(sock, 4))
    return recv_exactly(sock, size)


def exchange(sock: socket.socket, request: Any, response_class: Any, correlation_id: int) -> Any:
    request.with_header(correlation_id=correlation_id, client_id="harness-test")
    sock.sendall(request.encode(framed=True, header=True))
    response = response_class.decode(recv_frame(sock), version=request.API_VERSION, header=True)
    assert response.header.correlation_id == correlation_id
    return response


def api_versions(sock: socket.socket, version: int = 0, correlation_id: int = 1) -> Any:
    request = ApiVersionsRequest(
        version=version, client_software_name="harness-test", client_software_version="1"
    )
    return exchange(sock, request, ApiVersionsResponse, correlation_id)


def assert_closed_by_peer(sock: socket.socket, within: float = 3.0) -> None:
    sock.settimeout(within)
    with contextlib.suppress(ConnectionResetError, ssl.SSLError):
        assert sock.recv(1) == b""


def tls_connect(broker: SaslSslBroker, cafile: str | None = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=cafile or broker.cafile)
    raw = socket.create_connection(("127.0.0.1", broker.relay.port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


# -- Tansu -----------------------------------------------------------------------------


def test_tansu_broker_starts_accepts_and_stops_by_pid() -> None:
    with TansuBroker() as broker:
        assert broker.is_running()
        assert broker.port is not None
        assert port_accepts(broker.port)
        assert broker.advertised_port == broker.port
        pid = broker.process.pid if broker.process else -1
    assert not broker.is_running()
    assert not port_accepts(broker.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_tansu_start_errors_are_clear() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TansuStartError, match="already in use"):
            TansuBroker(port=port).start()
    with pytest.raises(TansuStartError, match=r"exited with 2 .*InvalidDomainCharacter"):
        TansuBroker(advertised_host="not a host").start()


# -- plain broker behind the relay -------------------------------------------------------


def test_produce_and_consume_through_the_relay(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3)
    accepted_before = kafka_broker.relay.accepted
    sent = {f"value-{i}".encode() for i in range(30)}
    with producer(kafka_broker.kafka_python_config(), linger_ms=5) as client:
        futures = [
            client.send(
                topic,
                key=str(i % 5).encode(),
                value=f"value-{i}".encode(),
                headers=[("trace", b"t%d" % i)],
            )
            for i in range(30)
        ]
        offsets = [future.get(10) for future in futures]
    assert {metadata.partition for metadata in offsets} == {0, 1, 2}

    by_kafka_python = consume_with_kafka_python(
        kafka_broker.kafka_python_config(), topic, partitions=3, expected=30
    )
    assert values(by_kafka_python) == sent

    by_confluent = kafka_broker.read_all(topic, timeout=10)
    assert len(by_confluent) == 30
    assert values(by_confluent) == sent
    record = next(r for r in by_confluent if r.value == b"value-7")
    assert record.key == b"2"
    assert record.headers == [("trace", b"t7")]
    assert sorted((r.partition, r.offset) for r in by_confluent) == [
        (r.partition, r.offset) for r in by_confluent
    ]
    assert kafka_broker.relay.accepted > accepted_before


def test_tansu_advertises_the_relay_so_every_connection_goes_through_it(
    kafka_broker: RelayedBroker,
) -> None:
    assert kafka_broker.broker is not None
    assert kafka_broker.broker.port != kafka_broker.relay.port
    admin = confluent_kafka.admin.AdminClient(kafka_broker.confluent_config())
    brokers = admin.list_topics(timeout=10).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", kafka_broker.relay.port)]


def test_cut_closes_open_connections_and_new_ones_work(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]
) -> None:
    relay = kafka_broker.relay
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
        assert api_versions(sock).error_code == 0
        relay.cut()
        assert_closed_by_peer(sock)
    topic = kafka_broker.create_topic(fresh_topic())
    with producer(kafka_broker.kafka_python_config(), **FAST_FAIL) as client:
        client.send(topic, b"before").get(5)
        relay.cut()
        client.send(topic, b"after-reconnect").get(5)
    assert values(kafka_broker.read_all(topic)) == {b"before", b"after-reconnect"}


def test_refuse_closes_new_connections_only(kafka_broker: RelayedBroker) -> None:
    relay = kafka_broker.relay
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as existing:
        assert api_versions(existing).error_code == 0
        relay.refuse()
        assert relay.refusing
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as refused:
            assert_closed_by_peer(refused, within=1.0)
        assert api_versions(existing).error_code == 0
        relay.heal()
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as healed:
            assert api_versions(healed).error_code == 0


def test_outage_fails_sends_and_heal_keeps_acknowledged_records(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    with producer(kafka_broker.kafka_python_config(), **FAST_FAIL) as client:
        client.send(topic, b"acknowledged").get(5)
        kafka_broker.relay.refuse()
        kafka_broker.relay.cut()
        started = time.monotonic()
        with pytest.raises(KafkaTimeoutError, match="Expiring 1 record"):
            client.send(topic, b"during-outage").get(10)
        assert 1.5 < time.monotonic() - started < 5
        kafka_broker.relay.heal()
        client.send(topic, b"after-heal").get(10)
    assert values(kafka_broker.read_all(topic)) == {b"acknowledged", b"after-heal"}


def test_blackhole_drops_bytes_and_heal_closes_the_broken_connections(
    kafka_broker: RelayedBroker,
) -> None:
    relay = kafka_broker.relay
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as existing:
        assert api_versions(existing).error_code == 0
        relay.blackhole()
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as new:
            for sock in (existing, new):
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    api_versions(sock, correlation_id=2)
            relay.heal()
            assert_closed_by_peer(existing)
            assert_closed_by_peer(new)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as healed:
        assert api_versions(healed).error_code == 0


def test_blackhole_times_out_kafka_python_and_heal_recovers(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    with producer(kafka_broker.kafka_python_config(), **FAST_FAIL) as client:
        client.send(topic, b"acknowledged").get(5)
        kafka_broker.relay.blackhole()
        with pytest.raises(KafkaTimeoutError, match="Expiring 1 record"):
            client.send(topic, b"dropped").get(10)
        kafka_broker.relay.heal()
        client.send(topic, b"after-heal").get(10)
    assert values(kafka_broker.read_all(topic)) == {b"acknowledged", b"after-heal"}


def test_kafka_python_idempotent_producer_is_stuck_after_an_in_flight_batch_expired(
    kafka_broker: RelayedBroker, fresh_topic: Callable[..., str]
) -> None:
    """kafka-python 3.0.12 bug, pinned here so that a fixed release is noticed.

    After a batch that was already sent expires, the idempotent producer (its default)
    drops its producer id but never asks for a new one: later sends neither succeed nor
    expire, and close() raises. A producer that is not idempotent, or a new producer, works
    after the outage.
    """
    topic = kafka_broker.create_topic(fresh_topic())
    idempotent = dict(FAST_FAIL, enable_idempotence=True)
    config = kafka_broker.kafka_python_config()
    with producer(config, close_timeout=0.5, **idempotent) as client:
        client.send(topic, b"acknowledged").get(5)
        kafka_broker.relay.blackhole()
        with pytest.raises(KafkaTimeoutError, match="Expiring 1 record"):
            client.send(topic, b"dropped").get(10)
        kafka_broker.relay.heal()
        with pytest.raises(KafkaTimeoutError, match="Timeout after waiting for 3 secs"):
            client.send(topic, b"never-sent").get(3)
    with producer(kafka_broker.kafka_python_config(), **FAST_FAIL) as fresh_client:
        fresh_client.send(topic, b"new-producer").get(5)
    assert values(kafka_broker.read_all(topic)) == {b"acknowledged", b"new-producer"}


def test_relay_without_target_closes_connections() -> None:
    with FaultyRelay() as relay, socket.create_connection(("127.0.0.1", relay.port)) as sock:
        assert_closed_by_peer(sock)
    assert not relay.is_running


def test_fresh_topic_names_are_unique_and_valid(fresh_topic: Callable[..., str]) -> None:
    names = {fresh_topic() for _ in range(50)} | {fresh_topic("x") for _ in range(50)}
    assert len(names) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name) for name in names)


# -- SASL_SSL + SCRAM-SHA-512 front-end ---------------------------------------------------


def test_client_env_describes_the_secure_broker(secure_kafka_broker: SaslSslBroker) -> None:
    env = secure_kafka_broker.client_env()
    assert json.loads(env["KAFKA_BOOTSTRAP_SERVERS"]) == [secure_kafka_broker.bootstrap]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["KAFKA_SASL_USERNAME"] == secure_kafka_broker.username
    assert env["KAFKA_SASL_PASSWORD"] == secure_kafka_broker.password
    assert "BEGIN CERTIFICATE" in Path(env["KAFKA_SSL_CAFILE"]).read_text()


def test_sasl_ssl_kafka_python_produces_and_consumes(
    secure_kafka_broker: SaslSslBroker, fresh_topic: Callable[..., str]
) -> None:
    front_end = secure_kafka_broker.front_end
    logins, failures = front_end.logins, front_end.failed_logins
    topic = secure_kafka_broker.create_topic(fresh_topic(), partitions=2)
    config = secure_kafka_broker.kafka_python_config()
    with producer(config, acks="all") as client:
        for i in range(10):
            client.send(topic, key=b"k", value=b"secure-%d" % i).get(10)
    consumed = consume_with_kafka_python(config, topic, partitions=2, expected=10)
    assert values(consumed) == {b"secure-%d" % i for i in range(10)}
    assert front_end.logins > logins
    assert front_end.failed_logins == failures


def test_sasl_ssl_confluent_kafka_produces_and_consumes(
    secure_kafka_broker: SaslSslBroker, fresh_topic: Callable[..., str]
) -> None:
    topic = secure_kafka_broker.create_topic(fresh_topic())
    client = confluent_kafka.Producer(secure_kafka_broker.confluent_config())
    for i in range(10):
        client.produce(topic, key=b"k", value=b"librdkafka-%d" % i, headers=[("h", b"v")])
    assert client.flush(10) == 0
    records = secure_kafka_broker.read_all(topic, timeout=10)
    assert values(records) == {b"librdkafka-%d" % i for i in range(10)}
    assert all(record.headers == [("h", b"v")] for record in records)


def first_log(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    return next(record for record in caplog.records if text in record.getMessage())


def collect_errors(config: dict[str, Any], wanted: int, timeout: float) -> list[tuple[float, Any]]:
    """Errors that librdkafka reports through ``error_cb`` until one has code ``wanted``."""
    errors: list[tuple[float, Any]] = []
    started = time.monotonic()
    client = confluent_kafka.Producer(
        {**config, "error_cb": lambda error: errors.append((time.monotonic() - started, error))}
    )
    while time.monotonic() - started < timeout and not any(e.code() == wanted for _, e in errors):
        client.poll(0.05)
    return errors


def test_wrong_password_fails_fast_with_confluent_kafka(secure_kafka_broker: SaslSslBroker) -> None:
    config = dict(secure_kafka_broker.confluent_config(), **{"sasl.password": "wrong"})
    errors = collect_errors(config, confluent_kafka.KafkaError._AUTHENTICATION, timeout=5)
    elapsed, error = next(
        (t, e) for t, e in errors if e.code() == confluent_kafka.KafkaError._AUTHENTICATION
    )
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in error.str()
    assert elapsed < 2.0


def test_librdkafka_without_the_ca_file_fails_certificate_verification(
    secure_kafka_broker: SaslSslBroker,
) -> None:
    """The front-end's TLS, seen by an independent client (kafka-python's view of it is
    tests/test_kafka_connect.py's untrusted-CA test)."""
    logins = secure_kafka_broker.front_end.logins
    librdkafka_config = secure_kafka_broker.confluent_config()
    del librdkafka_config["ssl.ca.location"]
    errors = collect_errors(librdkafka_config, confluent_kafka.KafkaError._SSL, timeout=5)
    assert any("certificate verify failed" in e.str() for _, e in errors)
    assert secure_kafka_broker.front_end.logins == logins


def sasl_login(
    sock: ssl.SSLSocket,
    handshake_version: int,
    authenticate_version: int,
    username: str,
    password: str,
) -> Any:
    """Log in over ``sock`` with kafka-python's SCRAM client; return the last answer.

    The answer is the SaslAuthenticate response or, after a v0 handshake, the bare token.
    """
    handshake = exchange(
        sock,
        SaslHandshakeRequest(version=handshake_version, mechanism="SCRAM-SHA-512"),
        SaslHandshakeResponse,
        correlation_id=10,
    )
    assert (handshake.error_code, handshake.mechanisms) == (0, ["SCRAM-SHA-512", "AWS_MSK_IAM"])
    scram = ScramClient(username, password, "SCRAM-SHA-512")
    messages = [scram.first_message, scram.final_message]
    answer: Any = None
    for step, message in enumerate(messages):
        if handshake_version == 0:
            token = message()
            sock.sendall(struct.pack(">i", len(token)) + token)
            answer = recv_frame(sock)
            server_token = answer
        else:
            answer = exchange(
                sock,
                SaslAuthenticateRequest(version=authenticate_version, auth_bytes=message()),
                SaslAuthenticateResponse,
                correlation_id=11 + step,
            )
            if answer.error_code:
                return answer
            server_token = answer.auth_bytes
        if step == 0:
            scram.process_server_first_message(server_token)
        else:
            scram.process_server_final_message(server_token)
    return answer


@pytest.mark.parametrize(
    ("handshake_version", "authenticate_version"), [(0, 0), (1, 0), (1, 1), (1, 2)]
)
def test_front_end_speaks_every_sasl_version(
    secure_kafka_broker: SaslSslBroker,
    handshake_version: int,
    authenticate_version: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = secure_kafka_broker
    monkeypatch.setattr(broker.front_end, "failed_authentication_delay", 0.1)
    with tls_connect(broker) as sock:
        assert api_versions(sock, version=3).error_code == 0
        answer = sasl_login(
            sock, handshake_version, authenticate_version, broker.username, broker.password
        )
        if handshake_version == 1:
            assert (answer.error_code, answer.error_message) == (0, None)
        relayed = api_versions(sock, version=0, correlation_id=20)
        assert {k.api_key for k in relayed.api_keys} >= {0, 1, 3, 17, 18, 36}

    with tls_connect(broker) as sock:
        if handshake_version == 0:
            with pytest.raises(EOFError):
                sasl_login(sock, 0, 0, broker.username, "wrong")
        else:
            answer = sasl_login(sock, 1, authenticate_version, broker.username, "wrong")
            assert answer.error_code == 58
            assert "invalid credentials" in answer.error_message
            assert_closed_by_peer(sock)


def test_front_end_refuses_other_mechanisms_and_unauthenticated_requests(
    secure_kafka_broker: SaslSslBroker,
) -> None:
    with tls_connect(secure_kafka_broker) as sock:
        answer = exchange(
            sock,
            SaslHandshakeRequest(version=1, mechanism="PLAIN"),
            SaslHandshakeResponse,
            correlation_id=3,
        )
        assert (answer.error_code, answer.mechanisms) == (33, ["SCRAM-SHA-512", "AWS_MSK_IAM"])
        assert_closed_by_peer(sock)
    with tls_connect(secure_kafka_broker) as sock:
        request = SaslAuthenticateRequest(version=1, auth_bytes=b"n,,n=user,r=nonce")
        request.with_header(correlation_id=4, client_id="harness-test")
        sock.sendall(request.encode(framed=True, header=True))
        assert_closed_by_peer(sock)
    with tls_connect(secure_kafka_broker) as sock:
        metadata_v1_all_topics = struct.pack(">hhih", 3, 1, 5, -1) + struct.pack(">i", -1)
        sock.sendall(struct.pack(">i", len(metadata_v1_all_topics)) + metadata_v1_all_topics)
        assert_closed_by_peer(sock)


def test_front_end_injects_the_relay_faults(
    secure_kafka_broker: SaslSslBroker, fresh_topic: Callable[..., str]
) -> None:
    front_end = secure_kafka_broker.front_end
    with tls_connect(secure_kafka_broker) as sock:
        sasl_login(sock, 1, 2, secure_kafka_broker.username, secure_kafka_broker.password)
        front_end.cut()
        assert_closed_by_peer(sock)

    front_end.blackhole()
    raw = socket.create_connection(("127.0.0.1", front_end.port), timeout=0.5)
    context = ssl.create_default_context(cafile=secure_kafka_broker.cafile)
    with pytest.raises(TimeoutError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    raw.close()
    front_end.heal()

    topic = secure_kafka_broker.create_topic(fresh_topic())
    with producer(secure_kafka_broker.kafka_python_config(), **FAST_FAIL) as client:
        client.send(topic, b"acknowledged").get(10)
        front_end.refuse()
        front_end.cut()
        with pytest.raises(KafkaTimeoutError, match="Expiring 1 record"):
            client.send(topic, b"during-outage").get(10)
        front_end.heal()
        client.send(topic, b"after-heal").get(10)
    assert values(secure_kafka_broker.read_all(topic)) == {b"acknowledged", b"after-heal"}


# -- SCRAM-SHA-512 server, against kafka-python's client ---------------------------------


def scram_exchange(server: ScramSha512Server, client: ScramClient) -> None:
    client.process_server_first_message(server.step(client.first_message()))
    client.process_server_final_message(server.step(client.final_message()))


def test_scram_server_accepts_the_right_password_only() -> None:
    credential = ScramCredential.from_password("alice", "s3cret,=é")
    server = ScramSha512Server(credential)
    scram_exchange(server, ScramClient("alice", "s3cret,=é", "SCRAM-SHA-512"))
    assert server.authenticated

    for user, password in [("alice", "s3cret"), ("bob", "s3cret,=é")]:
        server = ScramSha512Server(credential)
        with pytest.raises(ScramError, match="invalid credentials"):
            scram_exchange(server, ScramClient(user, password, "SCRAM-SHA-512"))
        assert not server.authenticated


def test_scram_server_rejects_malformed_exchanges() -> None:
    credential = ScramCredential.from_password("alice", "pw")
    with pytest.raises(ScramError, match="channel binding"):
        ScramSha512Server(credential).step(b"p=tls-unique,,n=alice,r=abc")
    with pytest.raises(ScramError):
        ScramSha512Server(credential).step(b"garbage")

    server = ScramSha512Server(credential)
    client = ScramClient("alice", "pw", "SCRAM-SHA-512")
    client.process_server_first_message(server.step(client.first_message()))
    forged = client.final_message().replace(b"r=", b"r=x", 1)
    with pytest.raises(ScramError):
        server.step(forged)
    assert not server.authenticated
