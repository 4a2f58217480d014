"""What the project's Lambda functions share: an execution role with scoped log permissions,
and, for those in the VPC that talk to the brokers, their security group.

The roles carry no AWS managed policy: `AWSLambdaBasicExecutionRole` lets a function create
any log group and write to every log group of the account, where a function only needs to
write streams of its own group. A function in the VPC also needs the ENI actions Lambda
performs with its role, which do not support resource-level permissions (cdk-nag IAM5,
accepted once, with the reason).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.kafka_access import KafkaClientAccess

# What Lambda does with a VPC function's role (the AWSLambdaVPCAccessExecutionRole actions).
ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


def execution_role(
    scope: Construct, id: str, *, log_group: logs.ILogGroup, in_vpc: bool, description: str
) -> iam.Role:
    """A Lambda execution role that may write only to `log_group` (and manage its ENIs)."""
    role = iam.Role(
        scope,
        id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    # logs:CreateLogStream and logs:PutLogEvents on the group's streams (its ARN ends in :*).
    log_group.grant_write(role)
    if in_vpc:
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VpcNetworkInterfaces", actions=list(ENI_ACTIONS), resources=["*"]
            )
        )
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "The ENI actions Lambda performs for a VPC function "
                        "(ec2:CreateNetworkInterface and friends) do not support "
                        "resource-level permissions"
                    ),
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
    return role


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
