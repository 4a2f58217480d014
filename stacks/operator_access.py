"""The operators' managed policy: what `document-exceptions tail` and `doctor --stack` need
when this app's clients use IAM access control (attached to nothing; an operator's role or
SSO permission set attaches it)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from stacks.kafka_access import KafkaClientAccess

# Consumer groups operators may use (a `tail` that joins a group names one under this prefix).
OPERATOR_GROUP_PREFIX = "document-exceptions-ops-"
# Connect comes with every cluster statement; DescribeCluster: doctor's broker check.
OPERATOR_CLUSTER_ACTIONS = ("kafka-cluster:DescribeCluster",)
# Describe and read the topic: tail (ListOffsets, Fetch) and doctor (topic metadata).
OPERATOR_TOPIC_ACTIONS = ("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData")
# How cdk-nag names that resource in an IAM5 finding (the Fn::Sub text, then its variables).
GROUP_WILDCARD_FINDING = (
    r'/^Resource::\["arn:\$\{AWS::Partition\}:kafka:\$\{AWS::Region\}:\$\{AWS::AccountId\}:'
    r"group\/\$\{ClusterName\}\/\$\{ClusterUuid\}\/" + OPERATOR_GROUP_PREFIX + r'\*",.*\]$/'
)
OPERATOR_GROUP_ACTIONS = ("kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup")
# What the commands given `--stack` call on AWS before they reach Kafka.
OPERATOR_STACK_ACTIONS = ("cloudformation:DescribeStacks",)
OPERATOR_CLUSTER_API_ACTIONS = ("kafka:GetBootstrapBrokers", "kafka:DescribeClusterV2")


class OperatorPolicy(Construct):
    """`policy`: a managed policy to read the topic and check the platform over IAM."""

    def __init__(self, scope: Construct, id: str, *, access: KafkaClientAccess, topic: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=(
                "Attach to an operator's role: read the document-exceptions topic (tail) and "
                "check the platform (doctor) with MSK IAM access control"
            ),
            statements=[
                iam.PolicyStatement(
                    actions=list(OPERATOR_STACK_ACTIONS), resources=[stack.stack_id]
                ),
                iam.PolicyStatement(
                    actions=list(OPERATOR_CLUSTER_API_ACTIONS), resources=[access.cluster_arn]
                ),
                access.cluster_statement(OPERATOR_CLUSTER_ACTIONS),
                access.topic_statement(topic, OPERATOR_TOPIC_ACTIONS),
                access.group_statement(f"{OPERATOR_GROUP_PREFIX}*", OPERATOR_GROUP_ACTIONS),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Consumer groups are named by the operator at run time; the grant is "
                        f"limited to this cluster's groups under the {OPERATOR_GROUP_PREFIX!r} "
                        "prefix (group ARN built from the cluster ARN)"
                    ),
                    # The group ARN is an Fn::Sub: cdk-nag names it by the Sub's arguments.
                    applies_to=[RegexAppliesTo(regex=GROUP_WILDCARD_FINDING)],
                )
            ],
        )
