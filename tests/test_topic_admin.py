"""The admin boundary against the real local Tansu broker (plain and SASL_SSL + SCRAM-SHA-512).

Tansu 0.6 answers CreatePartitions with "unsupported" and ignores config changes, so those
two calls are tested here only for how the boundary reports a broker that refuses them;
what the resource asks of them is tested against a recording fake in test_topic_resource.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from kafka import KafkaAdminClient

from document_exceptions.connection import KafkaConnection, from_kafka_settings
from document_exceptions.kafka_connect import Diagnosis, FailureKind, connect_error
from tests.harness.sasl_front_end import SaslSslBroker, ScramCredential
from tests.topic_bootstrap_asset import load

topic_admin = load("topic_admin")
planning = load("topic_planning")
TopicSpec = planning.TopicSpec

FAST = topic_admin.Timeouts(connect_seconds=1.0, request_seconds=3.0)
pytestmark = pytest.mark.timeout(60)


def plain_connection(broker) -> KafkaConnection:
    return KafkaConnection(bootstrap_servers=(broker.bootstrap,))


def connect(connection: KafkaConnection, budget: float = 15.0, timeouts=FAST):
    return topic_admin.open_admin(connection, deadline=time.monotonic() + budget, timeouts=timeouts)


@pytest.fixture
def admin(kafka_broker):
    opened = connect(plain_connection(kafka_broker))
    yield opened
    opened.close()


def kafka_io_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("kafka-io")]


def test_describe_reports_an_absent_topic_as_none(admin, fresh_topic):
    assert admin.describe_topic(fresh_topic(), ("retention.ms",)) is None


def test_created_topic_is_described_with_its_partitions_replicas_and_configs(admin, fresh_topic):
    spec = TopicSpec(fresh_topic(), 3, 1, {"retention.ms": "3600000", "cleanup.policy": "delete"})

    admin.create_topic(spec)
    described = admin.describe_topic(spec.name, ("cleanup.policy", "retention.ms"))

    assert (described.partitions, described.replication_factor) == (3, 1)
    assert {key: value.value for key, value in described.configs.items()} == spec.configs


def test_creating_an_existing_topic_raises_topic_exists(admin, kafka_broker, fresh_topic):
    name = kafka_broker.create_topic(fresh_topic(), partitions=2, replication_factor=1)

    with pytest.raises(topic_admin.TopicExistsError):
        admin.create_topic(TopicSpec(name, 2, 1))


def test_delete_reports_whether_the_topic_was_there(admin, kafka_broker, fresh_topic):
    name = kafka_broker.create_topic(fresh_topic(), partitions=1, replication_factor=1)

    assert admin.delete_topic(name) is True
    assert admin.describe_topic(name, ()) is None
    assert admin.delete_topic(name) is False


def test_broker_count_is_read_from_the_cluster(admin):
    assert admin.broker_count() == 1


def test_a_broker_without_create_partitions_gets_a_one_line_reason(
    admin, kafka_broker, fresh_topic
):
    name = kafka_broker.create_topic(fresh_topic(), partitions=1, replication_factor=1)

    with pytest.raises(topic_admin.TopicAdminError) as refused:
        admin.create_partitions(name, 3)

    message = str(refused.value)
    assert message.startswith(f"Kafka refused to increase topic {name!r} to 3 partitions: ")
    assert "IncompatibleBrokerVersion" in message
    assert "\n" not in message


def test_steps_after_the_deadline_end_in_out_of_time(kafka_broker, fresh_topic):
    opened = connect(plain_connection(kafka_broker), budget=1.0)
    try:
        time.sleep(0.6)
        with pytest.raises(topic_admin.OutOfTimeError, match="before describing topic"):
            opened.describe_topic(fresh_topic(), ())
    finally:
        opened.close()


def test_sasl_ssl_scram_sha_512_connects_for_real(secure_kafka_broker, fresh_topic):
    logins_before = secure_kafka_broker.front_end.logins
    opened = connect(from_kafka_settings(secure_kafka_broker.client_env()))
    try:
        name = fresh_topic()
        opened.create_topic(TopicSpec(name, 2, 1))
        assert opened.describe_topic(name, ()).partitions == 2
    finally:
        opened.close()
    assert secure_kafka_broker.front_end.logins > logins_before


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_unreachable_brokers_fail_within_the_connect_window_naming_brokers_port_and_sg(
    kafka_broker, fault
):
    getattr(kafka_broker.relay, fault)()
    started = time.monotonic()

    with pytest.raises(topic_admin.BrokersUnreachableError) as failed:
        connect(plain_connection(kafka_broker))

    elapsed = time.monotonic() - started
    port = kafka_broker.bootstrap.rpartition(":")[2]
    message = str(failed.value)
    assert message.startswith(
        f"Could not reach the Kafka brokers {kafka_broker.bootstrap} within 1 s"
    )
    assert f"security group on port {port}" in message
    assert FAST.connect_seconds <= elapsed < FAST.connect_seconds + 1.5
    assert kafka_io_threads() == []  # the failed client's I/O thread was stopped


SECURE = KafkaConnection(("b-1.example:9096",), "SASL_SSL", "SCRAM-SHA-512", "u", "p")


@pytest.mark.parametrize(
    ("connection", "kind", "detail", "reason"),
    [
        (SECURE, "tls-trust", "self-signed certificate",
         "The TLS handshake with the Kafka brokers b-1.example:9096 failed (certificate not "
         "trusted). Check that the broker string is the SASL/SCRAM one (port 9096) and that "
         "the brokers' certificate authority is trusted"),
        (SECURE, "hostname", "Hostname mismatch",
         "The TLS handshake with the Kafka brokers b-1.example:9096 failed (Hostname "
         "mismatch). Check that the broker string"),
        (SECURE, "closed-in-handshake", "EOF",
         "The Kafka brokers b-1.example:9096 closed the connection during the TLS handshake "
         "(EOF). Check that the broker string is the SASL/SCRAM one (port 9096, SASL_SSL)"),
        (KafkaConnection(("h:9092",)), "closed-in-handshake", "connection closed",
         "Could not reach the Kafka brokers h:9092 within 2 s (connection closed). Check"),
        (SECURE, "unreachable", "connection refused",
         "Could not reach the Kafka brokers b-1.example:9096 (connection refused). Check that "
         "the cluster's security group allows this function's security group on port 9096"),
        (SECURE, "timeout", "no answer",
         "Could not reach the Kafka brokers b-1.example:9096 within 2 s (no answer). Check"),
    ],
)  # fmt: skip
def test_each_kind_of_connection_failure_has_its_cloudformation_reason(
    connection, kind, detail, reason
):
    """The wording only: each kind is produced by a real broker in test_kafka_connect."""
    failure = connect_error(connection, Diagnosis(FailureKind(kind), detail), 2.0)

    assert topic_admin.connect_reason(connection, failure, 2.0).startswith(reason)


@pytest.mark.timeout(30)
def test_an_unanswered_tls_handshake_fails_within_the_connect_window(secure_kafka_broker):
    """kafka-python alone would wait for the handshake's answer forever."""
    connection = from_kafka_settings(secure_kafka_broker.client_env())
    window = topic_admin.Timeouts(connect_seconds=2.0, request_seconds=2.0)
    secure_kafka_broker.relay.blackhole()
    started = time.monotonic()

    with pytest.raises(topic_admin.BrokersUnreachableError) as failed:
        connect(connection, budget=20.0, timeouts=window)

    elapsed = time.monotonic() - started
    port = secure_kafka_broker.bootstrap.rpartition(":")[2]
    message = str(failed.value)
    assert message.startswith(
        f"Could not reach the Kafka brokers {secure_kafka_broker.bootstrap} within 2 s "
        "(no answer). Check that the cluster's security group allows this function's "
        f"security group on port {port} (SASL_SSL)"
    ), message
    assert window.connect_seconds <= elapsed < window.connect_seconds + 3.0
    assert kafka_io_threads() == []  # the abandoned client's I/O thread was stopped
    assert not any(thread.name.endswith("-connect") for thread in threading.enumerate())


def test_a_connection_closed_during_the_tls_handshake_is_not_blamed_on_the_ca(
    secure_kafka_broker,
):
    secure_kafka_broker.relay.refuse()

    with pytest.raises(topic_admin.BrokersUnreachableError) as failed:
        connect(from_kafka_settings(secure_kafka_broker.client_env()))

    message = str(failed.value)
    assert message.startswith(
        f"The Kafka brokers {secure_kafka_broker.bootstrap} closed the connection during "
        "the TLS handshake ("
    ), message
    assert "the broker string is the SASL/SCRAM one (port 9096, SASL_SSL)" in message
    assert "security group allows this function's security group on port" in message
    assert "certificate" not in message
    assert kafka_io_threads() == []


def test_a_refused_login_is_retried_with_backoff_then_fails_clearly(secure_kafka_broker):
    env = {**secure_kafka_broker.client_env(), "KAFKA_SASL_PASSWORD": "not-the-password"}
    failed_before = secure_kafka_broker.front_end.failed_logins
    budget = 10.0
    started = time.monotonic()

    with pytest.raises(topic_admin.AuthenticationFailedError) as failed:
        connect(from_kafka_settings(env), budget=budget, timeouts=topic_admin.Timeouts(2.0, 2.0))

    elapsed = time.monotonic() - started
    message = str(failed.value)
    assert "refused the SASL/SCRAM-SHA-512 login as 'harness-user'" in message
    # A refused login now fails each attempt at once, so the budget holds a third attempt.
    attempts = int(re.search(r"\((\d+) attempts\)", message).group(1))
    assert attempts >= 2
    assert "not-the-password" not in message
    assert secure_kafka_broker.front_end.failed_logins >= failed_before + 2
    # Retries stop early enough to leave two request timeouts of the budget.
    assert elapsed < budget - 2 * 2.0 + 0.5


def test_a_login_that_starts_working_while_retrying_connects():
    """A SCRAM secret newly associated with MSK is refused for a while, then accepted."""
    with SaslSslBroker() as broker:
        front_end = broker.front_end
        accepted = front_end.credential
        front_end.credential = ScramCredential.from_password(broker.username, "not-yet-associated")
        timer = threading.Timer(2.5, lambda: setattr(front_end, "credential", accepted))
        timer.start()
        try:
            opened = connect(from_kafka_settings(broker.client_env()), budget=20.0)
            opened.close()
        finally:
            timer.cancel()
        assert front_end.failed_logins >= 1
        assert front_end.logins >= 1


def test_topic_admin_reads_back_what_an_independent_client_created(kafka_broker, fresh_topic):
    name = fresh_topic()
    independent = KafkaAdminClient(**kafka_broker.kafka_python_config())
    try:
        independent.create_topics({name: {"num_partitions": 4, "replication_factor": 1}})
    finally:
        independent.close()
    opened = connect(plain_connection(kafka_broker))
    try:
        described = opened.describe_topic(name, ())
    finally:
        opened.close()

    assert (described.name, described.partitions, described.replication_factor) == (name, 4, 1)
