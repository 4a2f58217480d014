"""What the Lambda functions in the VPC that talk to the brokers share.

Each gets its own security group (out to the brokers on 9096 and to the AWS API endpoints on
443, with its 9096 rule on the cluster's SG) and runs on the AWS managed Lambda execution
policies, which cdk-nag reports and which are accepted here once, with the reason.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.kafka_access import KafkaClientAccess
from stacks.nag import LAMBDA_BASIC_EXECUTION_POLICY

BASIC_EXECUTION_POLICY = LAMBDA_BASIC_EXECUTION_POLICY
VPC_ACCESS_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
)


def kafka_client_security_group(
    scope: Construct, access: KafkaClientAccess, description: str
) -> tuple[ec2.SecurityGroup, ec2.CfnSecurityGroupIngress]:
    """`scope`'s "SecurityGroup" for a broker client, and its "ClusterIngress" rule."""
    security_group = ec2.SecurityGroup(
        scope,
        "SecurityGroup",
        vpc=access.vpc,
        description=description,
        allow_all_outbound=False,
    )
    cluster_ingress = access.allow_client(scope, "ClusterIngress", security_group)
    access.allow_endpoints(security_group)
    return security_group, cluster_ingress


def suppress_managed_execution_policies(function: lambda_.Function) -> None:
    """Accept the AWS managed execution policies of a VPC function (cdk-nag AwsSolutions-IAM4)."""
    NagSuppressions.add_resource_suppressions(
        function,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason=(
                    "AWS managed Lambda execution policies: writing the function's own logs "
                    "and the ENI actions a VPC function needs (ec2:CreateNetworkInterface "
                    "and friends do not support resource-level permissions)"
                ),
                applies_to=[BASIC_EXECUTION_POLICY, VPC_ACCESS_POLICY],
            )
        ],
        apply_to_children=True,
    )
