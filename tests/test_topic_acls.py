"""The ACL model (topic_acls) and the topic resource's legacy ``AclPrincipal``.

Today the ACL resource keeps the ACLs (tests/test_acl_resource.py). A topic resource
deployed by the previous version carries ``AclPrincipal``; its events still do what that
says, end to end on the local harness: the handler signs in with IAM, creates the topic and
the app user's ACLs through Kafka's admin API (answered by the harness from the table it
enforces), and the SCRAM app user then writes DocumentExceptions but cannot create, delete or
read topics, nor grant itself more. The harness starts with no ACLs and enforces as
``allow.everyone.if.no.acl.found=false``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern
from kafka.admin import ResourceType as KafkaResourceType
from kafka.errors import ClusterAuthorizationFailedError

from tests.app_user_checks import (
    cannot_create_a_topic,
    cannot_delete,
    cannot_read,
    writes_idempotently,
)
from tests.harness import Acl, AclAuthorizer, SaslSslBroker
from tests.harness.acls import CLUSTER
from tests.ops_helpers import LambdaContext, handler_iam_environment
from tests.topic_bootstrap_asset import load
from tests.topic_events import cloudformation_event, topic_arn, topic_properties

handler = load("handler")
topic_acls = load("topic_acls")
topic_admin = load("topic_admin")

pytestmark = pytest.mark.timeout(90)
APP_USER = "document-exceptions"
PRINCIPAL = f"User:{APP_USER}"
TOPIC = "DocumentExceptions"
# What issue 16 gives the app user, as the harness stores it.
APP_ACLS = {
    Acl(PRINCIPAL, "Write", "topic", TOPIC),
    Acl(PRINCIPAL, "Describe", "topic", TOPIC),
    Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
}


@pytest.fixture
def table() -> AclAuthorizer:
    return AclAuthorizer.of([])


@pytest.fixture
def broker(
    table: AclAuthorizer, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> Iterator[SaslSslBroker]:
    """A harness with an empty ACL table, and the handler's environment as the construct
    sets it with IAM (KAFKA_AUTH_MODE=iam; the brokers come as a property)."""
    with SaslSslBroker(username=APP_USER, acls=table) as kafka:
        handler_iam_environment(monkeypatch, tmp_path, kafka)
        yield kafka


def resource_properties(broker: SaslSslBroker, **overrides: str | None) -> dict:
    settings: dict[str, str | None] = {
        "TopicName": TOPIC,
        "ReplicationFactor": "1",
        "Partitions": "1",
        "TimeoutSeconds": "20",
        "SecretArn": None,
        "BootstrapBrokers": broker.bootstrap,
        "AclPrincipal": PRINCIPAL,
        **overrides,
    }
    return topic_properties(**settings)


def on_event(request_type: str, properties: dict) -> dict:
    physical_id = topic_arn(TOPIC) if request_type != "Create" else None
    event = cloudformation_event(request_type, properties, physical_id=physical_id)
    return handler.on_event(event, LambdaContext(timeout_s=60))


@pytest.fixture
def created_acls(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every binding the handler asks Kafka to create (the calls still go to the broker)."""
    calls: list = []
    original = topic_admin.KafkaTopicAdmin.create_acls

    def recording(self, bindings):
        calls.extend(bindings)
        return original(self, bindings)

    monkeypatch.setattr(topic_admin.KafkaTopicAdmin, "create_acls", recording)
    return calls


def test_create_gives_the_app_user_its_acls_and_nothing_else(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    result = on_event("Create", resource_properties(broker))

    assert result["Data"]["AclPrincipal"] == PRINCIPAL
    assert set(table.acls) == APP_ACLS
    assert len(table.acls) == len(APP_ACLS)


def test_after_create_the_app_user_writes_but_cannot_create_delete_or_read(
    broker: SaslSslBroker,
) -> None:
    on_event("Create", resource_properties(broker))

    writes_idempotently(broker, TOPIC)
    cannot_create_a_topic(broker, "AnotherTopic")
    cannot_delete(broker, TOPIC)
    cannot_read(broker, TOPIC)


def test_the_app_user_cannot_grant_itself_more(broker: SaslSslBroker, table: AclAuthorizer) -> None:
    on_event("Create", resource_properties(broker))
    read = ACL(
        PRINCIPAL,
        "*",
        ACLOperation.READ,
        ACLPermissionType.ALLOW,
        ResourcePattern(KafkaResourceType.TOPIC, TOPIC),
    )
    admin = KafkaAdminClient(**broker.kafka_python_config())
    try:
        result = admin.create_acls([read])
    finally:
        admin.close()
    assert result["failed"] == [ClusterAuthorizationFailedError]
    assert set(table.acls) == APP_ACLS


def test_create_adopts_existing_acls_and_creates_only_the_missing_ones(
    broker: SaslSslBroker, table: AclAuthorizer, created_acls: list
) -> None:
    table.add(Acl(PRINCIPAL, "Write", "topic", TOPIC))
    table.add(Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER))

    on_event("Create", resource_properties(broker))

    assert [(b.operation, b.resource_name) for b in created_acls] == [("DESCRIBE", TOPIC)]
    assert set(table.acls) == APP_ACLS

    created_acls.clear()
    on_event("Update", resource_properties(broker))  # nothing missing: nothing created
    assert created_acls == []
    assert set(table.acls) == APP_ACLS


def test_delete_with_retain_keeps_the_acls(broker: SaslSslBroker, table: AclAuthorizer) -> None:
    on_event("Create", resource_properties(broker))

    on_event("Delete", resource_properties(broker))

    assert set(table.acls) == APP_ACLS


def test_delete_with_delete_policy_removes_only_this_topics_acls(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    """The cluster's IdempotentWrite stays: the ACL resource shares (adopts) it."""
    others = {
        Acl("User:someone-else", "Write", "topic", TOPIC),
        Acl(PRINCIPAL, "Write", "topic", "OtherTopic"),
    }
    for acl in others:
        table.add(acl)
    properties = resource_properties(broker, DeletionPolicy="Delete")
    on_event("Create", properties)
    assert set(table.acls) == APP_ACLS | others

    on_event("Delete", properties)

    assert set(table.acls) == others | {Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER)}


def test_without_acl_principal_no_acl_is_touched(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    result = on_event("Create", resource_properties(broker, AclPrincipal=None))

    assert "AclPrincipal" not in result["Data"]
    assert table.acls == []


def test_app_bindings_are_write_describe_on_the_topic_and_idempotent_write() -> None:
    bindings = topic_acls.app_bindings(PRINCIPAL, TOPIC)
    assert {(b.resource_type, b.resource_name, b.operation) for b in bindings} == {
        ("TOPIC", TOPIC, "WRITE"),
        ("TOPIC", TOPIC, "DESCRIBE"),
        ("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
    }
    assert {b.principal for b in bindings} == {PRINCIPAL}


def test_broker_bindings_are_all_on_the_cluster_and_read_on_the_topic() -> None:
    bindings = topic_acls.broker_bindings(TOPIC)
    assert {(b.principal, b.resource_type, b.resource_name, b.operation) for b in bindings} == {
        ("User:ANONYMOUS", "CLUSTER", "kafka-cluster", "ALL"),
        ("User:ANONYMOUS", "TOPIC", TOPIC, "READ"),
    }
    assert topic_acls.BROKER_PRINCIPAL == "User:ANONYMOUS"


def test_resource_bindings_put_the_brokers_first() -> None:
    both = topic_acls.resource_bindings(PRINCIPAL, TOPIC, brokers=True)
    assert both == (*topic_acls.broker_bindings(TOPIC), *topic_acls.app_bindings(PRINCIPAL, TOPIC))
    assert topic_acls.resource_bindings(PRINCIPAL, TOPIC, brokers=False) == (
        topic_acls.app_bindings(PRINCIPAL, TOPIC)
    )


@pytest.mark.parametrize("value", ["document-exceptions", "User:", "User:a b", "Group:x", 7])
def test_an_invalid_acl_principal_is_refused_naming_the_property(value) -> None:
    properties_module = load("topic_properties")
    with pytest.raises(properties_module.PropertyError, match=r"^AclPrincipal: "):
        properties_module.parse_properties(
            topic_properties(AclPrincipal=value, ReplicationFactor="1"), local=False
        )
