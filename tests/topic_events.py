"""CloudFormation custom-resource events in the exact shape the CDK Provider framework passes on.

The framework forwards CloudFormation's request with ``ResponseURL`` replaced by "..." (it
answers CloudFormation itself); ``ResourceProperties`` carry the ``ServiceToken`` and every
scalar as a string.
"""

from __future__ import annotations

from typing import Any

SERVICE_TOKEN = (
    "arn:aws:lambda:eu-west-1:123456789012:function:dev-TopicBootstrapProviderframework-onEvent"
)
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/document-exceptions-dev/0a1b2c3d"
CLUSTER_ARN = (
    "arn:aws:kafka:eu-west-1:123456789012:cluster/document-exceptions-cluster/"
    "5a2f0c1e-1111-2222-3333-444455556666-2"
)
SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_document-exceptions-AbCdEf"
)
SCRAM_BROKERS = (
    "b-1.documentexceptions.abc123.c2.kafka.eu-west-1.amazonaws.com:9096,"
    "b-2.documentexceptions.abc123.c2.kafka.eu-west-1.amazonaws.com:9096"
)
CREATE_FAILED_MARKER = "AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"


def topic_arn(topic: str) -> str:
    """The physical resource id of ``topic`` on CLUSTER_ARN's cluster."""
    return (
        "arn:aws:kafka:eu-west-1:123456789012:topic/document-exceptions-cluster/"
        f"5a2f0c1e-1111-2222-3333-444455556666-2/{topic}"
    )


def topic_properties(**overrides: Any) -> dict[str, Any]:
    """ResourceProperties of the KafkaTopic construct; ``None`` removes a property."""
    props: dict[str, Any] = {
        "ServiceToken": SERVICE_TOKEN,
        "ServiceTimeout": "420",
        "TopicName": "DocumentExceptions",
        "Partitions": "3",
        "ReplicationFactor": "2",
        "Configs": {"retention.ms": "604800000"},
        "ClusterArn": CLUSTER_ARN,
        "SecretArn": SECRET_ARN,
        "BootstrapBrokers": SCRAM_BROKERS,
        "DeletionPolicy": "Retain",
        "TimeoutSeconds": "120",
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def acl_properties(**overrides: Any) -> dict[str, Any]:
    """ResourceProperties of the KafkaAcls construct with IAM; ``None`` removes a property."""
    props: dict[str, Any] = {
        "ServiceToken": SERVICE_TOKEN,
        "ServiceTimeout": "420",
        "AppPrincipal": "User:document-exceptions",
        "BrokerPrincipal": "User:ANONYMOUS",
        "TopicName": "DocumentExceptions",
        "ClusterArn": CLUSTER_ARN,
        "BootstrapBrokers": SCRAM_BROKERS.replace(":9096", ":9098"),
        "DeletionPolicy": "Retain",
        "TimeoutSeconds": "120",
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def acls_id() -> str:
    """The physical resource id of the ACL resource on CLUSTER_ARN's cluster."""
    return f"kafka-acls:{CLUSTER_ARN}"


def cloudformation_event(
    request_type: str,
    properties: dict[str, Any],
    *,
    old_properties: dict[str, Any] | None = None,
    physical_id: str | None = None,
    request_id: str = "1f0e7a55-4c3d-4c1f-9a3e-7d8c2b1a0f00",
    resource_type: str = "Custom::KafkaTopic",
) -> dict[str, Any]:
    """A Create, Update (with OldResourceProperties) or Delete request."""
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": "...",
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": (
            "DocumentExceptionsTopicResource8F3A2B1C"
            if resource_type == "Custom::KafkaTopic"
            else "AclsF9747DA2"
        ),
        "ResourceType": resource_type,
        "ResourceProperties": properties,
    }
    if request_type == "Update":
        event["OldResourceProperties"] = old_properties if old_properties is not None else {}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event
