"""Kafka ACLs for the harness's SASL/SCRAM sessions, enforced as MSK enforces them with
``allow.everyone.if.no.acl.found=false``: what no ACL allows is denied (or, with
``allow_everyone_if_no_acl_found``, MSK's default: a resource no ACL names is open to all).

:class:`AclAuthorizer` answers Kafka's authorization question (principal, operation,
resource) with Apache Kafka's rules for the operations this project's clients use:

- All allows every operation on its resource; Describe is implied by Read, Write, Delete
  and Alter on the same resource;
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

The ACL table is the front-end's own: :func:`denial` answers CreateAcls, DescribeAcls and
DeleteAcls itself (Tansu keeps no ACLs) from and into the :class:`AclAuthorizer`, so what a
client creates is what the harness then enforces. An IAM session may call them (on MSK, IAM
policies decide: ``kafka-cluster:AlterCluster`` / ``DescribeCluster``); a SCRAM session needs
Alter (create, delete) or Describe (describe) on the cluster, as in Kafka. Stored are ALLOW,
LITERAL, host ``*`` bindings of the operations above on topics and the cluster; any other
creation is refused with INVALID_REQUEST rather than stored and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kafka.protocol.admin import (
    CreateAclsRequest,
    CreateAclsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteAclsRequest,
    DeleteAclsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DescribeAclsRequest,
    DescribeAclsResponse,
)
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.metadata import ApiVersionsResponse
from kafka.protocol.producer import (
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
)

Operation = Literal[
    "All", "Read", "Write", "Create", "Delete", "Describe", "Alter", "IdempotentWrite"
]
ResourceType = Literal["topic", "cluster"]
CLUSTER = "kafka-cluster"
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
IMPLY_DESCRIBE = frozenset({"Read", "Write", "Delete", "Alter"})
INVALID_REQUEST = 42
PRODUCE, FETCH, CREATE_TOPICS, DELETE_TOPICS, INIT_PRODUCER_ID = 0, 1, 19, 20, 22
DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
# The ACL API versions the front-end answers (kafka-python 3.0.12 speaks 1-3 of each).
ACL_API_VERSIONS = {DESCRIBE_ACLS: (1, 3), CREATE_ACLS: (1, 3), DELETE_ACLS: (1, 3)}
# Kafka's wire codes (org.apache.kafka.common.acl / resource).
OPERATION_CODES: dict[str, int] = {
    "All": 2,
    "Read": 3,
    "Write": 4,
    "Create": 5,
    "Delete": 6,
    "Alter": 7,
    "Describe": 8,
    "IdempotentWrite": 12,
}
RESOURCE_TYPE_CODES: dict[str, int] = {"topic": 2, "cluster": 4}
ANY_CODE, MATCH_CODE, LITERAL_CODE, ALLOW_CODE = 1, 2, 3, 3
ANY_HOST = "*"


@dataclass(frozen=True)
class Acl:
    """One ALLOW binding: ``principal`` (``User:NAME``) may ``operation`` on a resource."""

    principal: str
    operation: Operation
    resource_type: ResourceType = "topic"
    name: str = CLUSTER


@dataclass
class AclAuthorizer:
    """The front-end's ACL table: read by the checks below, written by CreateAcls and
    DeleteAcls (one asyncio loop serves every session, so no lock is needed)."""

    acls: list[Acl]
    # Kafka's allow.everyone.if.no.acl.found: True lets anyone act on a resource no ACL
    # names (MSK's default); False (MSK with the setting off) denies what no ACL allows.
    allow_everyone_if_no_acl_found: bool = False

    @classmethod
    def of(
        cls, acls: Iterable[Acl], *, allow_everyone_if_no_acl_found: bool = False
    ) -> AclAuthorizer:
        return cls(list(dict.fromkeys(acls)), allow_everyone_if_no_acl_found)

    def set_allow_everyone_if_no_acl_found(self, value: bool) -> None:
        """Switch the setting while sessions run, as an MSK configuration update does (MSK
        rolls it through the brokers; here every later request sees it at once)."""
        self.allow_everyone_if_no_acl_found = value

    def add(self, acl: Acl) -> None:
        if acl not in self.acls:
            self.acls.append(acl)

    def remove(self, acl: Acl) -> None:
        self.acls.remove(acl)

    def allowed(
        self, principal: str, operation: Operation, resource_type: ResourceType, name: str
    ) -> bool:
        if self.allow_everyone_if_no_acl_found and not any(
            acl.resource_type == resource_type and acl.name in (name, "*") for acl in self.acls
        ):
            return True
        for acl in self.acls:
            if acl.principal != principal or acl.resource_type != resource_type:
                continue
            if acl.name not in (name, "*"):
                continue
            if acl.operation in (operation, "All"):
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
    denied: bool = True
    """False for an ACL API answered from the table (not a refusal)."""


FORWARD = Check(None)


def denial(authorizer: AclAuthorizer, principal: str | None, payload: bytes) -> Check:
    """Check one request payload (no size prefix) from ``principal``'s session (None: an
    IAM session, checked by nothing but the ACL APIs answered here)."""
    api_key, version = (
        int.from_bytes(payload[0:2], "big", signed=True),
        int.from_bytes(payload[2:4], "big", signed=True),
    )
    handler = _HANDLERS.get(api_key)
    if handler is None or (principal is None and api_key not in ACL_API_VERSIONS):
        return FORWARD
    request_class, check = handler
    request = request_class.decode(payload, version=version, header=True)
    answer = check(authorizer, principal, request, version)
    expects = not (api_key == PRODUCE and request.acks == 0)
    if answer is None:
        return Check(None, expects)
    answer.with_header(correlation_id=request.header.correlation_id)
    denied = api_key not in ACL_API_VERSIONS or _refused_acl_request(answer)
    return Check(bytes(answer.encode(framed=True, header=True)), expects, denied)


def _refused_acl_request(answer: Any) -> bool:
    codes = [getattr(answer, "error_code", 0)]
    codes += [r.error_code for r in getattr(answer, "results", None) or []]
    codes += [r.error_code for r in getattr(answer, "filter_results", None) or []]
    return CLUSTER_AUTHORIZATION_FAILED in codes


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


def _acl_admin_allowed(
    authorizer: AclAuthorizer, principal: str | None, operation: Operation
) -> bool:
    return principal is None or authorizer.allowed(principal, operation, "cluster", CLUSTER)


def _stored_acl(creation: Any) -> Acl | None:
    """The table's form of one CreateAcls creation, or None if it is not one it models."""
    operation = _name_of(OPERATION_CODES, creation.operation)
    resource_type = _name_of(RESOURCE_TYPE_CODES, creation.resource_type)
    if (
        operation is None
        or resource_type is None
        or creation.permission_type != ALLOW_CODE
        or creation.resource_pattern_type != LITERAL_CODE
        or creation.host != ANY_HOST
        or (resource_type == "cluster" and creation.resource_name != CLUSTER)
    ):
        return None
    return Acl(creation.principal, operation, resource_type, creation.resource_name)  # type: ignore[arg-type]


def _name_of(codes: dict[str, int], code: int) -> str | None:
    return next((name for name, value in codes.items() if value == code), None)


def _matches(acl: Acl, acl_filter: Any) -> bool:
    """Kafka's AclBindingFilter.matches for the table's (ALLOW, LITERAL, host *) entries."""
    checks = (
        acl_filter.resource_type_filter in (ANY_CODE, RESOURCE_TYPE_CODES[acl.resource_type]),
        acl_filter.resource_name_filter in (None, acl.name),
        acl_filter.pattern_type_filter in (ANY_CODE, MATCH_CODE, LITERAL_CODE),
        acl_filter.principal_filter in (None, acl.principal),
        acl_filter.host_filter in (None, ANY_HOST),
        acl_filter.operation in (ANY_CODE, OPERATION_CODES[acl.operation]),
        acl_filter.permission_type in (ANY_CODE, ALLOW_CODE),
    )
    return all(checks)


def _create_acls(
    authorizer: AclAuthorizer, principal: str | None, request: Any, version: int
) -> Any:
    result = CreateAclsResponse.AclCreationResult
    allowed = _acl_admin_allowed(authorizer, principal, "Alter")
    results = []
    for creation in request.creations:
        acl = _stored_acl(creation)
        if not allowed:
            error, message = CLUSTER_AUTHORIZATION_FAILED, "Authorization failed."
        elif acl is None:
            error = INVALID_REQUEST
            message = "the harness stores ALLOW, LITERAL, host * ACLs on topics and the cluster"
        else:
            authorizer.add(acl)
            error, message = 0, None
        results.append(result(version=version, error_code=error, error_message=message))
    return CreateAclsResponse(version=version, throttle_time_ms=0, results=results)


def _describe_acls(
    authorizer: AclAuthorizer, principal: str | None, request: Any, version: int
) -> Any:
    if not _acl_admin_allowed(authorizer, principal, "Describe"):
        return DescribeAclsResponse(
            version=version,
            throttle_time_ms=0,
            error_code=CLUSTER_AUTHORIZATION_FAILED,
            error_message="Authorization failed.",
            resources=[],
        )
    resource_class = DescribeAclsResponse.DescribeAclsResource
    description = resource_class.AclDescription
    grouped: dict[tuple[str, str], list[Acl]] = {}
    for acl in authorizer.acls:
        if _matches(acl, request):
            grouped.setdefault((acl.resource_type, acl.name), []).append(acl)
    resources = [
        resource_class(
            version=version,
            resource_type=RESOURCE_TYPE_CODES[resource_type],
            resource_name=name,
            pattern_type=LITERAL_CODE,
            acls=[
                description(
                    version=version,
                    principal=acl.principal,
                    host=ANY_HOST,
                    operation=OPERATION_CODES[acl.operation],
                    permission_type=ALLOW_CODE,
                )
                for acl in acls
            ],
        )
        for (resource_type, name), acls in grouped.items()
    ]
    return DescribeAclsResponse(
        version=version, throttle_time_ms=0, error_code=0, error_message=None, resources=resources
    )


def _delete_acls(
    authorizer: AclAuthorizer, principal: str | None, request: Any, version: int
) -> Any:
    filter_result = DeleteAclsResponse.DeleteAclsFilterResult
    matching = filter_result.DeleteAclsMatchingAcl
    allowed = _acl_admin_allowed(authorizer, principal, "Alter")
    results = []
    for acl_filter in request.filters:
        if not allowed:
            results.append(
                filter_result(
                    version=version,
                    error_code=CLUSTER_AUTHORIZATION_FAILED,
                    error_message="Authorization failed.",
                    matching_acls=[],
                )
            )
            continue
        removed = [acl for acl in authorizer.acls if _matches(acl, acl_filter)]
        for acl in removed:
            authorizer.remove(acl)
        results.append(
            filter_result(
                version=version,
                error_code=0,
                error_message=None,
                matching_acls=[
                    matching(
                        version=version,
                        error_code=0,
                        error_message=None,
                        resource_type=RESOURCE_TYPE_CODES[acl.resource_type],
                        resource_name=acl.name,
                        pattern_type=LITERAL_CODE,
                        principal=acl.principal,
                        host=ANY_HOST,
                        operation=OPERATION_CODES[acl.operation],
                        permission_type=ALLOW_CODE,
                    )
                    for acl in removed
                ],
            )
        )
    return DeleteAclsResponse(version=version, throttle_time_ms=0, filter_results=results)


def advertise_acl_apis(response_payload: bytes, request_version: int) -> bytes:
    """An ApiVersions response (payload, no size prefix) that also offers the ACL APIs the
    front-end answers (Tansu 0.6 offers no DeleteAcls); returned framed."""
    response = ApiVersionsResponse.decode(response_payload, version=request_version, header=True)
    correlation_id = response.header.correlation_id
    api_class = ApiVersionsResponse.ApiVersion
    keys = [api for api in response.api_keys if api.api_key not in ACL_API_VERSIONS]
    keys += [
        api_class(version=request_version, api_key=key, min_version=low, max_version=high)
        for key, (low, high) in sorted(ACL_API_VERSIONS.items())
    ]
    response.api_keys = keys
    response.with_header(correlation_id=correlation_id)
    return bytes(response.encode(framed=True, header=True))


_HANDLERS: dict[int, tuple[Any, Any]] = {
    PRODUCE: (ProduceRequest, _produce),
    FETCH: (FetchRequest, _fetch),
    CREATE_TOPICS: (CreateTopicsRequest, _create),
    DELETE_TOPICS: (DeleteTopicsRequest, _delete),
    INIT_PRODUCER_ID: (InitProducerIdRequest, _init_producer_id),
    DESCRIBE_ACLS: (DescribeAclsRequest, _describe_acls),
    CREATE_ACLS: (CreateAclsRequest, _create_acls),
    DELETE_ACLS: (DeleteAclsRequest, _delete_acls),
}
