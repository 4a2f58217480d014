"""The Kafka requests a function's code sends, and the MSK IAM actions each one needs.

The worker records every request kafka-python sends (`install_recorder`), with the topics
and consumer groups it names; `needed_actions` turns them into `kafka-cluster:*` actions on
the cluster, topic and group ARNs, following the MSK developer guide's "Semantics of IAM
authorization policy actions and resources" (each action with its required companions).

The only module of the rehearsal that reaches into kafka-python: the connection class whose
`_send_request` every request passes through, and each request's JSON schema (`json`,
`to_dict()`), whose `entityType` marks topic and group names. tests/test_rehearse.py fails
when either changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CONNECT = "kafka-cluster:Connect"
# Request name -> (action, resource kind) pairs; "cluster" actions are on the cluster ARN,
# "topic" and "group" ones on each topic or group the request names.
ACTIONS_OF_REQUEST: Mapping[str, tuple[tuple[str, str], ...]] = {
    "ApiVersionsRequest": ((CONNECT, "cluster"),),
    "SaslHandshakeRequest": ((CONNECT, "cluster"),),
    "SaslAuthenticateRequest": ((CONNECT, "cluster"),),
    "MetadataRequest": ((CONNECT, "cluster"), ("kafka-cluster:DescribeTopic", "topic")),
    "DescribeClusterRequest": (("kafka-cluster:DescribeCluster", "cluster"),),
    "ProduceRequest": (
        ("kafka-cluster:WriteData", "topic"),
        ("kafka-cluster:DescribeTopic", "topic"),
    ),
    # Idempotent producer (no transactional id): MSK asks WriteDataIdempotently on the cluster.
    "InitProducerIdRequest": (("kafka-cluster:WriteDataIdempotently", "cluster"),),
    "CreateTopicsRequest": (("kafka-cluster:CreateTopic", "topic"),),
    "DeleteTopicsRequest": (
        ("kafka-cluster:DeleteTopic", "topic"),
        ("kafka-cluster:DescribeTopic", "topic"),
    ),
    "CreatePartitionsRequest": (
        ("kafka-cluster:AlterTopic", "topic"),
        ("kafka-cluster:DescribeTopic", "topic"),
    ),
    "DescribeConfigsRequest": (("kafka-cluster:DescribeTopicDynamicConfiguration", "topic"),),
    "AlterConfigsRequest": (("kafka-cluster:AlterTopicDynamicConfiguration", "topic"),),
    "IncrementalAlterConfigsRequest": (("kafka-cluster:AlterTopicDynamicConfiguration", "topic"),),
    "ListOffsetsRequest": (("kafka-cluster:DescribeTopic", "topic"),),
    "FetchRequest": (("kafka-cluster:ReadData", "topic"), ("kafka-cluster:DescribeTopic", "topic")),
    "FindCoordinatorRequest": (("kafka-cluster:DescribeGroup", "group"),),
    "OffsetFetchRequest": (("kafka-cluster:DescribeGroup", "group"),),
    "JoinGroupRequest": (("kafka-cluster:AlterGroup", "group"),),
    "SyncGroupRequest": (("kafka-cluster:AlterGroup", "group"),),
    "HeartbeatRequest": (("kafka-cluster:AlterGroup", "group"),),
    "LeaveGroupRequest": (("kafka-cluster:AlterGroup", "group"),),
    "OffsetCommitRequest": (("kafka-cluster:AlterGroup", "group"),),
    # Kafka's ACL APIs need DESCRIBE / ALTER on the cluster, which MSK maps to these actions
    # (developer guide, IAM access control); the ACL resource keeps the app user's and the
    # brokers' ACLs.
    "DescribeAclsRequest": (("kafka-cluster:DescribeCluster", "cluster"),),
    "CreateAclsRequest": (("kafka-cluster:AlterCluster", "cluster"),),
    "DeleteAclsRequest": (("kafka-cluster:AlterCluster", "cluster"),),
}
# ConfigResource types of DescribeConfigs / (Incremental)AlterConfigs.
TOPIC_RESOURCE_TYPE = 2
_ENTITY_KINDS = {"topicName": "topics", "groupId": "groups"}
_MARKER = "_rehearsal_recorder"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _collect(fields: Iterable[Mapping[str, Any]], data: Any, found: dict[str, set[str]]) -> None:
    """Walk `data` (a request's `to_dict()`) along its schema `fields`."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        if item.get("resource_type") == TOPIC_RESOURCE_TYPE and item.get("resource_name"):
            found["topics"].add(str(item["resource_name"]))
        for spec in fields:
            value = item.get(_snake(spec["name"]))
            kind = _ENTITY_KINDS.get(spec.get("entityType", ""))
            if kind and value:
                found[kind].update(str(v) for v in (value if isinstance(value, list) else [value]))
            if spec.get("fields") and value:
                _collect(spec["fields"], value, found)


def describe(request: Any) -> dict[str, Any]:
    """{"api": name, "topics": [...], "groups": [...]} of one kafka-python request object."""
    found: dict[str, set[str]] = {"topics": set(), "groups": set()}
    _collect(type(request).json.get("fields", []), request.to_dict(), found)
    return {"api": type(request).name, **{k: sorted(v) for k, v in found.items()}}


def install_recorder(record: Callable[[dict[str, Any]], None]) -> None:
    """Make kafka-python (as imported now) call `record(describe(request))` for every request."""
    from kafka.net import connection  # noqa: PLC0415 - the asset's kafka-python, once loaded

    cls = connection.KafkaConnection
    if getattr(cls, _MARKER, None) is record:
        return
    original = getattr(cls, "_rehearsal_original", cls._send_request)

    def _send_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        record(describe(request))
        return original(self, request, *args, **kwargs)

    cls._rehearsal_original = original
    cls._send_request = _send_request
    setattr(cls, _MARKER, record)


def needed_actions(
    requests: Iterable[Mapping[str, Any]], arn_of: Callable[[str, str], str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """((action, resource ARN) pairs, unknown request names) for the recorded requests.

    `arn_of(kind, name)` gives the ARN of the cluster (kind "cluster"), a topic or a group.
    """
    needed: dict[tuple[str, str], None] = {}
    unknown: list[str] = []
    for request in requests:
        pairs = ACTIONS_OF_REQUEST.get(request["api"])
        if pairs is None:
            if request["api"] not in unknown:
                unknown.append(request["api"])
            continue
        needed[(CONNECT, arn_of("cluster", ""))] = None
        for action, kind in pairs:
            if kind == "cluster":
                needed[(action, arn_of("cluster", ""))] = None
                continue
            for name in request.get(f"{kind}s", []):
                needed[(action, arn_of(kind, name))] = None
    return list(needed), unknown
