"""CDK assertions for `stacks.kafka_acls` (the ACL custom resource) and its invariant.

The brokers' bindings (`User:ANONYMOUS` ALL on the cluster) are safe only while no client can
be ANONYMOUS: the construct refuses a cluster that lets one in, and every environment's
template (2.8.1 and 3.x) keeps unauthenticated access off and TLS-only client traffic.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from stacks.config import TopicSettings
from stacks.kafka_access import KafkaClientAccess
from stacks.kafka_acls import RESOURCE_TYPE, KafkaAcls
from stacks.kafka_topic import KafkaTopic, TopicBootstrapProvider
from tests.client_access_stack import (
    CLUSTER_ARN,
    SKIP_BUNDLING,
    SynthesizedStack,
    actions_of,
    build_access,
    build_log_groups,
    cfn_lint_findings,
    nag_findings,
)
from tests.stack_fixtures import ENVIRONMENTS

NATIVE_TOPIC = dataclasses.replace(TopicSettings(), resource="native", deletion_policy="Delete")
CLUSTER_LOGICAL_ID = "KafkaCluster21A1BE89"


def iam_access(stack: cdk.Stack, **changes: Any) -> KafkaClientAccess:
    """The test access with IAM, the app user and a cluster that admits no anonymous client."""
    settings = {
        "auth_mode": "iam",
        "scram_username": "document-exceptions",
        "anonymous_clients": False,
        **changes,
    }
    return dataclasses.replace(build_access(stack), **settings)


@dataclass(frozen=True)
class Built(SynthesizedStack):
    provider: TopicBootstrapProvider
    topic: KafkaTopic
    acls: KafkaAcls


@pytest.fixture(scope="module")
def built() -> Built:
    """A native topic and its ACLs: the provider serves the ACL resource alone."""
    app = cdk.App(context=SKIP_BUNDLING)
    stack = cdk.Stack(
        app, "AclsTest", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    provider = TopicBootstrapProvider(
        stack, "TopicBootstrap", access=iam_access(stack), log_groups=build_log_groups(stack)
    )
    topic = KafkaTopic(stack, "Topic", settings=NATIVE_TOPIC, cluster_arn=CLUSTER_ARN)
    acls = KafkaAcls(stack, "Acls", provider=provider, topic=topic)
    cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    template = Template.from_stack(stack)
    return Built(
        stack=stack,
        provider=provider,
        topic=topic,
        acls=acls,
        template=template,
        resources=template.to_json()["Resources"],
    )


def test_the_acl_resource_carries_both_principals_and_the_topic(built: Built) -> None:
    resource = built.resource(built.acls.resource)
    assert resource["Type"] == RESOURCE_TYPE == "Custom::KafkaAcls"
    properties = dict(resource["Properties"])
    assert properties.pop("ServiceToken") == {
        "Fn::GetAtt": [
            built.logical_id(built.provider.provider.node.find_child("framework-onEvent")),
            "Arn",
        ]
    }
    assert properties == {
        "ServiceTimeout": "420",
        "AppPrincipal": "User:document-exceptions",
        "BrokerPrincipal": "User:ANONYMOUS",
        "TopicName": "DocumentExceptions",
        "ClusterArn": CLUSTER_ARN,
        "BootstrapBrokers": build_access(cdk.Stack()).bootstrap_brokers,
        "DeletionPolicy": "Delete",
        "TimeoutSeconds": "240",
    }


def test_the_acl_resource_is_created_after_the_topic(built: Built) -> None:
    depends_on = built.resource(built.acls.resource)["DependsOn"]
    assert built.logical_id(built.topic.resource) in depends_on


def test_beside_a_native_topic_the_handler_may_manage_acls_and_nothing_on_topics(
    built: Built,
) -> None:
    role = built.logical_id(built.provider.on_event_function.role)
    statements = [
        statement
        for policy in built.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    kafka = [s for s in statements if any(a.startswith("kafka-cluster:") for a in actions_of(s))]
    assert [(actions_of(s), s["Resource"]) for s in kafka] == [
        (
            {
                "kafka-cluster:Connect",
                "kafka-cluster:AlterCluster",
                "kafka-cluster:DescribeCluster",
            },
            CLUSTER_ARN,
        )
    ]


def test_cdk_nag_and_cfn_lint_find_nothing(built: Built) -> None:
    assert nag_findings(built.stack) == []
    assert cfn_lint_findings(built.template) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"anonymous_clients": True}, r"User:ANONYMOUS \(MSK's brokers\) ALL on the cluster"),
        ({"auth_mode": "scram"}, r"need kafka_auth 'iam'"),
        ({"scram_username": None}, r"need the cluster's SASL/SCRAM username"),
    ],
)
def test_the_construct_refuses(changes: dict[str, Any], message: str) -> None:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "Refused")
    provider = TopicBootstrapProvider(
        stack,
        "TopicBootstrap",
        access=iam_access(stack, **changes),
        log_groups=build_log_groups(stack),
    )
    topic = KafkaTopic(stack, "Topic", settings=NATIVE_TOPIC, cluster_arn=CLUSTER_ARN)
    with pytest.raises(ValueError, match=message):
        KafkaAcls(stack, "Acls", provider=provider, topic=topic)
    assert stack.node.try_find_child("Acls") is None


def test_a_timeout_at_or_above_the_handler_timeout_is_refused() -> None:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "TooSlow")
    provider = TopicBootstrapProvider(
        stack, "TopicBootstrap", access=iam_access(stack), log_groups=build_log_groups(stack)
    )
    topic = KafkaTopic(stack, "Topic", settings=NATIVE_TOPIC, cluster_arn=CLUSTER_ARN)
    with pytest.raises(ValueError, match=r"timeout 300 s must be below the handler's Lambda"):
        KafkaAcls(stack, "Acls", provider=provider, topic=topic, timeout=cdk.Duration.minutes(5))


def test_the_platform_access_defaults_to_allowing_anonymous_clients() -> None:
    """Unknown counts as unsafe: only the cluster construct, reading its own properties, says
    otherwise."""
    assert build_access(cdk.Stack()).anonymous_clients is True


# --- every environment: the invariant and the resource ---------------------------------------


def environment_templates(synthesized, kafka3_variants) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{variant} {env}", templates.template_json[env])
        for variant, templates in (
            ("2.8.1", synthesized),
            ("3.x custom", kafka3_variants["custom"]),
            ("3.x native", kafka3_variants["native"]),
        )
        for env in ENVIRONMENTS
    ]


def test_no_environment_lets_a_client_in_as_anonymous(synthesized, kafka3_variants) -> None:
    """What makes the brokers' ALL on the cluster safe: no unauthenticated access, TLS only."""
    for name, template in environment_templates(synthesized, kafka3_variants):
        cluster = template["Resources"][CLUSTER_LOGICAL_ID]["Properties"]
        assert cluster["ClientAuthentication"]["Unauthenticated"] == {"Enabled": False}, name
        assert cluster["EncryptionInfo"]["EncryptionInTransit"]["ClientBroker"] == "TLS", name


def test_every_iam_environment_keeps_its_acls_after_its_topic(synthesized, kafka3_variants) -> None:
    for name, template in environment_templates(synthesized, kafka3_variants):
        resources = template["Resources"]
        (acls,) = [r for r in resources.values() if r["Type"] == "Custom::KafkaAcls"]
        (topic,) = [
            key
            for key, r in resources.items()
            if r["Type"] in ("Custom::KafkaTopic", "AWS::MSK::Topic")
        ]
        assert acls["Properties"]["BrokerPrincipal"] == "User:ANONYMOUS", name
        assert topic in acls["DependsOn"], name
        assert json.dumps(acls["Properties"]["ClusterArn"]) == json.dumps(
            {"Ref": CLUSTER_LOGICAL_ID}
        ), name
