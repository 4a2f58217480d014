"""One environment's stack: network, MSK cluster, topic, producer function and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack, Tags
from constructs import Construct

from document_exceptions.connection import MSK_SASL_MECHANISM, MSK_SECURITY_PROTOCOL
from stacks.acl_enforcement import AclEnforcement
from stacks.config import EnvironmentConfig
from stacks.kafka_access import KafkaClientAccess
from stacks.kafka_acls import KafkaAcls
from stacks.kafka_cluster import KafkaCluster, log_retention, removal_policy
from stacks.kafka_topic import KafkaTopic, TopicBootstrapProvider
from stacks.log_groups import EncryptedLogGroups
from stacks.monitoring import ClusterMonitoring
from stacks.network import Network
from stacks.operator_access import OperatorPolicy
from stacks.producer_function import ProducerFunction


class DocumentExceptionsStack(Stack):
    """Composes the constructs of one environment; holds no resources of its own.

    `log_groups`, `network`, `cluster`, `monitoring` and `client_access` are there for the
    constructs that talk to the cluster (producer function, topic bootstrap); `acls` (None
    with SASL/SCRAM only) for what must follow the ACLs.
    """

    def __init__(
        self, scope: Construct, id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        Tags.of(self).add("project", "document-exceptions")
        Tags.of(self).add("environment", config.name)

        self.log_groups = EncryptedLogGroups(
            self,
            "Logs",
            retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        self.network = Network(
            self,
            "Network",
            settings=config.network,
            region=config.region,
            log_groups=self.log_groups,
        )
        self.cluster = KafkaCluster(
            self,
            "Kafka",
            config=config,
            vpc=self.network.vpc,
            broker_subnets=self.network.broker_subnets,
            log_groups=self.log_groups,
        )
        self.monitoring = ClusterMonitoring(self, "Monitoring", config=config)
        self.client_access: KafkaClientAccess = self.cluster.client_access(self.network)
        # The custom resources' provider (Lambda functions, roles) where a topic or the ACLs
        # use it: a custom-resource topic, and with IAM the ACLs (also beside a native topic).
        uses_iam = self.client_access.uses_iam
        topic_bootstrap = None
        if config.topic.resource != "native" or uses_iam:
            topic_bootstrap = TopicBootstrapProvider(
                self,
                "TopicBootstrap",
                access=self.client_access,
                log_groups=self.log_groups,
            )
        self.topic = KafkaTopic(
            self,
            "Topic",
            settings=config.topic,
            provider=topic_bootstrap,
            cluster_arn=self.cluster.cluster_arn,
        )
        # With IAM, the SCRAM app user's and the brokers' Kafka ACLs, after the topic (none
        # with SASL/SCRAM only: README).
        self.acls = (
            KafkaAcls(self, "Acls", provider=topic_bootstrap, topic=self.topic)
            if uses_iam and topic_bootstrap is not None
            else None
        )
        # allow.everyone.if.no.acl.found applied after the ACLs exist (never before: README).
        self.acl_enforcement = (
            AclEnforcement(
                self,
                "AclEnforcement",
                cluster=self.cluster,
                allow_everyone_if_no_acl_found=config.allow_everyone_if_no_acl_found,
                after=(self.acls.resource,) if self.acls is not None else (),
                log_groups=self.log_groups,
            )
            if self.cluster.enforced_configuration is not None
            else None
        )
        # The topic's name is read from the topic resource, so the function waits for the topic.
        self.producer = ProducerFunction(
            self,
            "Producer",
            access=self.client_access,
            topic_name=self.topic.topic_name,
            settings=config.producer,
            log_groups=self.log_groups,
            removal_policy=removal_policy(config),
            alarm_topic=self.monitoring.alarm_topic,
            dashboard=self.monitoring.dashboard,
        )
        # With IAM, operators read and check through IAM too (SASL/SCRAM only: the secret).
        self.operator_policy = (
            OperatorPolicy(self, "Operators", access=self.client_access, topic=config.topic.name)
            if self.client_access.uses_iam
            else None
        )
        self._add_outputs()

    def _add_outputs(self) -> None:
        cluster = self.cluster
        brokers = cluster.bootstrap_brokers
        outputs = {
            "ClusterArn": (cluster.cluster_arn, "ARN of the MSK cluster"),
            "ClusterName": (self.config.cluster_name, "Name of the MSK cluster"),
            "ScramSecretArn": (cluster.secret.secret_arn, "Secret with the SASL/SCRAM login"),
            "ScramSecretName": (self.config.secret_name, "Name of the SASL/SCRAM secret"),
            "BootstrapBrokersSaslScram": (brokers, "SASL/SCRAM (9096) bootstrap broker string"),
            "KafkaBootstrapServers": (
                Fn.join("", ['["', Fn.join('","', Fn.split(",", brokers)), '"]']),
                "KAFKA_BOOTSTRAP_SERVERS for the Django app (JSON list)",
            ),
            "TopicName": (self.topic.topic_name, "The topic the producer publishes to"),
            "TopicPartitions": (self.topic.partitions, "Partitions of the topic"),
            "KafkaSecurityProtocol": (MSK_SECURITY_PROTOCOL, "KAFKA_SECURITY_PROTOCOL"),
            "KafkaSaslMechanism": (MSK_SASL_MECHANISM, "KAFKA_SASL_MECHANISM"),
            "KafkaSaslCredentials": (
                Fn.join(
                    "",
                    [
                        "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are the 'username' and "
                        "'password' keys of secret ",
                        cluster.secret.secret_arn,
                        " (aws secretsmanager get-secret-value --secret-id <arn>)",
                    ],
                ),
                "Where the Django app reads its SASL/SCRAM username and password",
            ),
        }
        if cluster.iam_bootstrap_brokers is not None and self.operator_policy is not None:
            outputs["BootstrapBrokersSaslIam"] = (
                cluster.iam_bootstrap_brokers,
                "IAM (9098) bootstrap broker string: this app's producer, topic resource and "
                "operators",
            )
            outputs["OperatorPolicyArn"] = (
                self.operator_policy.policy.managed_policy_arn,
                "Managed policy for operators: tail the topic and run doctor over IAM",
            )
            # Absent in SASL/SCRAM-only stacks, whose outputs stay as they were.
            outputs["KafkaAuthMode"] = (
                self.config.kafka_auth,
                "How this app's producer, topic resource and operators authenticate; the "
                "Django apps use SASL/SCRAM",
            )
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
