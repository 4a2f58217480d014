"""The Kafka ACLs the ACL custom resource (``Custom::KafkaAcls``, acl_resource.py) keeps.

Issue 16: the Django apps' SASL/SCRAM user may write and describe the topic and write
idempotently on the cluster, nothing else. Beside it, MSK's brokers get what they need to
replicate once the cluster and the topic have ACLs. Every binding is ALLOW, LITERAL, host
``*``. The resource describes the ACLs of both principals first and creates only the missing
ones, so ACLs made by hand (or by the topic resource of an earlier version) are adopted
rather than duplicated.

The brokers' principal (``BROKER_PRINCIPAL``, ``User:ANONYMOUS``): on a SASL/SCRAM cluster
MSK's brokers talk to each other on the REPLICATION_SECURE listener as ``User:ANONYMOUS``,
and once the cluster resource has any ACL, Kafka allows a principal only what an ACL grants
on it: a ClusterAuthorizationException for ``User:ANONYMOUS`` breaks internal replication;
the remedy AWS documents is ``kafka-acls.sh --add --allow-principal User:ANONYMOUS
--operation ALL --cluster`` (AWS knowledge center, "msk-sasl-scram-issues",
https://repost.aws/knowledge-center/msk-sasl-scram-issues). The MSK developer guide, "Apache
Kafka ACLs" (https://docs.aws.amazon.com/msk/latest/developerguide/msk-acls.html): "you also
need to grant all your brokers access to your topics so that the brokers can replicate
messages from the primary partition. If the brokers don't have access to a topic,
replication for the topic fails"; it grants them Read on the topic. Hence ALL on the cluster
and READ on the topic. These grants are safe only because no client can be ANONYMOUS: the
cluster refuses unauthenticated clients and speaks TLS only to clients (stacks/
kafka_cluster.py; stacks/kafka_acls.py refuses the bindings otherwise).

Order: the brokers' bindings are created before the app user's (the first ACL on the cluster
or the topic closes it to every principal no ACL names, the brokers included) and removed
after them.

Why only beside IAM: Kafka ACLs govern the SASL/SCRAM principal only (MSK developer guide,
IAM access control: "Apache Kafka ACLs have no effect on authorization for IAM identities").
A resource that signs in as the SCRAM user itself (``kafka_auth`` "scram") must not set
them: once a resource has any ACL, Kafka allows a principal only what an ACL grants on it,
so the cluster-level IdempotentWrite and the topic's Write/Describe would take away the
Create, Alter and Delete rights the topic resource needs on its next event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from document_exceptions.names import BROKER_PRINCIPAL

log = logging.getLogger(__name__)

# Kafka's name for the cluster resource in ACLs.
CLUSTER_RESOURCE = "kafka-cluster"
AclResourceType = Literal["TOPIC", "CLUSTER"]
AclOperation = Literal["WRITE", "DESCRIBE", "IDEMPOTENT_WRITE", "READ", "ALL"]

__all__ = [
    "BROKER_PRINCIPAL",
    "CLUSTER_RESOURCE",
    "AclAdmin",
    "AclBinding",
    "app_bindings",
    "broker_bindings",
    "ensure_bindings",
    "missing_bindings",
    "remove_bindings",
    "resource_bindings",
]


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW, LITERAL, any-host ACL for ``principal`` (``User:NAME``)."""

    principal: str
    resource_type: AclResourceType
    resource_name: str
    operation: AclOperation

    def describe(self) -> str:
        return f"{self.principal} {self.operation} on {self.resource_type} {self.resource_name}"


def app_bindings(principal: str, topic: str) -> tuple[AclBinding, ...]:
    """What the app user needs to produce (idempotently) to ``topic``, and nothing else."""
    return (
        AclBinding(principal, "TOPIC", topic, "WRITE"),
        AclBinding(principal, "TOPIC", topic, "DESCRIBE"),
        AclBinding(principal, "CLUSTER", CLUSTER_RESOURCE, "IDEMPOTENT_WRITE"),
    )


def broker_bindings(topic: str) -> tuple[AclBinding, ...]:
    """What MSK's brokers need to replicate ``topic`` once the cluster and it have ACLs."""
    return (
        AclBinding(BROKER_PRINCIPAL, "CLUSTER", CLUSTER_RESOURCE, "ALL"),
        AclBinding(BROKER_PRINCIPAL, "TOPIC", topic, "READ"),
    )


def resource_bindings(app_principal: str, topic: str, *, brokers: bool) -> tuple[AclBinding, ...]:
    """Every binding one ACL resource keeps, in creation order (the brokers' first, when
    ``brokers``); remove them in reverse."""
    return (*(broker_bindings(topic) if brokers else ()), *app_bindings(app_principal, topic))


def missing_bindings(
    desired: tuple[AclBinding, ...], existing: frozenset[AclBinding]
) -> tuple[AclBinding, ...]:
    """``desired`` less what already exists (adopted), in ``desired``'s order."""
    return tuple(binding for binding in desired if binding not in existing)


class AclAdmin(Protocol):
    """The ACL calls of the admin boundary (topic_admin.TopicAdmin has them)."""

    def describe_acls(self, principal: str) -> frozenset[AclBinding]: ...

    def create_acls(self, bindings: tuple[AclBinding, ...]) -> None: ...

    def delete_acls(self, bindings: tuple[AclBinding, ...]) -> int: ...


def ensure_bindings(admin: AclAdmin, desired: tuple[AclBinding, ...]) -> tuple[AclBinding, ...]:
    """Describe the ACLs of ``desired``'s principals, adopt what exists, create the rest
    (in ``desired``'s order, one request); returns what was created."""
    principals = tuple(dict.fromkeys(binding.principal for binding in desired))
    existing = frozenset().union(*(admin.describe_acls(principal) for principal in principals))
    missing = missing_bindings(desired, existing)
    admin.create_acls(missing)
    log.info(
        "ACLs in place",
        extra={
            "principals": list(principals),
            "created_acls": [b.describe() for b in missing],
            "adopted_acls": [b.describe() for b in desired if b in existing],
        },
    )
    return missing


def remove_bindings(admin: AclAdmin, bindings: tuple[AclBinding, ...]) -> int:
    """Delete exactly ``bindings`` (exact filters: never another principal's, host's or
    resource's ACLs), in reverse creation order; returns how many were found."""
    in_order = tuple(reversed(bindings))
    removed = admin.delete_acls(in_order)
    log.info(
        "removed ACLs",
        extra={"acls": [b.describe() for b in in_order], "removed": removed},
    )
    return removed
