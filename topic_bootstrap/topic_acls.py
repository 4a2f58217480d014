"""The Kafka ACLs the topic resource keeps for the Django apps' SASL/SCRAM user.

Issue 16: that principal may write and describe the topic and write idempotently on the
cluster, nothing else. These bindings are ALLOW, LITERAL, host ``*``. The resource describes
the principal's ACLs first and creates only the missing ones, so ACLs made by hand (or by an
earlier resource) are adopted rather than duplicated.

Why only beside IAM: Kafka ACLs govern the SASL/SCRAM principal only (MSK developer guide,
IAM access control: "Apache Kafka ACLs have no effect on authorization for IAM identities").
A resource that signs in as the SCRAM user itself (``kafka_auth`` "scram") must not set
them: once a resource has any ACL, Kafka allows a principal only what an ACL grants on it,
so the cluster-level IdempotentWrite and the topic's Write/Describe would take away the
Create, Alter and Delete rights the resource needs on its next event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Kafka's name for the cluster resource in ACLs.
CLUSTER_RESOURCE = "kafka-cluster"
AclResourceType = Literal["TOPIC", "CLUSTER"]
AclOperation = Literal["WRITE", "DESCRIBE", "IDEMPOTENT_WRITE"]


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


def missing_bindings(
    desired: tuple[AclBinding, ...], existing: frozenset[AclBinding]
) -> tuple[AclBinding, ...]:
    """``desired`` less what already exists (adopted), in ``desired``'s order."""
    return tuple(binding for binding in desired if binding not in existing)
