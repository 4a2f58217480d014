"""The harness's Kafka ACLs (tests/harness/acls.py) on SCRAM sessions, through kafka-python.

The ACLs are the ones issue 16 gives the Django apps' SCRAM user: Write on the topic (which
implies Describe) and IdempotentWrite on the cluster, nothing else, with
``allow.everyone.if.no.acl.found=false``. The topic is created over an IAM session (IAM
sessions are authorized by IAM policies, which the harness does not model).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidRequestError,
    NoError,
)

from tests.app_user_checks import (
    cannot_create_a_topic,
    cannot_delete,
    cannot_read,
    cannot_write,
    writes_idempotently,
)
from tests.harness import SaslSslBroker
from tests.harness.acls import CLUSTER, Acl, AclAuthorizer, denial
from tests.harness.msk_iam import TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY

pytestmark = pytest.mark.timeout(60)
APP_USER = "document-exceptions"
PRINCIPAL = f"User:{APP_USER}"
TOPIC = "DocumentExceptions"
APP_ACLS = AclAuthorizer.of(
    [
        Acl(PRINCIPAL, "Write", "topic", TOPIC),
        Acl(PRINCIPAL, "Describe", "topic", TOPIC),
        Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
    ]
)


@pytest.fixture(scope="module")
def acl_broker() -> Iterator[SaslSslBroker]:
    with SaslSslBroker(username=APP_USER, acls=APP_ACLS) as broker:
        yield broker


@pytest.fixture(scope="module")
def topic(acl_broker: SaslSslBroker) -> str:
    """DocumentExceptions, created over an IAM session (as the topic custom resource does)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
        patch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
        patch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        admin = KafkaAdminClient(**acl_broker.kafka_python_iam_config())
        try:
            admin.create_topics([NewTopic(TOPIC, 1, 1)])
        finally:
            admin.close()
    return TOPIC


def app_admin(broker: SaslSslBroker) -> KafkaAdminClient:
    return KafkaAdminClient(**broker.kafka_python_config())


def test_the_app_user_writes_its_topic_with_the_idempotent_producer(
    acl_broker: SaslSslBroker, topic: str
) -> None:
    writes_idempotently(acl_broker, topic)


def test_the_app_user_cannot_create_a_topic(acl_broker: SaslSslBroker, topic: str) -> None:
    cannot_create_a_topic(acl_broker)


def test_the_app_user_cannot_delete_its_topic(acl_broker: SaslSslBroker, topic: str) -> None:
    cannot_delete(acl_broker, topic)


def test_the_app_user_cannot_read_its_topic(acl_broker: SaslSslBroker, topic: str) -> None:
    cannot_read(acl_broker, topic)


def test_the_app_user_cannot_write_another_topic(acl_broker: SaslSslBroker, topic: str) -> None:
    cannot_write(acl_broker, f"{topic}-other")


@pytest.mark.parametrize(
    ("principal", "operation", "resource_type", "name", "allowed"),
    [
        (PRINCIPAL, "Write", "topic", TOPIC, True),
        (PRINCIPAL, "Describe", "topic", TOPIC, True),
        (PRINCIPAL, "Read", "topic", TOPIC, False),
        (PRINCIPAL, "Create", "topic", TOPIC, False),
        (PRINCIPAL, "Delete", "topic", TOPIC, False),
        (PRINCIPAL, "Write", "topic", "Other", False),
        (PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER, True),
        ("User:someone-else", "Write", "topic", TOPIC, False),
    ],
)
def test_authorizer_rules(
    principal: str, operation: str, resource_type: str, name: str, allowed: bool
) -> None:
    assert APP_ACLS.allowed(principal, operation, resource_type, name) is allowed  # type: ignore[arg-type]


def test_implied_and_wildcard_rules() -> None:
    reader = AclAuthorizer.of([Acl("User:ops", "Read", "topic", "*")])
    assert reader.allowed("User:ops", "Describe", "topic", "anything")
    assert not reader.allowed("User:ops", "IdempotentWrite", "cluster", CLUSTER)
    creator = AclAuthorizer.of([Acl("User:admin", "Create", "cluster", CLUSTER)])
    assert creator.allowed("User:admin", "Create", "topic", "new-topic")
    writer = AclAuthorizer.of([Acl("User:w", "Write", "topic", "t")])
    assert writer.allowed("User:w", "IdempotentWrite", "cluster", CLUSTER)  # KIP-679


def test_requests_the_acls_do_not_cover_are_forwarded() -> None:
    api_versions_v0 = b"\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff"
    check = denial(APP_ACLS, PRINCIPAL, api_versions_v0)
    assert (check.answer, check.expects_response) == (None, True)


# --- the ACL APIs: answered by the front-end from the table it enforces -------------------------


@pytest.fixture
def iam_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's test identity, for every IAM login of the test (kafka-python signs each
    connection when it opens)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def iam_admin(broker: SaslSslBroker) -> KafkaAdminClient:
    return KafkaAdminClient(**broker.kafka_python_iam_config())


def kafka_acl(operation: ACLOperation, resource_type: ResourceType, name: str) -> ACL:
    return ACL(
        PRINCIPAL, "*", operation, ACLPermissionType.ALLOW, ResourcePattern(resource_type, name)
    )


def principal_filter(principal: str | None) -> ACLFilter:
    return ACLFilter(
        principal,
        None,
        ACLOperation.ANY,
        ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )


@pytest.mark.usefixtures("iam_credentials")
def test_an_iam_session_creates_describes_and_deletes_acls_in_the_enforced_table() -> None:
    table = AclAuthorizer.of([])
    with SaslSslBroker(username=APP_USER, acls=table) as broker:
        admin = iam_admin(broker)
        try:
            write = kafka_acl(ACLOperation.WRITE, ResourceType.TOPIC, TOPIC)
            idempotent = kafka_acl(ACLOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER)
            assert admin.create_acls([write, idempotent])["failed"] == []
            assert set(table.acls) == {
                Acl(PRINCIPAL, "Write", "topic", TOPIC),
                Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
            }
            described, _ = admin.describe_acls(principal_filter(PRINCIPAL))
            assert set(described) == {write, idempotent}
            assert admin.describe_acls(principal_filter("User:nobody"))[0] == []

            ((_, removed, error),) = admin.delete_acls([write])
            assert (removed, error) == ([write], NoError)
            assert table.acls == [Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER)]
            assert broker.front_end.denied_requests == 0
        finally:
            admin.close()


@pytest.mark.usefixtures("iam_credentials")
def test_the_table_stores_only_what_it_enforces() -> None:
    with SaslSslBroker(username=APP_USER, acls=AclAuthorizer.of([])) as broker:
        admin = iam_admin(broker)
        try:
            deny = ACL(
                PRINCIPAL,
                "*",
                ACLOperation.READ,
                ACLPermissionType.DENY,
                ResourcePattern(ResourceType.TOPIC, TOPIC),
            )
            assert admin.create_acls([deny])["failed"] == [InvalidRequestError]
        finally:
            admin.close()


def test_a_scram_session_without_cluster_rights_cannot_read_or_change_acls(
    acl_broker: SaslSslBroker,
) -> None:
    admin = app_admin(acl_broker)
    try:
        with pytest.raises(ClusterAuthorizationFailedError):
            admin.describe_acls(principal_filter(None))
        ((_, removed, error),) = admin.delete_acls([principal_filter(PRINCIPAL)])
        assert (removed, error) == ([], ClusterAuthorizationFailedError)
    finally:
        admin.close()
    assert len(APP_ACLS.acls) == 3


def test_allow_everyone_if_no_acl_found_opens_only_resources_no_acl_names() -> None:
    """MSK's default: a resource with any ACL is closed to principals no ACL names on it."""
    table = AclAuthorizer.of(APP_ACLS.acls, allow_everyone_if_no_acl_found=True)
    assert table.allowed("User:other", "Read", "topic", "unnamed-topic")
    assert table.allowed(PRINCIPAL, "Create", "topic", "unnamed-topic")
    assert not table.allowed(PRINCIPAL, "Read", "topic", TOPIC)
    assert not table.allowed("User:other", "Write", "topic", TOPIC)
    assert not table.allowed(PRINCIPAL, "Alter", "cluster", CLUSTER)


def test_all_allows_every_operation_on_its_resource_only() -> None:
    """The brokers' ALL on the cluster (topic_acls.broker_bindings)."""
    table = AclAuthorizer.of([Acl("User:ANONYMOUS", "All", "cluster", CLUSTER)])
    for operation in ("Alter", "Describe", "IdempotentWrite", "Create"):
        assert table.allowed("User:ANONYMOUS", operation, "cluster", CLUSTER)
    assert table.allowed("User:ANONYMOUS", "Create", "topic", "new-topic")  # via the cluster
    assert not table.allowed("User:ANONYMOUS", "Read", "topic", TOPIC)
    assert not table.allowed(PRINCIPAL, "Alter", "cluster", CLUSTER)


def test_the_setting_switches_at_runtime_as_a_configuration_update() -> None:
    table = AclAuthorizer.of([], allow_everyone_if_no_acl_found=True)
    assert table.allowed(PRINCIPAL, "Write", "topic", TOPIC)
    table.set_allow_everyone_if_no_acl_found(False)
    assert not table.allowed(PRINCIPAL, "Write", "topic", TOPIC)
    table.set_allow_everyone_if_no_acl_found(True)
    assert table.allowed(PRINCIPAL, "Write", "topic", TOPIC)
