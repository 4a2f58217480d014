"""What the Django apps' SCRAM user may and may not do on a harness that enforces ACLs.

Shared by tests/test_harness_acls.py (ACLs given to the harness) and tests/test_topic_acls.py
(ACLs made by the topic custom resource). Each check asserts through kafka-python, logged in
with the harness's SCRAM user, and that the front-end (not Tansu) refused what it refused.
"""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAuthorizationFailedError

from document_exceptions.kafka_connect import close_producer
from tests.harness import SaslSslBroker

POLLS = 50
POLL_MS = 200


def writes_idempotently(broker: SaslSslBroker, topic: str) -> None:
    denied = broker.front_end.denied_requests
    producer = KafkaProducer(**broker.kafka_python_config(), enable_idempotence=True)
    try:
        producer.send(topic, b"allowed").get(timeout=10)
    finally:
        close_producer(producer, 5)
    assert broker.front_end.denied_requests == denied


def cannot_write(broker: SaslSslBroker, topic: str) -> None:
    denied = broker.front_end.denied_requests
    producer = KafkaProducer(
        **broker.kafka_python_config(),
        enable_idempotence=False,
        max_block_ms=3000,
        delivery_timeout_ms=3000,
        request_timeout_ms=2000,
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, b"denied").get(timeout=10)
    finally:
        close_producer(producer, 2)
    assert broker.front_end.denied_requests > denied


def cannot_create_a_topic(broker: SaslSslBroker, name: str = "not-allowed") -> None:
    denied = broker.front_end.denied_requests
    admin = KafkaAdminClient(**broker.kafka_python_config())
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            admin.create_topics([NewTopic(name, 1, 1)], raise_errors=True)
        assert name not in admin.list_topics()
    finally:
        admin.close()
    assert broker.front_end.denied_requests > denied


def cannot_delete(broker: SaslSslBroker, topic: str) -> None:
    admin = KafkaAdminClient(**broker.kafka_python_config())
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            admin.delete_topics([topic], raise_errors=True)
        assert topic in admin.list_topics()
    finally:
        admin.close()


def cannot_read(broker: SaslSslBroker, topic: str) -> None:
    consumer = KafkaConsumer(**broker.kafka_python_config(), enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        denied = broker.front_end.denied_requests
        with pytest.raises(TopicAuthorizationFailedError):
            _poll(consumer)
        assert broker.front_end.denied_requests > denied
    finally:
        consumer.close()


def _poll(consumer: KafkaConsumer) -> None:
    for _ in range(POLLS):
        consumer.poll(timeout_ms=POLL_MS)
