"""Kafka topics in CloudFormation: this app's custom resource, or MSK's own `AWS::MSK::Topic`.

MSK's native topic resource serves provisioned clusters on Kafka 3.6.0 and later only, so
Kafka 2.8.1 needs the custom resource; `TopicSettings.resource` chooses ("custom" or
"native", see stacks/config.py), and `KafkaTopic` builds either with the same semantics.

`TopicBootstrapProvider` is one per cluster: the on-event Lambda (`handler.on_event`, the
runtime in `topic_bootstrap/`, its asset `stacks.assets.TOPIC_ASSET`) runs in the VPC next
to the brokers; the CDK Provider framework's function stays outside the VPC so it can always
answer CloudFormation, also when the handler fails. It serves the topic resource and the ACL
resource (`stacks.kafka_acls.KafkaAcls`); each grants the handler the Kafka actions its own
events need (`allow_on_cluster`, and the topic's statement).

`KafkaTopic` is one per topic. Its properties reach the handler as strings (CloudFormation
turns every custom resource property value into a string, so the template spells them as
strings too); `Data` is expected to carry `TopicName`, `Partitions` and `ReplicationFactor`.
The CloudFormation resource itself is always deleted with the stack: whether the Kafka topic
and its data survive is the `DeletionPolicy` property's job (`Retain` by default).

The native `AWS::MSK::Topic` (CloudFormation schema, aws-cdk-lib 2.275 `CfnTopic`) updates
PartitionCount and Configs in place; MSK refuses a partition decrease, so the update fails
and the stack rolls back. ClusterArn, TopicName and ReplicationFactor are create-only: a
change means a replacement, whose create step fails while a topic of that name exists (the
replication factor is kept that way) and which, after a rename, removes the old topic only
under `UpdateReplacePolicy`. Both policies follow `TopicSettings.deletion_policy`. The
deploying identity (CDK's CloudFormation execution role) makes the MSK topic API calls and
needs `kafka-cluster:Connect`, `CreateTopic`, `DescribeTopic`, `AlterTopic`,
`DescribeTopicDynamicConfiguration`, `AlterTopicDynamicConfiguration` and `DeleteTopic`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from aws_cdk import CustomResource, Duration, Fn, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from document_exceptions.names import KAFKA_AUTH_VARIABLE, TOPIC_RESOURCE_TYPE
from stacks import nag
from stacks.assets import RUNTIME, TOPIC_ASSET
from stacks.config import TopicSettings
from stacks.kafka_access import KafkaClientAccess
from stacks.log_groups import EncryptedLogGroups
from stacks.vpc_function import execution_role, kafka_client_security_group

HANDLER = "handler.on_event"
RESOURCE_TYPE = TOPIC_RESOURCE_TYPE
NATIVE_RESOURCE_TYPE = "AWS::MSK::Topic"
# The topic's name is the last part of its ARN: arn:aws:kafka:<region>:<account>:topic/
# <cluster name>/<cluster uuid>/<topic name>.
TOPIC_ARN_NAME_INDEX = 3
# The handler's Kafka actions under MSK IAM access control (Connect is always added): the
# broker count before a create (DescribeCluster, Kafka 2.8+), then describe, create, grow
# and reconfigure its own topic; DeleteTopic only for a topic with DeletionPolicy Delete.
TOPIC_CLUSTER_ACTIONS = ("kafka-cluster:DescribeCluster",)
TOPIC_ACTIONS = (
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:AlterTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:AlterTopicDynamicConfiguration",
)
DELETE_TOPIC_ACTION = "kafka-cluster:DeleteTopic"
SERVICE_NAME = "document-exceptions-topic-bootstrap"
DEFAULT_HANDLER_TIMEOUT = Duration.minutes(5)
# Memory of the on-event handler: a few admin requests and two AWS lookups per event.
HANDLER_MEMORY_MB = 256
# The handler's own budget per request: below the Lambda timeout, so it always gets to report.
DEFAULT_TOPIC_TIMEOUT = Duration.minutes(4)
# How long CloudFormation waits for an answer: the handler's worst case plus the framework's.
RESPONSE_MARGIN = Duration.minutes(2)


class TopicBootstrapProvider(Construct):
    """The custom resource provider for the topics of one cluster.

    Attributes: `access`, `on_event_function`, `security_group`, `cluster_ingress` (the 9096
    rule on the cluster's SG), `provider`, `service_token`, `handler_timeout`, `dependencies`
    (what every topic or ACL resource must be created after: cluster, SCRAM association,
    broker lookup, the SG rules of the handler).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        access: KafkaClientAccess,
        log_groups: EncryptedLogGroups,
        handler_timeout: Duration = DEFAULT_HANDLER_TIMEOUT,
    ) -> None:
        super().__init__(scope, id)
        self.access = access
        self.handler_timeout = handler_timeout

        self.security_group, self.cluster_ingress = kafka_client_security_group(
            self,
            access,
            f"Topic bootstrap Lambda: out to the MSK brokers ({access.port}) and AWS endpoints",
        )

        on_event_logs = log_groups.create(self, "OnEventLogGroup")
        self.on_event_function = lambda_.Function(
            self,
            "OnEvent",
            description="Creates, updates and deletes Kafka topics and ACLs on MSK",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=HANDLER,
            code=TOPIC_ASSET.code(),
            timeout=handler_timeout,
            memory_size=HANDLER_MEMORY_MB,
            vpc=access.vpc,
            vpc_subnets=access.subnets,
            security_groups=[self.security_group],
            log_group=on_event_logs,
            role=execution_role(
                self,
                "OnEventRole",
                log_group=on_event_logs,
                in_vpc=True,
                description="Topic and ACL custom resource handler (in the VPC)",
            ),
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "LOG_LEVEL": "INFO",
                **({KAFKA_AUTH_VARIABLE: access.auth_mode} if access.uses_iam else {}),
                **access.endpoint_environment,
            },
        )
        access.grant_connect(self.on_event_function)
        # Connect here; each resource adds the cluster actions its events need
        # (allow_on_cluster) and grants its own topic actions (KafkaTopic._grant_topic), so a
        # provider serving ACLs alone (native topic) gets no topic action.
        self._cluster_statement = access.cluster_statement()
        access.grant_kafka(self.on_event_function, self._cluster_statement)

        # No `vpc` here: the framework function answers CloudFormation's pre-signed S3 URL,
        # which an in-VPC function without NAT could not reach.
        provider_logs = log_groups.create(self, "ProviderLogGroup")
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            log_group=provider_logs,
            framework_on_event_role=execution_role(
                self,
                "ProviderRole",
                log_group=provider_logs,
                in_vpc=False,
                description="CDK Provider framework function of the topic custom resource",
            ),
        )
        self.service_token = self.provider.service_token

        endpoint_rules: tuple[IDependable, ...] = ()
        if access.endpoints_security_group is not None:
            # The endpoints' ingress rule for this handler lives under the endpoints' SG.
            endpoint_rules = (access.endpoints_security_group,)
        self.dependencies: tuple[IDependable, ...] = (
            *access.dependencies,
            self.cluster_ingress,
            self.security_group,
            *endpoint_rules,
        )
        self._suppress_nag_findings()

    def allow_on_cluster(self, actions: tuple[str, ...]) -> None:
        """Let the handler do `actions` on the cluster (one statement with Connect; with
        SASL/SCRAM only it is not in the policy: Kafka ignores IAM then)."""
        self._cluster_statement.add_actions(*actions)

    def _suppress_nag_findings(self) -> None:
        nag.suppress_function_versions(
            self,
            "CDK Provider framework grants lambda:InvokeFunction on the on-event function's "
            "versions and aliases (<fn>.Arn:*); that one function only",
        )


def native_topic_configs(configs: Mapping[str, str]) -> str | None:
    """`AWS::MSK::Topic.Configs`: the topic configs as a Base64-encoded JSON object, or None."""
    if not configs:
        return None
    document = json.dumps({key: str(value) for key, value in sorted(configs.items())})
    return base64.b64encode(document.encode()).decode()


class KafkaTopic(Construct):
    """One Kafka topic: the provider's custom resource, or `AWS::MSK::Topic` when
    `settings.resource` is "native" (then `cluster_arn` is needed and no provider).

    `topic_name`, `partitions` and `replication_factor` are strings; `topic_name` is read
    from the resource (custom: its `Data`; native: its `TopicArn`), so a resource using it is
    created after the topic. `resource` is the `CustomResource` or the `CfnTopic`;
    `settings` the `TopicSettings` it was made from.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: TopicSettings,
        provider: TopicBootstrapProvider | None = None,
        cluster_arn: str | None = None,
        timeout: Duration = DEFAULT_TOPIC_TIMEOUT,
    ) -> None:
        native = settings.resource == "native"
        if native and cluster_arn is None:
            raise ValueError(f"topic {settings.name}: a native topic needs cluster_arn")
        if not native and provider is None:
            raise ValueError(f"topic {settings.name}: a custom-resource topic needs a provider")
        if provider is not None and timeout.to_seconds() >= provider.handler_timeout.to_seconds():
            raise ValueError(
                f"topic {settings.name}: timeout {timeout.to_seconds():.0f} s must be below the "
                f"handler's Lambda timeout ({provider.handler_timeout.to_seconds():.0f} s)"
            )
        super().__init__(scope, id)
        self.native = native
        self.settings = settings
        if native:
            self._native_topic(settings, cluster_arn)
        else:
            self._custom_topic(settings, provider, timeout)

    def _custom_topic(
        self, settings: TopicSettings, provider: TopicBootstrapProvider, timeout: Duration
    ) -> None:
        access = provider.access
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            service_timeout=provider.handler_timeout.plus(RESPONSE_MARGIN),
            properties={
                "TopicName": settings.name,
                "Partitions": str(settings.partitions),
                "ReplicationFactor": str(settings.replication_factor),
                "Configs": {key: str(value) for key, value in sorted(settings.configs.items())},
                "ClusterArn": access.cluster_arn,
                # With IAM the handler signs in with its role: no secret to read.
                **({} if access.uses_iam else {"SecretArn": access.secret.secret_arn}),
                "BootstrapBrokers": access.bootstrap_brokers,
                "DeletionPolicy": settings.deletion_policy,
                "TimeoutSeconds": str(int(timeout.to_seconds())),
            },
        )
        self.resource.node.add_dependency(*provider.dependencies)
        self._grant_topic(provider, settings)
        self.topic_name = self.resource.get_att_string("TopicName")
        self.partitions = self.resource.get_att_string("Partitions")
        self.replication_factor = self.resource.get_att_string("ReplicationFactor")

    def _native_topic(self, settings: TopicSettings, cluster_arn: str) -> None:
        # Its own construct id (not "Resource"): moving an environment from "custom" to
        # "native" then adds a resource instead of changing a resource's type in place.
        self.resource = msk.CfnTopic(
            self,
            "Native",
            cluster_arn=cluster_arn,
            topic_name=settings.name,
            partition_count=settings.partitions,
            replication_factor=settings.replication_factor,
            configs=native_topic_configs(settings.configs),
        )
        self.resource.apply_removal_policy(
            RemovalPolicy.RETAIN if settings.deletion_policy == "Retain" else RemovalPolicy.DESTROY
        )
        self.topic_arn = self.resource.attr_topic_arn
        self.topic_name = Fn.select(TOPIC_ARN_NAME_INDEX, Fn.split("/", self.topic_arn))
        self.partitions = str(settings.partitions)
        self.replication_factor = str(settings.replication_factor)

    def _grant_topic(self, provider: TopicBootstrapProvider, settings: TopicSettings) -> None:
        """With IAM: the handler's Kafka actions on this topic's ARN alone; the statement is
        in the role's policy before the topic resource runs (the policy is a dependency of the
        on-event function, which the provider's service token needs)."""
        actions = (
            *TOPIC_ACTIONS,
            *((DELETE_TOPIC_ACTION,) if settings.deletion_policy == "Delete" else ()),
        )
        provider.allow_on_cluster(TOPIC_CLUSTER_ACTIONS)
        access = provider.access
        access.grant_kafka(
            provider.on_event_function, access.topic_statement(settings.name, actions)
        )
