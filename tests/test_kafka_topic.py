"""CDK assertions for `stacks.kafka_topic` (provider + topics): one synth, bundling skipped."""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from stacks.assets import TOPIC_ASSET
from stacks.config import TopicSettings
from stacks.kafka_access import KafkaClientAccess
from stacks.kafka_topic import (
    HANDLER,
    NATIVE_RESOURCE_TYPE,
    RESOURCE_TYPE,
    TOPIC_ARN_NAME_INDEX,
    KafkaTopic,
    TopicBootstrapProvider,
)
from tests.client_access_stack import (
    BROKERS,
    CLUSTER_ARN,
    CLUSTER_SG,
    ENDPOINTS_SG,
    SKIP_BUNDLING,
    SUBNETS,
    SynthesizedStack,
    actions_of,
    build_access,
    build_log_groups,
    cfn_lint_findings,
    get_att,
    nag_findings,
    ref,
    security_group_egress,
)
from tests.stack_fixtures import asset_s3_key
from tests.topic_bootstrap_asset import load

AUDIT_TOPIC = TopicSettings(
    name="DocumentExceptionsAudit",
    partitions=6,
    replication_factor=2,
    configs=MappingProxyType({"retention.ms": "604800000", "cleanup.policy": "delete"}),
    deletion_policy="Delete",
)


@dataclass(frozen=True)
class Built(SynthesizedStack):
    access: KafkaClientAccess
    provider: TopicBootstrapProvider
    topic: KafkaTopic
    audit_topic: KafkaTopic

    def framework_function(self) -> dict[str, Any]:
        functions = self.of_type("AWS::Lambda::Function")
        on_event = self.logical_id(self.provider.on_event_function)
        (framework,) = [value for key, value in functions.items() if key != on_event]
        return framework


@pytest.fixture(scope="module")
def built() -> Built:
    app = cdk.App(context=SKIP_BUNDLING)
    stack = cdk.Stack(
        app, "TopicsTest", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    access = build_access(stack)
    provider = TopicBootstrapProvider(
        stack,
        "TopicBootstrap",
        access=access,
        log_groups=build_log_groups(stack),
    )
    topic = KafkaTopic(stack, "Topic", provider=provider, settings=TopicSettings())
    # A second topic is these few lines: same provider, its own settings.
    audit_topic = KafkaTopic(stack, "AuditTopic", provider=provider, settings=AUDIT_TOPIC)
    cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    template = Template.from_stack(stack)
    return Built(
        stack=stack,
        access=access,
        provider=provider,
        topic=topic,
        audit_topic=audit_topic,
        template=template,
        resources=template.to_json()["Resources"],
    )


def role_statements(built: Built, role_arn: dict[str, Any]) -> list[dict[str, Any]]:
    role_id = role_arn["Fn::GetAtt"][0]
    return [
        statement
        for policy in built.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


# --- the on-event handler -------------------------------------------------------------------


def test_on_event_handler_runs_handler_on_event_on_python_3_14(built: Built) -> None:
    properties = built.resource(built.provider.on_event_function)["Properties"]
    assert properties["Handler"] == HANDLER == "handler.on_event"
    assert properties["Runtime"] == "python3.14"
    assert properties["Timeout"] == 300


def test_on_event_handler_runs_the_topic_asset(built: Built) -> None:
    properties = built.resource(built.provider.on_event_function)["Properties"]
    assert properties["Code"]["S3Key"] == asset_s3_key(TOPIC_ASSET)


def test_on_event_handler_runs_in_the_vpc_subnets_with_its_own_security_group(
    built: Built,
) -> None:
    vpc_config = built.resource(built.provider.on_event_function)["Properties"]["VpcConfig"]
    assert vpc_config["SubnetIds"] == [subnet for subnet, _, _ in SUBNETS]
    assert vpc_config["SecurityGroupIds"] == [
        get_att(built, built.provider.security_group, "GroupId")
    ]


def test_provider_framework_function_stays_outside_the_vpc(built: Built) -> None:
    framework = built.framework_function()["Properties"]
    assert "VpcConfig" not in framework
    assert framework["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"] == get_att(
        built, built.provider.on_event_function
    )


def test_security_group_egress_is_only_brokers_on_9096_and_endpoints_on_443(built: Built) -> None:
    rules = security_group_egress(built, built.provider.security_group)
    destinations = {
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["DestinationSecurityGroupId"])
        for rule in rules
    }
    assert destinations == {("tcp", 9096, 9096, CLUSTER_SG), ("tcp", 443, 443, ENDPOINTS_SG)}


def test_cluster_security_group_admits_the_handler_on_9096(built: Built) -> None:
    ingress = built.resource(built.provider.cluster_ingress)["Properties"]
    assert ingress["GroupId"] == CLUSTER_SG
    assert (ingress["FromPort"], ingress["ToPort"], ingress["IpProtocol"]) == (9096, 9096, "tcp")
    assert ingress["SourceSecurityGroupId"] == get_att(
        built, built.provider.security_group, "GroupId"
    )


def test_handler_role_reads_only_the_secret_and_this_cluster(built: Built) -> None:
    function = built.resource(built.provider.on_event_function)["Properties"]
    statements = role_statements(built, function["Role"])
    resources = {
        action: statement["Resource"]
        for statement in statements
        for action in actions_of(statement)
        if not action.startswith(("ec2:", "logs:"))  # ENIs, and its own log group
    }
    assert resources == {
        "secretsmanager:GetSecretValue": ref(built, built.access.secret),
        "secretsmanager:DescribeSecret": ref(built, built.access.secret),
        "kafka:GetBootstrapBrokers": CLUSTER_ARN,
        "kafka:DescribeCluster": CLUSTER_ARN,
        "kafka:DescribeClusterV2": CLUSTER_ARN,
    }


def test_handler_role_decrypts_the_secret_key_only_through_secrets_manager(built: Built) -> None:
    function = built.resource(built.provider.on_event_function)["Properties"]
    key = built.resource(built.access.secret.encryption_key)["Properties"]["KeyPolicy"]
    (grant,) = [
        statement
        for statement in key["Statement"]
        if statement["Principal"] == {"AWS": function["Role"]}
    ]
    assert actions_of(grant) == {"kms:Decrypt"}
    assert grant["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_framework_role_may_only_invoke_the_on_event_handler(built: Built) -> None:
    statements = role_statements(built, built.framework_function()["Properties"]["Role"])
    handler_arn = get_att(built, built.provider.on_event_function)
    assert {action for statement in statements for action in actions_of(statement)} == {
        "lambda:InvokeFunction",
        "lambda:GetFunction",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    framework_logs = {
        "Fn::GetAtt": [
            built.framework_function()["Properties"]["LoggingConfig"]["LogGroup"]["Ref"],
            "Arn",
        ]
    }
    versions = {"Fn::Join": ["", [handler_arn, ":*"]]}
    for statement in statements:
        if "logs:PutLogEvents" in actions_of(statement):
            assert statement["Resource"] == framework_logs
            continue
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        assert [r for r in resources if r not in (handler_arn, versions)] == []


def test_both_functions_log_to_log_groups_with_retention(built: Built) -> None:
    log_groups = built.of_type("AWS::Logs::LogGroup")
    assert len(log_groups) == 2
    assert {group["Properties"]["RetentionInDays"] for group in log_groups.values()} == {7}
    on_event = built.resource(built.provider.on_event_function)["Properties"]
    framework = built.framework_function()["Properties"]
    assert {
        on_event["LoggingConfig"]["LogGroup"]["Ref"],
        framework["LoggingConfig"]["LogGroup"]["Ref"],
    } == set(log_groups)


def test_on_event_environment_holds_no_connection_secret(built: Built) -> None:
    variables = built.resource(built.provider.on_event_function)["Properties"]["Environment"]
    assert "password" not in json.dumps(variables).lower()


# --- the topics -----------------------------------------------------------------------------


def test_topic_resource_has_the_configured_properties(built: Built) -> None:
    resource = built.resource(built.topic)
    assert resource["Type"] == RESOURCE_TYPE == "Custom::KafkaTopic"
    assert resource["Properties"] == {
        "ServiceToken": built.stack.resolve(built.provider.service_token),
        "ServiceTimeout": "420",
        "TopicName": "DocumentExceptions",
        "Partitions": "3",
        "ReplicationFactor": "2",
        "Configs": {},
        "ClusterArn": CLUSTER_ARN,
        "SecretArn": ref(built, built.access.secret),
        "BootstrapBrokers": BROKERS,
        "DeletionPolicy": "Retain",
        "TimeoutSeconds": "240",
    }


@pytest.mark.parametrize("topic", ["topic", "audit_topic"])
def test_topic_properties_are_accepted_by_the_handler_as_cloudformation_sends_them(
    built: Built, topic: str
) -> None:
    parse_properties = load("topic_properties").parse_properties
    properties = built.resource(getattr(built, topic))["Properties"]
    # CloudFormation sends every property, ServiceToken and ServiceTimeout included, with
    # references resolved; the secret's Ref becomes its ARN.
    sent = {
        **properties,
        "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:framework-onEvent",
        "SecretArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:AmazonMSK_test-AbCdEf",
    }
    parsed = parse_properties(sent, local=False)
    expected = TopicSettings() if topic == "topic" else AUDIT_TOPIC
    assert (parsed.topic.name, parsed.topic.partitions, parsed.topic.replication_factor) == (
        expected.name,
        expected.partitions,
        expected.replication_factor,
    )
    assert parsed.topic.configs == dict(expected.configs)
    assert parsed.deletion_policy.value == expected.deletion_policy
    assert parsed.timeout_seconds == 240
    assert parsed.cluster_arn == CLUSTER_ARN


def test_topic_properties_carry_no_password(built: Built) -> None:
    text = json.dumps([built.resource(built.topic), built.resource(built.audit_topic)]).lower()
    assert "password" not in text
    assert "resolve:secretsmanager" not in text


def test_cloudformation_always_sends_delete_and_the_property_decides(built: Built) -> None:
    resource = built.resource(built.topic)
    assert resource["DeletionPolicy"] == "Delete"
    assert resource["UpdateReplacePolicy"] == "Delete"
    assert resource["Properties"]["DeletionPolicy"] == "Retain"


def test_topic_depends_on_cluster_access_and_the_handler_network_rules(built: Built) -> None:
    depends_on = set(built.resource(built.topic)["DependsOn"])
    provider = built.provider
    group_id = get_att(built, provider.security_group, "GroupId")
    own_egress = {
        key
        for key, egress in built.of_type("AWS::EC2::SecurityGroupEgress").items()
        if egress["Properties"]["GroupId"] == group_id
    }
    endpoint_ingress = {
        key
        for key, ingress in built.of_type("AWS::EC2::SecurityGroupIngress").items()
        if ingress["Properties"]["GroupId"] == ENDPOINTS_SG
        and ingress["Properties"]["SourceSecurityGroupId"] == group_id
    }
    assert own_egress
    assert endpoint_ingress
    assert {
        "ScramAssociation",
        built.logical_id(provider.cluster_ingress),
        built.logical_id(provider.security_group),
        *own_egress,
        *endpoint_ingress,
    } <= depends_on


def test_topic_exposes_name_partitions_and_replication_factor_from_data(built: Built) -> None:
    topic_id = built.logical_id(built.topic)
    resolve = built.stack.resolve
    assert resolve(built.topic.topic_name) == {"Fn::GetAtt": [topic_id, "TopicName"]}
    assert resolve(built.topic.partitions) == {"Fn::GetAtt": [topic_id, "Partitions"]}
    assert resolve(built.topic.replication_factor) == {
        "Fn::GetAtt": [topic_id, "ReplicationFactor"]
    }


def test_second_topic_shares_the_provider_with_its_own_settings(built: Built) -> None:
    topics = built.of_type(RESOURCE_TYPE)
    assert len(topics) == 2
    assert len(built.of_type("AWS::Lambda::Function")) == 2
    audit = built.resource(built.audit_topic)["Properties"]
    assert audit["ServiceToken"] == built.resource(built.topic)["Properties"]["ServiceToken"]
    assert (audit["TopicName"], audit["Partitions"], audit["ReplicationFactor"]) == (
        "DocumentExceptionsAudit",
        "6",
        "2",
    )
    assert audit["Configs"] == {"cleanup.policy": "delete", "retention.ms": "604800000"}
    assert audit["DeletionPolicy"] == "Delete"


def fresh_provider() -> tuple[cdk.Stack, KafkaClientAccess, TopicBootstrapProvider]:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "Fresh")
    access = build_access(stack)
    provider = TopicBootstrapProvider(
        stack, "TopicBootstrap", access=access, log_groups=build_log_groups(stack)
    )
    return stack, access, provider


def test_topic_timeout_at_or_above_the_handler_timeout_is_refused() -> None:
    stack, _, provider = fresh_provider()
    with pytest.raises(ValueError, match=r"topic DocumentExceptions: timeout 300 s must be below"):
        KafkaTopic(
            stack,
            "TooSlow",
            provider=provider,
            settings=TopicSettings(),
            timeout=cdk.Duration.minutes(5),
        )
    assert stack.node.try_find_child("TooSlow") is None


# --- checks ---------------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(built: Built) -> None:
    assert nag_findings(built.stack) == []


def test_cfn_lint_finds_nothing(built: Built) -> None:
    assert cfn_lint_findings(built.template) == []


# --- the native topic (AWS::MSK::Topic, Kafka 3.6.0 and later) -------------------------------

NATIVE_TOPIC = dataclasses.replace(TopicSettings(), resource="native")
NATIVE_AUDIT_TOPIC = dataclasses.replace(AUDIT_TOPIC, resource="native")


@dataclass(frozen=True)
class BuiltNative(SynthesizedStack):
    topic: KafkaTopic
    audit_topic: KafkaTopic


@pytest.fixture(scope="module")
def built_native() -> BuiltNative:
    app = cdk.App(context=SKIP_BUNDLING)
    stack = cdk.Stack(
        app, "NativeTopicsTest", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    topic = KafkaTopic(stack, "Topic", settings=NATIVE_TOPIC, cluster_arn=CLUSTER_ARN)
    audit_topic = KafkaTopic(
        stack, "AuditTopic", settings=NATIVE_AUDIT_TOPIC, cluster_arn=CLUSTER_ARN
    )
    cdk.Aspects.of(stack).add(AwsSolutionsChecks())
    template = Template.from_stack(stack)
    return BuiltNative(
        stack=stack,
        topic=topic,
        audit_topic=audit_topic,
        template=template,
        resources=template.to_json()["Resources"],
    )


def test_native_topic_is_an_msk_topic_with_the_configured_properties(
    built_native: BuiltNative,
) -> None:
    resource = built_native.resource(built_native.topic.resource)
    assert resource["Type"] == NATIVE_RESOURCE_TYPE == "AWS::MSK::Topic"
    assert resource["Properties"] == {
        "ClusterArn": CLUSTER_ARN,
        "TopicName": "DocumentExceptions",
        "PartitionCount": 3,
        "ReplicationFactor": 2,
    }
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_native_topic_configs_are_base64_json_and_delete_follows_the_setting(
    built_native: BuiltNative,
) -> None:
    resource = built_native.resource(built_native.audit_topic.resource)
    properties = resource["Properties"]
    assert (properties["PartitionCount"], properties["ReplicationFactor"]) == (6, 2)
    assert json.loads(base64.b64decode(properties["Configs"])) == dict(AUDIT_TOPIC.configs)
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_native_topics_need_no_function_role_or_provider(built_native: BuiltNative) -> None:
    kinds = {resource["Type"] for resource in built_native.resources.values()}
    assert kinds == {"AWS::MSK::Topic"}


def test_native_topic_exposes_the_name_from_its_arn(built_native: BuiltNative) -> None:
    logical_id = built_native.logical_id(built_native.topic.resource)
    assert built_native.stack.resolve(built_native.topic.topic_name) == {
        "Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": [logical_id, "TopicArn"]}]}]
    }
    assert (built_native.topic.partitions, built_native.topic.replication_factor) == ("3", "2")


def test_topic_arn_name_index_matches_msk_topic_arns() -> None:
    """MSK's topic ARN form (IAM access control): topic/<cluster>/<cluster uuid>/<topic>."""
    arn = (
        "arn:aws:kafka:eu-west-1:111111111111:topic/my-cluster/"
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789-2/DocumentExceptions"
    )
    assert arn.split("/")[TOPIC_ARN_NAME_INDEX] == "DocumentExceptions"


def test_native_topic_without_cluster_arn_and_custom_without_provider_are_refused() -> None:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "Refused")
    with pytest.raises(ValueError, match="a native topic needs cluster_arn"):
        KafkaTopic(stack, "Native", settings=NATIVE_TOPIC)
    with pytest.raises(ValueError, match="a custom-resource topic needs a provider"):
        KafkaTopic(stack, "Custom", settings=TopicSettings(), cluster_arn=CLUSTER_ARN)


def test_native_topics_pass_cdk_nag_and_cfn_lint(built_native: BuiltNative) -> None:
    assert nag_findings(built_native.stack) == []
    assert cfn_lint_findings(built_native.template) == []
