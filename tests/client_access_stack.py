"""A test stack around what the platform hands Kafka clients, shared by the construct tests.

`build_access` builds a `KafkaClientAccess` from imported parts (VPC, subnets, security
groups, a dummy cluster ARN) plus a real SCRAM secret with its customer managed key, so a
client construct can be synthesized alone. `SynthesizedStack` and the functions below read
the synthesized template; `nag_findings` and `cfn_lint_findings` list what the checks report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_msk as msk
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import NagPackSuppression, NagSuppressions
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from stacks.kafka_access import KafkaClientAccess
from stacks.log_groups import EncryptedLogGroups

CLUSTER_ARN = "arn:aws:kafka:eu-west-1:111111111111:cluster/document-exceptions-cluster/abc-1"
CLUSTER_SG = "sg-0c1a5e0000000c1a5"
ENDPOINTS_SG = "sg-0e0d0000000000e0d"
SUBNETS = (
    ("subnet-0a0000000000000a1", "eu-west-1a", "rtb-0a0000000000000a1"),
    ("subnet-0b0000000000000b2", "eu-west-1b", "rtb-0b0000000000000b2"),
)
BROKERS = (
    "b-1.example.kafka.eu-west-1.amazonaws.com:9096,b-2.example.kafka.eu-west-1.amazonaws.com:9096"
)
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


def build_access(stack: cdk.Stack, cluster_arn: str = CLUSTER_ARN) -> KafkaClientAccess:
    """What the platform's cluster construct hands its clients, built from imported parts."""
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=[zone for _, zone, _ in SUBNETS],
        private_subnet_ids=[subnet for subnet, _, _ in SUBNETS],
        private_subnet_route_table_ids=[table for _, _, table in SUBNETS],
    )
    subnets = [
        ec2.Subnet.from_subnet_attributes(
            stack, f"Subnet{index}", subnet_id=subnet, availability_zone=zone, route_table_id=table
        )
        for index, (subnet, zone, table) in enumerate(SUBNETS)
    ]
    secret = secretsmanager.Secret(
        stack,
        "ScramSecret",
        secret_name="AmazonMSK_test",
        encryption_key=kms.Key(stack, "SecretKey", enable_key_rotation=True),
    )
    NagSuppressions.add_resource_suppressions(
        secret,
        [NagPackSuppression(id="AwsSolutions-SMG4", reason="Test fixture standing in for MSK's")],
    )
    return KafkaClientAccess(
        cluster_arn=cluster_arn,
        cluster_security_group=ec2.SecurityGroup.from_security_group_id(
            stack, "ClusterSg", CLUSTER_SG
        ),
        secret=secret,
        bootstrap_brokers=BROKERS,
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnets=subnets),
        endpoints_security_group=ec2.SecurityGroup.from_security_group_id(
            stack, "EndpointsSg", ENDPOINTS_SG
        ),
        # Like the platform's: the SCRAM association references the secret (and so its key,
        # whose policy names the clients' roles), which catches dependency cycles.
        dependencies=(
            msk.CfnBatchScramSecret(
                stack,
                "ScramAssociation",
                cluster_arn=cluster_arn,
                secret_arn_list=[secret.secret_arn],
            ),
        ),
    )


@dataclass(frozen=True)
class SynthesizedStack:
    """A synthesized test stack and its resources by logical ID."""

    stack: cdk.Stack
    template: Template
    resources: dict[str, dict[str, Any]]

    def logical_id(self, construct: Any) -> str:
        while not isinstance(construct, cdk.CfnElement):
            construct = construct.node.default_child
        return self.stack.resolve(construct.logical_id)

    def resource(self, construct: Any) -> dict[str, Any]:
        return self.resources[self.logical_id(construct)]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == kind}


def build_log_groups(
    scope: cdk.Stack,
    retention: cdk.aws_logs.RetentionDays = cdk.aws_logs.RetentionDays.ONE_WEEK,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
) -> EncryptedLogGroups:
    """The environment's log-group key and factory, as the stack makes them."""
    return EncryptedLogGroups(scope, "Logs", retention=retention, removal_policy=removal_policy)


def get_att(built: SynthesizedStack, construct: Any, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [built.logical_id(construct), attribute]}


def ref(built: SynthesizedStack, construct: Any) -> dict[str, Any]:
    return {"Ref": built.logical_id(construct)}


def actions_of(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def security_group_egress(
    built: SynthesizedStack, group: ec2.SecurityGroup
) -> list[dict[str, Any]]:
    """Inline egress rules plus separate AWS::EC2::SecurityGroupEgress resources of `group`."""
    group_id = get_att(built, group, "GroupId")
    rules = list(built.resource(group)["Properties"].get("SecurityGroupEgress", []))
    rules += [
        egress["Properties"]
        for egress in built.of_type("AWS::EC2::SecurityGroupEgress").values()
        if egress["Properties"]["GroupId"] == group_id
    ]
    return rules


def nag_findings(stack: cdk.Stack) -> list[str]:
    """cdk-nag AwsSolutions errors and warnings left unsuppressed on `stack`."""
    annotations = Annotations.from_stack(stack)
    findings = [
        *annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")),
        *annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")),
    ]
    return [f"{finding.id}: {finding.entry.data}" for finding in findings]


def cfn_lint_findings(template: Template) -> list[str]:
    """What cfn-lint reports on `template` (W3005: CDK's redundant DependsOn, harmless)."""
    matches = lint(
        json.dumps(template.to_json()),
        config=ManualArgs(ignore_checks=["W3005"], regions=["eu-west-1"]),
    )
    return [f"{match.rule.id} {match.message}" for match in matches]
