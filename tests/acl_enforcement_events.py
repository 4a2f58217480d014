"""CloudFormation events and MSK answers for the ACL enforcement custom resource's tests."""

from __future__ import annotations

from typing import Any

REGION = "eu-west-1"
ACCOUNT = "111111111111"
CLUSTER_ARN = f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/document-exceptions-cluster/abc-1"
OPEN_ARN = f"arn:aws:kafka:{REGION}:{ACCOUNT}:configuration/open/cfg-1"
ENFORCED_ARN = f"arn:aws:kafka:{REGION}:{ACCOUNT}:configuration/enforced/cfg-2"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/DocumentExceptions-dev/uuid-1"
OPERATION_ARN = f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster-operation/document-exceptions/abc/op-1"
CURRENT_VERSION = "K3AEGXETSR30VB"


def properties(**overrides: Any) -> dict[str, Any]:
    """The resource's properties as CloudFormation sends them (every value a string)."""
    values = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:framework",
        "ClusterArn": CLUSTER_ARN,
        "KafkaVersion": "2.8.1",
        "OpenConfigurationArn": OPEN_ARN,
        "OpenConfigurationRevision": "1",
        "EnforcedConfigurationArn": ENFORCED_ARN,
        "EnforcedConfigurationRevision": "1",
        "AllowEveryoneIfNoAclFound": "false",
        **overrides,
    }
    return {key: value for key, value in values.items() if value is not None}


def event(request_type: str, resource_properties: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:framework",
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": STACK_ID,
        "RequestId": "request-1",
        "ResourceType": "Custom::KafkaAclEnforcement",
        "LogicalResourceId": "AclEnforcement",
        "ResourceProperties": resource_properties or properties(),
    }
    if request_type != "Create":
        body["PhysicalResourceId"] = f"{CLUSTER_ARN}/allow-everyone-if-no-acl-found"
    if request_type == "Update":
        body["OldResourceProperties"] = properties()
    return body


def cluster_info(
    configuration_arn: str = OPEN_ARN, revision: int = 1, state: str = "ACTIVE"
) -> dict[str, Any]:
    """`kafka:DescribeClusterV2`'s answer for the cluster."""
    return {
        "ClusterInfo": {
            "ClusterArn": CLUSTER_ARN,
            "ClusterName": "document-exceptions-cluster",
            "ClusterType": "PROVISIONED",
            "CurrentVersion": CURRENT_VERSION,
            "State": state,
            "Provisioned": {
                "BrokerNodeGroupInfo": {
                    "ClientSubnets": ["subnet-12345678", "subnet-87654321"],
                    "InstanceType": "kafka.t3.small",
                },
                "CurrentBrokerSoftwareInfo": {
                    "ConfigurationArn": configuration_arn,
                    "ConfigurationRevision": revision,
                    "KafkaVersion": "2.8.1",
                },
                "NumberOfBrokerNodes": 2,
            },
        }
    }


def operation_info(state: str, error: dict[str, str] | None = None) -> dict[str, Any]:
    """`kafka:DescribeClusterOperationV2`'s answer."""
    info: dict[str, Any] = {
        "ClusterArn": CLUSTER_ARN,
        "OperationArn": OPERATION_ARN,
        "OperationState": state,
        "OperationType": "UPDATE_CLUSTER_CONFIGURATION",
    }
    if error:
        info["ErrorInfo"] = error
    return {"ClusterOperationInfo": info}


def stack_status(status: str) -> dict[str, Any]:
    """`cloudformation:DescribeStacks`'s answer for the resource's own stack."""
    return {
        "Stacks": [
            {
                "StackId": STACK_ID,
                "StackName": "DocumentExceptions-dev",
                "CreationTime": "2026-12-01T00:00:00Z",
                "StackStatus": status,
            }
        ]
    }
