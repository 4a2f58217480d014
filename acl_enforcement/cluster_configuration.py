"""Point an MSK cluster at its ACL-enforcing configuration once the Kafka ACLs exist.

The cluster's template references the open configuration (MSK's default
`allow.everyone.if.no.acl.found=true`); a second configuration holds the same broker
settings plus `false`. This custom resource runs after the resource that creates the SCRAM
user's ACLs and switches the cluster over with `kafka:UpdateClusterConfiguration`, a rolling
broker restart that outlasts a Lambda invocation: `on_event` starts it and hands MSK's
operation ARN (in `Data`) to `is_complete`, which the CDK Provider framework calls until the
operation ends.

- Create, Update: the target is the enforced configuration when `AllowEveryoneIfNoAclFound`
  is "false", the open one when "true" (turning enforcement off re-opens). A cluster already
  on the target's ARN and revision is left alone; otherwise it must be ACTIVE.
- Delete: the open configuration again, unless the stack itself is being deleted (the
  cluster goes, or is retained, with its stack), the cluster is gone, or its configuration is
  no longer the enforced one.

Plain functions over an MSK client and a CloudFormation client: `handler.py` builds bounded
ones, the tests pass stubbed ones. Every error is one line, as CloudFormation shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from document_exceptions.names import (
    ENFORCEMENT_ALLOW_EVERYONE,
    ENFORCEMENT_CLUSTER_ARN,
    ENFORCEMENT_ENFORCED_ARN,
    ENFORCEMENT_ENFORCED_REVISION,
    ENFORCEMENT_OPEN_ARN,
    ENFORCEMENT_OPEN_REVISION,
    ENFORCEMENT_OPERATION_ARN,
    ENFORCEMENT_PHYSICAL_ID_SUFFIX,
)

REQUEST_TYPES = ("Create", "Update", "Delete")
ACTIVE = "ACTIVE"
STACK_BEING_DELETED = "DELETE_IN_PROGRESS"
# MSK's cluster operation states (DescribeClusterOperationV2 `OperationState`).
OPERATION_WAITING = frozenset({"PENDING", "UPDATE_IN_PROGRESS"})
OPERATION_DONE = "UPDATE_COMPLETE"
OPERATION_FAILED = "UPDATE_FAILED"
NOT_FOUND = "NotFoundException"
# MSK's own error text is quoted in the reason up to this many characters.
MAX_QUOTED_CHARS = 400


class EnforcementError(RuntimeError):
    """A failure this resource reports to CloudFormation, as one line."""


class EventError(EnforcementError):
    """The event lacks a field or has an invalid one; the message names the field."""


class ClusterNotActiveError(EnforcementError):
    """The cluster's configuration must change, but MSK accepts no change in its state."""


class OperationFailedError(EnforcementError):
    """MSK could not apply the configuration."""


@dataclass(frozen=True)
class ConfigurationRef:
    """One revision of an MSK configuration."""

    arn: str
    revision: int


@dataclass(frozen=True)
class Request:
    """What one CloudFormation event asks for, parsed from its ResourceProperties."""

    request_type: str
    stack_id: str
    cluster_arn: str
    open: ConfigurationRef
    enforced: ConfigurationRef
    allow_everyone: bool

    @property
    def target(self) -> ConfigurationRef:
        return self.open if self.allow_everyone else self.enforced


def physical_resource_id(cluster_arn: str) -> str:
    """Stable for the cluster's life: CloudFormation never replaces (and so deletes) it."""
    return cluster_arn + ENFORCEMENT_PHYSICAL_ID_SUFFIX


def one_line(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def parse_event(event: Any) -> Request:
    """The event's request, or `EventError` naming the first missing or invalid field."""
    if not isinstance(event, Mapping):
        raise EventError("event: expected an object")
    request_type = event.get("RequestType")
    if request_type not in REQUEST_TYPES:
        raise EventError(f"RequestType: {request_type!r} is not one of {', '.join(REQUEST_TYPES)}")
    stack_id = _text(event, "StackId", "StackId")
    properties = event.get("ResourceProperties")
    if not isinstance(properties, Mapping):
        raise EventError("ResourceProperties: expected an object")
    allow_everyone = _text(
        properties, ENFORCEMENT_ALLOW_EVERYONE, f"ResourceProperties.{ENFORCEMENT_ALLOW_EVERYONE}"
    )
    if allow_everyone not in ("true", "false"):
        raise EventError(
            f"ResourceProperties.{ENFORCEMENT_ALLOW_EVERYONE}: {allow_everyone!r} is not "
            "'true' or 'false'"
        )
    return Request(
        request_type=request_type,
        stack_id=stack_id,
        cluster_arn=_text(
            properties, ENFORCEMENT_CLUSTER_ARN, f"ResourceProperties.{ENFORCEMENT_CLUSTER_ARN}"
        ),
        open=_configuration(properties, ENFORCEMENT_OPEN_ARN, ENFORCEMENT_OPEN_REVISION),
        enforced=_configuration(
            properties, ENFORCEMENT_ENFORCED_ARN, ENFORCEMENT_ENFORCED_REVISION
        ),
        allow_everyone=allow_everyone == "true",
    )


def _text(mapping: Mapping[str, Any], key: str, path: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"{path}: required, a non-empty string")
    return value


def _configuration(
    properties: Mapping[str, Any], arn_key: str, revision_key: str
) -> ConfigurationRef:
    arn = _text(properties, arn_key, f"ResourceProperties.{arn_key}")
    revision = properties.get(revision_key)
    # CloudFormation hands every custom resource property over as a string.
    if not isinstance(revision, str | int) or not str(revision).isdigit() or int(revision) < 1:
        raise EventError(
            f"ResourceProperties.{revision_key}: {revision!r} is not a configuration revision "
            "(a positive integer)"
        )
    return ConfigurationRef(arn=arn, revision=int(revision))


def on_event(event: Any, kafka: Any, cloudformation: Any) -> dict[str, Any]:
    """Start what the event asks for; `Data` carries the MSK operation to wait for, if any."""
    request = parse_event(event)
    physical_id = physical_resource_id(request.cluster_arn)
    if request.request_type == "Delete":
        operation = reopen(request, kafka, cloudformation)
        # The framework refuses a Delete that answers with another id than it was given.
        physical_id = event.get("PhysicalResourceId") or physical_id
    else:
        operation = switch(kafka, request.cluster_arn, request.target, describe(kafka, request))
    return {
        "PhysicalResourceId": physical_id,
        "Data": {ENFORCEMENT_OPERATION_ARN: operation} if operation else {},
    }


def describe(kafka: Any, request: Request) -> Mapping[str, Any]:
    """`kafka:DescribeClusterV2`'s ClusterInfo."""
    return kafka.describe_cluster_v2(ClusterArn=request.cluster_arn)["ClusterInfo"]


def current_configuration(cluster: Mapping[str, Any]) -> ConfigurationRef | None:
    software = cluster.get("Provisioned", {}).get("CurrentBrokerSoftwareInfo", {})
    arn, revision = software.get("ConfigurationArn"), software.get("ConfigurationRevision")
    return ConfigurationRef(arn, int(revision)) if arn and revision is not None else None


def switch(
    kafka: Any, cluster_arn: str, target: ConfigurationRef, cluster: Mapping[str, Any]
) -> str | None:
    """Point the cluster at `target` unless it is there already; MSK's operation ARN, or None."""
    if current_configuration(cluster) == target:
        return None
    state = cluster.get("State")
    if state != ACTIVE:
        raise ClusterNotActiveError(
            f"cluster {cluster.get('ClusterName') or cluster_arn} is {state}, not {ACTIVE}: MSK "
            f"changes a configuration only on an {ACTIVE} cluster; deploy again once it is"
        )
    answer = kafka.update_cluster_configuration(
        ClusterArn=cluster_arn,
        ConfigurationInfo={"Arn": target.arn, "Revision": target.revision},
        CurrentVersion=cluster["CurrentVersion"],
    )
    return str(answer["ClusterOperationArn"])


def reopen(request: Request, kafka: Any, cloudformation: Any) -> str | None:
    """On Delete: back to the open configuration where that is still this resource's job."""
    stacks = cloudformation.describe_stacks(StackName=request.stack_id)["Stacks"]
    if stacks and stacks[0].get("StackStatus") == STACK_BEING_DELETED:
        return None
    try:
        cluster = describe(kafka, request)
    except Exception as exc:
        if _error_code(exc) == NOT_FOUND:
            return None
        raise
    current = current_configuration(cluster)
    if current is None or current.arn != request.enforced.arn:
        return None
    return switch(kafka, request.cluster_arn, request.open, cluster)


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, Mapping) else None


def is_complete(event: Any, kafka: Any) -> dict[str, Any]:
    """Whether the MSK operation `on_event` started (its ARN in `Data`) has ended.

    Raises `OperationFailedError` with MSK's error when it failed.
    """
    data = event.get("Data") if isinstance(event, Mapping) else None
    operation = data.get(ENFORCEMENT_OPERATION_ARN) if isinstance(data, Mapping) else None
    if not operation:
        return {"IsComplete": True}
    info = kafka.describe_cluster_operation_v2(ClusterOperationArn=operation)[
        "ClusterOperationInfo"
    ]
    state = info.get("OperationState")
    if state in OPERATION_WAITING:
        return {"IsComplete": False}
    if state == OPERATION_DONE:
        return {"IsComplete": True}
    cluster = info.get("ClusterArn") or "the cluster"
    if state == OPERATION_FAILED:
        error = info.get("ErrorInfo") or {}
        raise OperationFailedError(
            f"MSK could not update the configuration of {cluster} (operation {operation}): "
            + one_line(
                f"{error.get('ErrorCode') or 'no error code'}: "
                f"{error.get('ErrorString') or 'no error text'}"
            )
        )
    raise OperationFailedError(
        f"MSK operation {operation} on {cluster} is in state {state!r}, which this resource "
        "does not know: check the cluster's operations in the MSK console"
    )
