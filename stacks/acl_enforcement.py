"""`allow.everyone.if.no.acl.found=false` on the cluster, applied after the Kafka ACLs.

The cluster's `AWS::MSK::Configuration` stays open (MSK's default `true`): CloudFormation
applies a cluster's configuration when it creates or updates the cluster, before any
resource that needs the brokers (the ACLs) exists, and `false` would then lock the SASL/SCRAM
clients out until their ACLs arrive. `KafkaCluster.enforced_configuration` holds the same
broker settings plus `false`; the custom resource here (runtime `acl_enforcement/`, asset
`stacks.assets.ACL_ENFORCEMENT_ASSET`) runs after the resources given as `after` (those that
create the ACLs) and points the cluster at it with `kafka:UpdateClusterConfiguration`, or
back at the open one when `allow_everyone_if_no_acl_found` is true.

A configuration update is a rolling broker restart, longer than a Lambda invocation: the CDK
Provider framework runs `on_event` (starts it) and then `is_complete` every QUERY_INTERVAL
from a Step Functions waiter, up to WAITER_TIMEOUT; CloudFormation waits SERVICE_TIMEOUT.
The functions run outside the VPC: they call only the MSK control-plane API and
CloudFormation, like the cluster's broker lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CustomResource, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from document_exceptions.names import (
    ACL_ENFORCEMENT_RESOURCE_TYPE,
    ENFORCEMENT_ALLOW_EVERYONE,
    ENFORCEMENT_CLUSTER_ARN,
    ENFORCEMENT_ENFORCED_ARN,
    ENFORCEMENT_ENFORCED_REVISION,
    ENFORCEMENT_KAFKA_VERSION,
    ENFORCEMENT_OPEN_ARN,
    ENFORCEMENT_OPEN_REVISION,
    LOG_LEVEL_VARIABLE,
    SERVICE_NAME_VARIABLE,
)
from stacks import nag
from stacks.assets import ACL_ENFORCEMENT_ASSET, RUNTIME
from stacks.kafka_cluster import KafkaCluster
from stacks.log_groups import EncryptedLogGroups
from stacks.vpc_function import execution_role

RESOURCE_TYPE = ACL_ENFORCEMENT_RESOURCE_TYPE
ON_EVENT_HANDLER = "handler.on_event"
IS_COMPLETE_HANDLER = "handler.is_complete"
SERVICE_NAME = "document-exceptions-acl-enforcement"
# Each invocation makes at most three AWS calls, each bounded by
# document_exceptions.aws_clients.CALL_BUDGET_S.
HANDLER_TIMEOUT = Duration.minutes(1)
HANDLER_MEMORY_MB = 256
QUERY_INTERVAL = Duration.minutes(1)
WAITER_TIMEOUT = Duration.minutes(55)
# CloudFormation's longest wait for a custom resource (ServiceTimeout, at most 3600 s).
SERVICE_TIMEOUT = Duration.hours(1)
MAX_SERVICE_TIMEOUT_S = 3600
# What the framework needs besides the handlers: its onEvent function starting the waiter,
# and answering CloudFormation after the last is_complete.
FRAMEWORK_MARGIN = Duration.minutes(2)
# MSK's actions and the resources the Service Authorization Reference ("Actions, resources,
# and condition keys for Amazon Managed Streaming for Apache Kafka") gives them:
# UpdateClusterConfiguration takes the cluster and the configuration; DescribeClusterOperationV2
# names no resource type, so only "*" grants it.
DESCRIBE_CLUSTER_ACTION = "kafka:DescribeClusterV2"
UPDATE_CONFIGURATION_ACTION = "kafka:UpdateClusterConfiguration"
DESCRIBE_OPERATION_ACTION = "kafka:DescribeClusterOperationV2"
DESCRIBE_STACKS_ACTION = "cloudformation:DescribeStacks"


def check_timeouts(
    handler_timeout: Duration = HANDLER_TIMEOUT,
    waiter_timeout: Duration = WAITER_TIMEOUT,
    service_timeout: Duration = SERVICE_TIMEOUT,
) -> None:
    """CloudFormation must outwait the whole provider: on_event, the waiter, one last
    is_complete and the framework's answer, within its own limit of 3600 s."""
    needed = (
        handler_timeout.to_seconds() * 2
        + waiter_timeout.to_seconds()
        + FRAMEWORK_MARGIN.to_seconds()
    )
    service = service_timeout.to_seconds()
    if service > MAX_SERVICE_TIMEOUT_S or needed > service:
        raise ValueError(
            f"ACL enforcement timeouts: handlers 2 x {handler_timeout.to_seconds():.0f} s + "
            f"waiter {waiter_timeout.to_seconds():.0f} s + framework "
            f"{FRAMEWORK_MARGIN.to_seconds():.0f} s = {needed:.0f} s must fit the service "
            f"timeout {service:.0f} s (at most {MAX_SERVICE_TIMEOUT_S} s)"
        )


class AclEnforcement(Construct):
    """The custom resource that applies the cluster's enforced (or open) configuration.

    `after`: the resources that create the SCRAM user's Kafka ACLs; this resource is created
    (and so switches the cluster) after them. Attributes: `role` (both handlers'),
    `on_event_function`, `is_complete_function`, `provider`, `resource`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cluster: KafkaCluster,
        allow_everyone_if_no_acl_found: bool,
        after: Sequence[IDependable],
        log_groups: EncryptedLogGroups,
    ) -> None:
        enforced = cluster.enforced_configuration
        if enforced is None:
            raise ValueError("ACL enforcement needs the cluster's enforced configuration (IAM)")
        check_timeouts()
        super().__init__(scope, id)
        open_configuration = cluster.configuration

        handler_logs = log_groups.create(self, "HandlerLogGroup")
        self.role = execution_role(
            self,
            "HandlerRole",
            log_group=handler_logs,
            in_vpc=False,
            description="ACL enforcement custom resource: switches the MSK configuration",
        )
        self._grant(cluster, [open_configuration.attr_arn, enforced.attr_arn])
        self.on_event_function = self._function("OnEvent", ON_EVENT_HANDLER, handler_logs)
        self.is_complete_function = self._function("IsComplete", IS_COMPLETE_HANDLER, handler_logs)

        provider_logs = log_groups.create(self, "ProviderLogGroup")
        waiter_logs = log_groups.create(self, "WaiterLogGroup")
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=QUERY_INTERVAL,
            total_timeout=WAITER_TIMEOUT,
            log_group=provider_logs,
            framework_on_event_role=execution_role(
                self,
                "FrameworkOnEventRole",
                log_group=provider_logs,
                in_vpc=False,
                description="CDK Provider framework onEvent function of the ACL enforcement",
            ),
            framework_complete_and_timeout_role=execution_role(
                self,
                "FrameworkWaiterRole",
                log_group=provider_logs,
                in_vpc=False,
                description="CDK Provider framework isComplete/onTimeout of the ACL enforcement",
            ),
            disable_waiter_state_machine_logging=False,
            # Every state transition, without the events themselves (they carry
            # CloudFormation's pre-signed response URL).
            waiter_state_machine_log_options=cr.LogOptions(
                destination=waiter_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={
                ENFORCEMENT_CLUSTER_ARN: cluster.cluster_arn,
                # A version upgrade may bring the open configuration back (CloudFormation
                # sends the template's ConfigurationInfo with it): a change re-runs this.
                ENFORCEMENT_KAFKA_VERSION: cluster.config.kafka_version,
                ENFORCEMENT_OPEN_ARN: open_configuration.attr_arn,
                ENFORCEMENT_OPEN_REVISION: open_configuration.attr_latest_revision_revision,
                ENFORCEMENT_ENFORCED_ARN: enforced.attr_arn,
                ENFORCEMENT_ENFORCED_REVISION: enforced.attr_latest_revision_revision,
                ENFORCEMENT_ALLOW_EVERYONE: "true" if allow_everyone_if_no_acl_found else "false",
            },
        )
        self.resource.node.add_dependency(cluster.cluster, *after)
        self._suppress_nag_findings()

    def _function(self, id: str, handler: str, log_group: object) -> lambda_.Function:
        return lambda_.Function(
            self,
            id,
            description=(
                "Points the MSK cluster at its ACL-enforcing configuration after the Kafka "
                f"ACLs (custom resource, {handler})"
            ),
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=ACL_ENFORCEMENT_ASSET.code(),
            timeout=HANDLER_TIMEOUT,
            memory_size=HANDLER_MEMORY_MB,
            log_group=log_group,
            role=self.role,
            environment={SERVICE_NAME_VARIABLE: SERVICE_NAME, LOG_LEVEL_VARIABLE: "INFO"},
        )

    def _grant(self, cluster: KafkaCluster, configuration_arns: Sequence[str]) -> None:
        for sid, actions, resources in (
            ("DescribeCluster", [DESCRIBE_CLUSTER_ACTION], [cluster.cluster_arn]),
            (
                "UpdateClusterConfiguration",
                [UPDATE_CONFIGURATION_ACTION],
                [cluster.cluster_arn, *configuration_arns],
            ),
            ("DescribeClusterOperation", [DESCRIBE_OPERATION_ACTION], ["*"]),
            ("DescribeOwnStack", [DESCRIBE_STACKS_ACTION], [Aws.STACK_ID]),
        ):
            self.role.add_to_policy(
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            )

    def _suppress_nag_findings(self) -> None:
        nag.suppress(
            self.role,
            "AwsSolutions-IAM5",
            "kafka:DescribeClusterOperationV2 has no resource type in the Service "
            "Authorization Reference (the operation ARN is not an IAM resource), so only '*' "
            "grants it; the role's other actions are on this cluster, its configurations and "
            "this stack",
            applies_to=["Resource::*"],
            apply_to_children=True,
        )
        waiter = self.provider.node.find_child("waiter-state-machine")
        nag.suppress(
            waiter,
            "AwsSolutions-IAM5",
            "Step Functions delivers the waiter's logs through CloudWatch Logs' log-delivery "
            "actions (logs:CreateLogDelivery, GetLogDelivery, ...), which support no "
            "resource-level permissions (Step Functions developer guide, logging to CloudWatch "
            "Logs)",
            applies_to=["Resource::*"],
            apply_to_children=True,
        )
        nag.suppress(
            waiter,
            "AwsSolutions-SF2",
            "The CDK Provider framework has no tracing option for its waiter, which only "
            "invokes the two framework functions once a minute; its executions are logged at "
            "level ALL to an encrypted log group (AwsSolutions-SF1), and X-Ray by an override "
            "would add xray:* on '*' to its role",
        )
        nag.suppress_function_versions(
            self,
            "CDK Provider framework grants lambda:InvokeFunction on the handler and framework "
            "functions' versions and aliases (<fn>.Arn:*); those functions only",
        )
