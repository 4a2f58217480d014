"""The Kafka ACLs of the Django apps' SASL/SCRAM user and of MSK's brokers, as a custom
resource (`Custom::KafkaAcls`) beside the topic.

Served by the topic's provider (`stacks.kafka_topic.TopicBootstrapProvider`: the same
on-event Lambda, which dispatches on the resource type; the runtime is
`topic_bootstrap/acl_resource.py`, the bindings and their sources
`topic_bootstrap/topic_acls.py`). Created after the topic, whichever resource makes it
(`Custom::KafkaTopic` or MSK's `AWS::MSK::Topic`), with `kafka_auth` "iam" only: with
SASL/SCRAM only the handler signs in as the app user, whom these ACLs would lock out of the
topic resource's own work.

The brokers' bindings (`User:ANONYMOUS` ALL on the cluster, READ on the topic) are safe only
while no client can be ANONYMOUS: the construct refuses a cluster that lets a client in
without an identity (`KafkaClientAccess.anonymous_clients`, read from the cluster's
properties).

`resource` is the `CustomResource`: whatever must wait for the ACLs (the step that sets
`allow.everyone.if.no.acl.found=false`) depends on it.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration
from constructs import Construct

from document_exceptions.names import ACL_RESOURCE_TYPE, BROKER_PRINCIPAL
from stacks.kafka_topic import (
    DEFAULT_TOPIC_TIMEOUT,
    RESPONSE_MARGIN,
    KafkaTopic,
    TopicBootstrapProvider,
)

RESOURCE_TYPE = ACL_RESOURCE_TYPE
# Kafka's CreateAcls and DeleteAcls need ALTER on the cluster, DescribeAcls DESCRIBE, which
# MSK maps to these IAM actions (developer guide, IAM access control), whatever the binding.
ACL_CLUSTER_ACTIONS = ("kafka-cluster:AlterCluster", "kafka-cluster:DescribeCluster")


class KafkaAcls(Construct):
    """The app user's and the brokers' ACLs on `topic` and the cluster (see the module); they
    follow the topic's `deletion_policy`.

    `app_principal` is `User:<scram_username>`; `resource` the `CustomResource`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        provider: TopicBootstrapProvider,
        topic: KafkaTopic,
        timeout: Duration = DEFAULT_TOPIC_TIMEOUT,
    ) -> None:
        access = provider.access
        settings = topic.settings
        if not access.uses_iam:
            raise ValueError(
                "Kafka ACLs need kafka_auth 'iam': with SASL/SCRAM only the handler signs in as "
                "the app user, whom the ACLs would lock out"
            )
        if access.scram_username is None:
            raise ValueError("Kafka ACLs need the cluster's SASL/SCRAM username")
        if access.anonymous_clients:
            raise ValueError(
                f"Kafka ACLs grant {BROKER_PRINCIPAL} (MSK's brokers) ALL on the cluster: refused "
                "on a cluster that lets clients in without an identity (unauthenticated access "
                "or a listener that is not TLS only), who would be that principal too"
            )
        limit = provider.handler_timeout.to_seconds()
        if timeout.to_seconds() >= limit:
            raise ValueError(
                f"ACLs of topic {settings.name}: timeout {timeout.to_seconds():.0f} s must be "
                f"below the handler's Lambda timeout ({limit:.0f} s)"
            )
        super().__init__(scope, id)
        self.app_principal = f"User:{access.scram_username}"
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=RESOURCE_TYPE,
            service_timeout=provider.handler_timeout.plus(RESPONSE_MARGIN),
            properties={
                "AppPrincipal": self.app_principal,
                "BrokerPrincipal": BROKER_PRINCIPAL,
                "TopicName": settings.name,
                "ClusterArn": access.cluster_arn,
                # The handler signs in with its role: no secret to read.
                "BootstrapBrokers": access.bootstrap_brokers,
                "DeletionPolicy": settings.deletion_policy,
                "TimeoutSeconds": str(int(timeout.to_seconds())),
            },
        )
        # After the topic: the app user never holds rights on a topic that is not there yet,
        # and an old topic resource (which kept these ACLs) is updated first.
        self.resource.node.add_dependency(topic.resource, *provider.dependencies)
        provider.allow_on_cluster(ACL_CLUSTER_ACTIONS)
