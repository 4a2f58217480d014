"""Kafka ACLs for the harness's SASL/SCRAM sessions, enforced as MSK enforces them with
``allow.everyone.if.no.acl.found=false``: what no ACL allows is denied.

:class:`AclAuthorizer` answers Kafka's authorization question (principal, operation,
resource) with Apache Kafka's rules for the operations this project's clients use:

- Describe is implied by Read, Write, Delete and Alter on the same resource;
- creating a topic needs Create on that topic or on the cluster;
- an idempotent producer's InitProducerId needs IdempotentWrite on the cluster, or Write on
  any topic (Kafka 2.8+, KIP-679);
- ``*`` names every topic.

:func:`denial` checks one request from a SCRAM session and, when it is not allowed, builds
the answer Kafka gives (TOPIC_AUTHORIZATION_FAILED 29 per topic or partition,
CLUSTER_AUTHORIZATION_FAILED 31 for InitProducerId) with kafka-python's own protocol classes.
Checked: Produce (Write), Fetch (Read), CreateTopics (Create), DeleteTopics (Delete),
InitProducerId. Not modelled (said so, not papered over): Metadata is not filtered by
Describe, ListOffsets and the group APIs are not checked, transactional ids are not
modelled (a transactional InitProducerId is denied), Fetch v13+ (topic ids; kafka-python
3.0.12 fetches with v12 at most) is denied for want of a name, and a request naming both
allowed and denied topics is refused whole where Kafka would split it. IAM sessions are
authorized by IAM policies on MSK, which the harness does not model: they are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kafka.protocol.admin import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
)
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

Operation = Literal["Read", "Write", "Create", "Delete", "Describe", "Alter", "IdempotentWrite"]
ResourceType = Literal["topic", "cluster"]
CLUSTER = "kafka-cluster"
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
IMPLY_DESCRIBE = frozenset({"Read", "Write", "Delete", "Alter"})
PRODUCE, FETCH, CREATE_TOPICS, DELETE_TOPICS, INIT_PRODUCER_ID = 0, 1, 19, 20, 22


@dataclass(frozen=True)
class Acl:
    """One ALLOW binding: ``principal`` (``User:NAME``) may ``operation`` on a resource."""

    principal: str
    operation: Operation
    resource_type: ResourceType = "topic"
    name: str = CLUSTER


@dataclass(frozen=True)
class AclAuthorizer:
    acls: tuple[Acl, ...]

    @classmethod
    def of(cls, acls: Iterable[Acl]) -> AclAuthorizer:
        return cls(tuple(acls))

    def allowed(
        self, principal: str, operation: Operation, resource_type: ResourceType, name: str
    ) -> bool:
        for acl in self.acls:
            if acl.principal != principal or acl.resource_type != resource_type:
                continue
            if acl.name not in (name, "*"):
                continue
            if acl.operation == operation:
                return True
            if operation == "Describe" and acl.operation in IMPLY_DESCRIBE:
                return True
        if operation == "Create" and resource_type == "topic":
            return self.allowed(principal, "Create", "cluster", CLUSTER)
        if operation == "IdempotentWrite":
            return any(a.principal == principal and a.operation == "Write" for a in self.acls)
        return False


@dataclass(frozen=True)
class Check:
    """What to do with one request: forward it, or answer with ``answer`` (a framed
    response); ``expects_response`` is False for a Produce with acks=0."""

    answer: bytes | None
    expects_response: bool = True


FORWARD = Check(None)


def denial(authorizer: AclAuthorizer, principal: str, payload: bytes) -> Check:
    """Check one request payload (no size prefix) from ``principal``'s session."""
    api_key, version = (
        int.from_bytes(payload[0:2], "big", signed=True),
        int.from_bytes(payload[2:4], "big", signed=True),
    )
    handler = _HANDLERS.get(api_key)
    if handler is None:
        return FORWARD
    request_class, check = handler
    request = request_class.decode(payload, version=version, header=True)
    answer = check(authorizer, principal, request, version)
    expects = not (api_key == PRODUCE and request.acks == 0)
    if answer is None:
        return Check(None, expects)
    answer.with_header(correlation_id=request.header.correlation_id)
    return Check(answer.encode(framed=True, header=True), expects)


def _denied_topics(
    authorizer: AclAuthorizer, principal: str, operation: Operation, names: Iterable[str | None]
) -> bool:
    return any(
        name is None or not authorizer.allowed(principal, operation, "topic", name)
        for name in names
    )


def _produce(authorizer: AclAuthorizer, principal: str, request: Any, version: int) -> Any:
    if not _denied_topics(authorizer, principal, "Write", (t.name for t in request.topic_data)):
        return None
    topic_class = ProduceResponse.TopicProduceResponse
    partition_class = topic_class.PartitionProduceResponse
    return ProduceResponse(
        version=version,
        responses=[
            topic_class(
                version=version,
                name=topic.name,
                partition_responses=[
                    partition_class(
                        version=version,
                        index=partition.index,
                        error_code=TOPIC_AUTHORIZATION_FAILED,
                        base_offset=-1,
                    )
                    for partition in topic.partition_data
                ],
            )
            for topic in request.topic_data
        ],
    )


def _fetch(authorizer: AclAuthorizer, principal: str, request: Any, version: int) -> Any:
    names = [topic.topic if version <= 12 else None for topic in request.topics]
    if not _denied_topics(authorizer, principal, "Read", names):
        return None
    topic_class = FetchResponse.FetchableTopicResponse
    partition_class = topic_class.PartitionData
    return FetchResponse(
        version=version,
        responses=[
            topic_class(
                version=version,
                topic=topic.topic,
                topic_id=getattr(topic, "topic_id", None),
                partitions=[
                    partition_class(
                        version=version,
                        partition_index=partition.partition,
                        error_code=TOPIC_AUTHORIZATION_FAILED,
                        high_watermark=-1,
                        records=None,
                    )
                    for partition in topic.partitions
                ],
            )
            for topic in request.topics
        ],
    )


def _create(authorizer: AclAuthorizer, principal: str, request: Any, version: int) -> Any:
    if not _denied_topics(authorizer, principal, "Create", (t.name for t in request.topics)):
        return None
    result = CreateTopicsResponse.CreatableTopicResult
    return CreateTopicsResponse(
        version=version,
        topics=[
            result(
                version=version,
                name=topic.name,
                error_code=TOPIC_AUTHORIZATION_FAILED,
                error_message="Authorization failed.",
                num_partitions=-1,
                replication_factor=-1,
                configs=None,
            )
            for topic in request.topics
        ],
    )


def _delete(authorizer: AclAuthorizer, principal: str, request: Any, version: int) -> Any:
    names = [t.name for t in request.topics] if version >= 6 else list(request.topic_names or [])
    if not _denied_topics(authorizer, principal, "Delete", names):
        return None
    result = DeleteTopicsResponse.DeletableTopicResult
    return DeleteTopicsResponse(
        version=version,
        responses=[
            result(
                version=version,
                name=name,
                error_code=TOPIC_AUTHORIZATION_FAILED,
                error_message="Authorization failed.",
            )
            for name in names
        ],
    )


def _init_producer_id(authorizer: AclAuthorizer, principal: str, request: Any, version: int) -> Any:
    if request.transactional_id is None and authorizer.allowed(
        principal, "IdempotentWrite", "cluster", CLUSTER
    ):
        return None
    return InitProducerIdResponse(
        version=version,
        error_code=CLUSTER_AUTHORIZATION_FAILED,
        producer_id=-1,
        producer_epoch=-1,
    )


_HANDLERS: dict[int, tuple[Any, Any]] = {
    PRODUCE: (ProduceRequest, _produce),
    FETCH: (FetchRequest, _fetch),
    CREATE_TOPICS: (CreateTopicsRequest, _create),
    DELETE_TOPICS: (DeleteTopicsRequest, _delete),
    INIT_PRODUCER_ID: (InitProducerIdRequest, _init_producer_id),
}
