"""The ACL custom resource (``Custom::KafkaAcls``, topic_bootstrap/acl_resource.py) end to end.

On the local harness: the handler signs in with IAM (as on MSK beside SASL/SCRAM) and keeps
the app user's and the brokers' bindings through Kafka's admin API (CreateAcls, DescribeAcls,
DeleteAcls, answered by the harness from the table it enforces). Also here: the migration
from the topic resource that kept the app user's ACLs (``AclPrincipal``) to this resource,
replayed event by event, and the order that keeps the app user working when
``allow.everyone.if.no.acl.found`` turns false (ACLs first, then the setting).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_user_checks import (
    cannot_create_a_topic,
    cannot_delete,
    cannot_read,
    cannot_write,
    writes_idempotently,
)
from tests.harness import Acl, AclAuthorizer, SaslSslBroker
from tests.harness.acls import CLUSTER
from tests.ops_helpers import LambdaContext, handler_iam_environment
from tests.topic_bootstrap_asset import load
from tests.topic_events import (
    acl_properties,
    acls_id,
    cloudformation_event,
    topic_arn,
    topic_properties,
)

handler = load("handler")
topic_admin = load("topic_admin")

pytestmark = pytest.mark.timeout(120)
APP_USER = "document-exceptions"
PRINCIPAL = f"User:{APP_USER}"
BROKERS = "User:ANONYMOUS"
TOPIC = "DocumentExceptions"
ACL_TYPE = "Custom::KafkaAcls"
APP_ACLS = {
    Acl(PRINCIPAL, "Write", "topic", TOPIC),
    Acl(PRINCIPAL, "Describe", "topic", TOPIC),
    Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
}
BROKER_ACLS = {Acl(BROKERS, "All", "cluster", CLUSTER), Acl(BROKERS, "Read", "topic", TOPIC)}


@pytest.fixture
def table() -> AclAuthorizer:
    """Enforcing as with allow.everyone.if.no.acl.found=false unless a test opens it."""
    return AclAuthorizer.of([])


@pytest.fixture
def broker(
    table: AclAuthorizer, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> Iterator[SaslSslBroker]:
    """The harness, and the handler's environment as the construct sets it with IAM."""
    with SaslSslBroker(username=APP_USER, acls=table) as kafka:
        handler_iam_environment(monkeypatch, tmp_path, kafka)
        yield kafka


@pytest.fixture
def acl_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Every binding the handler asks Kafka to create or delete (the calls still go through)."""
    calls: dict[str, list] = {"create": [], "delete": []}
    create, delete = (
        topic_admin.KafkaTopicAdmin.create_acls,
        topic_admin.KafkaTopicAdmin.delete_acls,
    )

    def recording_create(self, bindings):
        calls["create"].extend(bindings)
        return create(self, bindings)

    def recording_delete(self, bindings):
        calls["delete"].extend(bindings)
        return delete(self, bindings)

    monkeypatch.setattr(topic_admin.KafkaTopicAdmin, "create_acls", recording_create)
    monkeypatch.setattr(topic_admin.KafkaTopicAdmin, "delete_acls", recording_delete)
    return calls


def acls(broker: SaslSslBroker, **overrides: str | None) -> dict:
    return acl_properties(BootstrapBrokers=broker.bootstrap, TimeoutSeconds="20", **overrides)


def topic(broker: SaslSslBroker, **overrides: str | None) -> dict:
    settings: dict[str, str | None] = {
        "TopicName": TOPIC,
        "ReplicationFactor": "1",
        "Partitions": "1",
        "TimeoutSeconds": "20",
        "SecretArn": None,
        "BootstrapBrokers": broker.bootstrap,
        **overrides,
    }
    return topic_properties(**settings)


def acl_event(
    broker: SaslSslBroker, request_type: str, properties: dict, old: dict | None = None
) -> dict:
    physical_id = acls_id() if request_type != "Create" else None
    event = cloudformation_event(
        request_type,
        properties,
        old_properties=old,
        physical_id=physical_id,
        resource_type=ACL_TYPE,
    )
    return handler.on_event(event, LambdaContext(timeout_s=60))


def topic_event(
    broker: SaslSslBroker, request_type: str, properties: dict, old: dict | None = None
) -> dict:
    physical_id = topic_arn(TOPIC) if request_type != "Create" else None
    event = cloudformation_event(
        request_type, properties, old_properties=old, physical_id=physical_id
    )
    return handler.on_event(event, LambdaContext(timeout_s=60))


def test_the_physical_id_is_per_cluster(broker: SaslSslBroker) -> None:
    assert acl_event(broker, "Create", acls(broker))["PhysicalResourceId"] == acls_id()
    renamed = load("topic_properties").parse_acl_properties(
        acl_properties(TopicName="Other", AppPrincipal="User:other"), local=False
    )
    assert renamed.physical_resource_id() == acls_id()


# --- Create, Update, Delete -------------------------------------------------------------------


def test_create_gives_the_app_user_and_the_brokers_their_acls_brokers_first(
    broker: SaslSslBroker, table: AclAuthorizer, acl_calls: dict
) -> None:
    topic_event(broker, "Create", topic(broker))

    result = acl_event(broker, "Create", acls(broker))

    assert result["Data"] == {"AppPrincipal": PRINCIPAL, "TopicName": TOPIC}
    assert set(table.acls) == APP_ACLS | BROKER_ACLS
    assert len(table.acls) == len(APP_ACLS | BROKER_ACLS)
    assert [(b.principal, b.operation) for b in acl_calls["create"]] == [
        (BROKERS, "ALL"),
        (BROKERS, "READ"),
        (PRINCIPAL, "WRITE"),
        (PRINCIPAL, "DESCRIBE"),
        (PRINCIPAL, "IDEMPOTENT_WRITE"),
    ]


def test_after_create_the_app_user_writes_but_cannot_create_delete_or_read(
    broker: SaslSslBroker,
) -> None:
    topic_event(broker, "Create", topic(broker))
    acl_event(broker, "Create", acls(broker))

    writes_idempotently(broker, TOPIC)
    cannot_create_a_topic(broker, "AnotherTopic")
    cannot_delete(broker, TOPIC)
    cannot_read(broker, TOPIC)


def test_without_broker_principal_only_the_app_users_acls_are_kept(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    acl_event(broker, "Create", acls(broker, BrokerPrincipal=None))
    assert set(table.acls) == APP_ACLS


def test_create_adopts_existing_acls_and_creates_only_the_missing_ones(
    broker: SaslSslBroker, table: AclAuthorizer, acl_calls: dict
) -> None:
    table.add(Acl(PRINCIPAL, "Write", "topic", TOPIC))
    table.add(Acl(BROKERS, "All", "cluster", CLUSTER))

    acl_event(broker, "Create", acls(broker))

    assert sorted((b.principal, b.operation) for b in acl_calls["create"]) == [
        (BROKERS, "READ"),
        (PRINCIPAL, "DESCRIBE"),
        (PRINCIPAL, "IDEMPOTENT_WRITE"),
    ]
    acl_calls["create"].clear()
    acl_event(broker, "Update", acls(broker), old=acls(broker))  # nothing missing
    assert acl_calls == {"create": [], "delete": []}
    assert set(table.acls) == APP_ACLS | BROKER_ACLS


def test_delete_with_retain_keeps_the_acls(broker: SaslSslBroker, table: AclAuthorizer) -> None:
    acl_event(broker, "Create", acls(broker))
    acl_event(broker, "Delete", acls(broker))
    assert set(table.acls) == APP_ACLS | BROKER_ACLS


def test_delete_with_delete_policy_removes_exactly_its_acls_app_users_first(
    broker: SaslSslBroker, table: AclAuthorizer, acl_calls: dict
) -> None:
    others = {
        Acl("User:someone-else", "Write", "topic", TOPIC),
        Acl(PRINCIPAL, "Write", "topic", "OtherTopic"),
        Acl(BROKERS, "Read", "topic", "OtherTopic"),
    }
    for acl in others:
        table.add(acl)
    properties = acls(broker, DeletionPolicy="Delete")
    acl_event(broker, "Create", properties)

    acl_event(broker, "Delete", properties)

    assert set(table.acls) == others
    assert [b.principal for b in acl_calls["delete"]] == [PRINCIPAL] * 3 + [BROKERS] * 2


def test_delete_after_a_failed_create_touches_nothing(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    table.add(Acl(PRINCIPAL, "Write", "topic", TOPIC))
    event = cloudformation_event(
        "Delete",
        acls(broker, DeletionPolicy="Delete"),
        physical_id="AWSCDK::CustomResourceProviderFramework::CREATE_FAILED",
        resource_type=ACL_TYPE,
    )
    handler.on_event(event, LambdaContext(timeout_s=60))
    assert table.acls == [Acl(PRINCIPAL, "Write", "topic", TOPIC)]


@pytest.mark.parametrize(("policy", "old_topic_kept"), [("Delete", False), ("Retain", True)])
def test_a_renamed_topic_moves_the_topic_acls_and_keeps_the_cluster_ones(
    broker: SaslSslBroker, table: AclAuthorizer, policy: str, old_topic_kept: bool
) -> None:
    """The physical id is per cluster: a rename is an Update; the old topic's bindings go
    under DeletionPolicy Delete (after the new ones exist), the cluster's never."""
    old = acls(broker, DeletionPolicy=policy)
    acl_event(broker, "Create", old)

    new = acls(broker, DeletionPolicy=policy, TopicName="DocumentExceptionsV2")
    acl_event(broker, "Update", new, old=old)

    renamed = {
        Acl(PRINCIPAL, "Write", "topic", "DocumentExceptionsV2"),
        Acl(PRINCIPAL, "Describe", "topic", "DocumentExceptionsV2"),
        Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
        Acl(BROKERS, "All", "cluster", CLUSTER),
        Acl(BROKERS, "Read", "topic", "DocumentExceptionsV2"),
    }
    old_topic = {acl for acl in APP_ACLS | BROKER_ACLS if acl.name == TOPIC}
    assert set(table.acls) == renamed | (old_topic if old_topic_kept else set())


def test_an_update_with_unreadable_old_properties_removes_nothing(
    broker: SaslSslBroker, table: AclAuthorizer, acl_calls: dict
) -> None:
    acl_event(broker, "Create", acls(broker, DeletionPolicy="Delete"))
    acl_event(broker, "Update", acls(broker, DeletionPolicy="Delete"), old={"Bogus": "1"})
    assert acl_calls["delete"] == []
    assert set(table.acls) == APP_ACLS | BROKER_ACLS


def test_without_iam_the_resource_refuses_to_sign_in_as_the_app_user(
    broker: SaslSslBroker, table: AclAuthorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_AUTH_MODE", "scram")
    with pytest.raises(Exception, match=r"^KAFKA_AUTH_MODE: the ACL resource signs in with IAM"):
        acl_event(broker, "Create", acls(broker))
    # Delete leaves the ACLs (the README says how to remove them) and succeeds.
    table.add(Acl(PRINCIPAL, "Write", "topic", TOPIC))
    acl_event(broker, "Delete", acls(broker, DeletionPolicy="Delete"))
    assert table.acls == [Acl(PRINCIPAL, "Write", "topic", TOPIC)]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"AppPrincipal": None}, "AppPrincipal"),
        ({"AppPrincipal": "document-exceptions"}, "AppPrincipal"),
        ({"AppPrincipal": "User:ANONYMOUS"}, "AppPrincipal"),
        ({"BrokerPrincipal": "User:someone"}, "BrokerPrincipal"),
        ({"TopicName": None}, "TopicName"),
        ({"TopicName": "bad name"}, "TopicName"),
        ({"ClusterArn": "arn:aws:kafka:nope"}, "ClusterArn"),
        ({"DeletionPolicy": "Snapshot"}, "DeletionPolicy"),
        ({"TimeoutSeconds": "5"}, "TimeoutSeconds"),
        ({"BootstrapBrokers": "no port"}, "BootstrapBrokers"),
        ({"SecretArn": "arn:aws:secretsmanager:x"}, "SecretArn"),
    ],
)
def test_invalid_properties_are_refused_naming_the_field(overrides: dict, key: str) -> None:
    event = cloudformation_event("Create", acl_properties(**overrides), resource_type=ACL_TYPE)
    with pytest.raises(Exception, match=rf"^{key}: "):
        handler.on_event(event, LambdaContext(timeout_s=60))


def test_an_unknown_resource_type_is_refused_naming_the_field() -> None:
    event = cloudformation_event("Create", acl_properties(), resource_type="Custom::Other")
    with pytest.raises(Exception, match=r"^ResourceType: 'Custom::Other' is not one of"):
        handler.on_event(event, LambdaContext(timeout_s=60))


# --- migration from the topic resource that kept the ACLs (AclPrincipal) -------------------------


def test_migration_replayed_the_app_user_never_loses_its_rights(
    broker: SaslSslBroker, table: AclAuthorizer, acl_calls: dict
) -> None:
    """The events CloudFormation sends when an environment deployed from the previous
    version (topic resource with AclPrincipal) takes this one, in its order, on a harness that
    enforces as allow.everyone.if.no.acl.found=false: no moment without the app user's ACLs,
    no DeleteAcls at all; then a rollback to the old template's properties."""
    old_topic = topic(broker, AclPrincipal=PRINCIPAL, DeletionPolicy="Delete")
    new_topic = topic(broker, DeletionPolicy="Delete")
    new_acls = acls(broker, DeletionPolicy="Delete")

    # 0. Deployed from main: the topic resource made the topic and the app user's ACLs.
    topic_event(broker, "Create", old_topic)
    assert set(table.acls) == APP_ACLS
    writes_idempotently(broker, TOPIC)
    acl_calls["create"].clear()

    # 1. The topic resource's Update drops AclPrincipal: no ACL is touched.
    result = topic_event(broker, "Update", new_topic, old=old_topic)
    assert "AclPrincipal" not in result["Data"]
    assert set(table.acls) == APP_ACLS
    writes_idempotently(broker, TOPIC)

    # 2. The ACL resource is created after it: adopts the app user's, adds the brokers'.
    acl_event(broker, "Create", new_acls)
    assert sorted(acl_calls["create"]) == sorted(
        b for b in load("topic_acls").broker_bindings(TOPIC)
    )
    assert set(table.acls) == APP_ACLS | BROKER_ACLS
    writes_idempotently(broker, TOPIC)
    cannot_read(broker, TOPIC)

    # 3. Rollback: the topic resource gets the old properties back (the handler may still
    #    be the new one), then the ACL resource's Delete runs on the old code, which does not
    #    know the type and touches nothing (its properties are not a topic's).
    topic_event(broker, "Update", old_topic, old=new_topic)
    writes_idempotently(broker, TOPIC)

    assert acl_calls["delete"] == []
    assert set(table.acls) >= APP_ACLS


def test_a_legacy_topic_resource_deleted_removes_the_topic_acls_only(
    broker: SaslSslBroker, table: AclAuthorizer
) -> None:
    """An old-style topic resource's Delete (DeletionPolicy Delete) follows its properties for
    the topic's bindings; the cluster binding is shared with the ACL resource and stays."""
    old_topic = topic(broker, AclPrincipal=PRINCIPAL, DeletionPolicy="Delete")
    topic_event(broker, "Create", old_topic)
    acl_event(broker, "Create", acls(broker, DeletionPolicy="Delete"))

    topic_event(broker, "Delete", old_topic)

    assert set(table.acls) == {
        Acl(PRINCIPAL, "IdempotentWrite", "cluster", CLUSTER),
        *BROKER_ACLS,
    }


# --- the order: ACLs first, then allow.everyone.if.no.acl.found=false ---------------------------


@pytest.fixture
def open_table() -> AclAuthorizer:
    """MSK's default: allow.everyone.if.no.acl.found=true."""
    return AclAuthorizer.of([], allow_everyone_if_no_acl_found=True)


@pytest.fixture
def open_broker(
    open_table: AclAuthorizer, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> Iterator[SaslSslBroker]:
    with SaslSslBroker(username=APP_USER, acls=open_table) as kafka:
        handler_iam_environment(monkeypatch, tmp_path, kafka)
        topic_event(kafka, "Create", topic(kafka))
        yield kafka


def test_acls_first_then_the_setting_keeps_the_app_user_working(
    open_broker: SaslSslBroker, open_table: AclAuthorizer
) -> None:
    writes_idempotently(open_broker, TOPIC)  # open: MSK's default, no ACLs yet

    acl_event(open_broker, "Create", acls(open_broker))
    writes_idempotently(open_broker, TOPIC)

    open_table.set_allow_everyone_if_no_acl_found(False)  # the configuration update

    writes_idempotently(open_broker, TOPIC)
    cannot_create_a_topic(open_broker, "AnotherTopic")
    cannot_delete(open_broker, TOPIC)
    cannot_read(open_broker, TOPIC)


def test_the_setting_before_the_acls_locks_the_app_user_out(
    open_broker: SaslSslBroker, open_table: AclAuthorizer
) -> None:
    writes_idempotently(open_broker, TOPIC)

    open_table.set_allow_everyone_if_no_acl_found(False)  # too early: no ACL yet

    cannot_write(open_broker, TOPIC)
    acl_event(open_broker, "Create", acls(open_broker))  # the ACLs repair it
    writes_idempotently(open_broker, TOPIC)


# The last commit whose topic resource kept the ACLs itself (AclPrincipal), before this one.
PREVIOUS_VERSION = "89d0677"
ROLLBACK_SCRIPT = """
import json, sys
import handler
event = json.load(sys.stdin)
print(json.dumps(handler.on_event(event, None)))
"""


def test_rollback_the_previous_handler_ignores_the_acl_resources_delete(
    broker: SaslSslBroker, table: AclAuthorizer, tmp_path
) -> None:
    """A rollback restores the previous handler before CloudFormation deletes the ACL resource
    it created: that handler does not know Custom::KafkaAcls, reads the event as a topic's,
    finds properties it does not accept and touches nothing (DeletionPolicy Delete here)."""
    repository = Path(__file__).resolve().parents[1]
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{PREVIOUS_VERSION}^{{commit}}"],
        cwd=repository,
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.skip(f"commit {PREVIOUS_VERSION} is not in this clone (shallow checkout)")
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_VERSION, "topic_bootstrap", "document_exceptions"],
        cwd=repository,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "previous", filter="data")
    properties = acls(broker, DeletionPolicy="Delete")
    acl_event(broker, "Create", properties)
    before = list(table.acls)

    event = cloudformation_event(
        "Delete", properties, physical_id=acls_id(), resource_type=ACL_TYPE
    )
    previous = tmp_path / "previous"
    ran = subprocess.run(
        [sys.executable, "-c", ROLLBACK_SCRIPT],
        input=json.dumps(event),
        env={**os.environ, "PYTHONPATH": f"{previous / 'topic_bootstrap'}{os.pathsep}{previous}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {"PhysicalResourceId": acls_id()}
    assert "AppPrincipal: unknown property" in ran.stdout + ran.stderr
    assert table.acls == before
