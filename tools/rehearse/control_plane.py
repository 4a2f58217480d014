"""MSK's control plane and CloudFormation's stack status, for the calls moto cannot answer.

moto 5.2.5 has neither `kafka:UpdateClusterConfiguration` nor
`kafka:DescribeClusterOperationV2`, so the rehearsal answers the ACL enforcement handlers'
MSK and CloudFormation calls itself, the way botocore's Stubber does: a `before-call`
handler returns the parsed answer and the request never leaves the process. The real
clients still build, validate and record each call (the worker's `before-parameter-build`
hook sees its parameters, timeouts and retries). One cluster, its current configuration,
its operations and the stack's status are kept between the calls of an invocation, so a
scenario sets them up and the handler's decisions follow from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANSWERED = {
    "kafka": ("DescribeClusterV2", "UpdateClusterConfiguration", "DescribeClusterOperationV2"),
    "cloudformation": ("DescribeStacks",),
}
OK = 200
NOT_FOUND = 404


@dataclass
class ControlPlane:
    """The state behind the answers; `active` only while an ACL enforcement handler runs."""

    active: bool = False
    cluster_arn: str = ""
    stack_id: str = ""
    configuration: tuple[str, int] = ("", 0)
    state: str = "ACTIVE"
    cluster_exists: bool = True
    stack_status: str = "UPDATE_IN_PROGRESS"
    version: int = 1
    operations: dict[str, list[str]] = field(default_factory=dict)
    _params: dict[str, Any] = field(default_factory=dict)

    def reset(self, cluster_arn: str, stack_id: str, configuration: tuple[str, int]) -> None:
        self.active = True
        self.cluster_arn, self.stack_id, self.configuration = cluster_arn, stack_id, configuration
        self.state, self.cluster_exists, self.stack_status = "ACTIVE", True, "UPDATE_IN_PROGRESS"
        self.version, self.operations = 1, {}

    def operation(self, states: list[str]) -> str:
        """A cluster operation that reports `states` one per describe (the last one stays)."""
        arn = (
            self.cluster_arn.replace(":cluster/", ":cluster-operation/")
            + f"/op-{len(self.operations)}"
        )
        self.operations[arn] = list(states)
        return arn

    def parameters(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        """`before-parameter-build`: the API parameters of the call about to be answered."""
        self._params = dict(params)

    def before_call(self, model: Any, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        service = model.service_model.service_name
        if not self.active or model.name not in ANSWERED.get(service, ()):
            return None
        status, parsed = getattr(self, f"_{model.name}")(self._params)
        from botocore.awsrequest import AWSResponse  # noqa: PLC0415

        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
        return AWSResponse(None, status, {}, None), parsed

    # --- answers -------------------------------------------------------------------------

    def _DescribeClusterV2(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        if not self.cluster_exists or params.get("ClusterArn") != self.cluster_arn:
            return NOT_FOUND, _error("NotFoundException", "cluster not found")
        arn, revision = self.configuration
        return OK, {
            "ClusterInfo": {
                "ClusterArn": self.cluster_arn,
                "ClusterName": self.cluster_arn.split("/")[1],
                "ClusterType": "PROVISIONED",
                "CurrentVersion": f"V{self.version}",
                "State": self.state,
                "Provisioned": {
                    "CurrentBrokerSoftwareInfo": {
                        "ConfigurationArn": arn,
                        "ConfigurationRevision": revision,
                    }
                },
            }
        }

    def _UpdateClusterConfiguration(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        if params.get("CurrentVersion") != f"V{self.version}" or self.state != "ACTIVE":
            return 400, _error("BadRequestException", "the cluster changed or is busy")
        info = params["ConfigurationInfo"]
        self.configuration = (info["Arn"], int(info["Revision"]))
        self.version += 1
        operation = self.operation(["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
        return OK, {"ClusterArn": self.cluster_arn, "ClusterOperationArn": operation}

    def _DescribeClusterOperationV2(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        states = self.operations.get(params.get("ClusterOperationArn", ""))
        if not states:
            return NOT_FOUND, _error("NotFoundException", "operation not found")
        state = states.pop(0) if len(states) > 1 else states[0]
        info: dict[str, Any] = {
            "ClusterArn": self.cluster_arn,
            "OperationArn": params["ClusterOperationArn"],
            "OperationState": state,
        }
        if state == "UPDATE_FAILED":
            info["ErrorInfo"] = {"ErrorCode": "Rehearsal", "ErrorString": "a failed update"}
        return OK, {"ClusterOperationInfo": info}

    def _DescribeStacks(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        if params.get("StackName") != self.stack_id:
            return 400, _error("ValidationError", "Stack does not exist")
        return OK, {
            "Stacks": [
                {
                    "StackId": self.stack_id,
                    "StackName": self.stack_id.split("/")[1],
                    "CreationTime": "2026-12-01T00:00:00Z",
                    "StackStatus": self.stack_status,
                }
            ]
        }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


CONTROL_PLANE = ControlPlane()
