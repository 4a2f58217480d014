"""Kafka 3.x as a tested path: every environment of cdk.json synthesized on Kafka 3.8.x.

Two variants (tests/stack_fixtures.py `kafka3_variants`):
- "custom": an environment moved up from 2.8.1 keeps its topic custom resource. Compared
  with the committed 2.8.1 template, the only change is the cluster's KafkaVersion, which
  MSK updates in place: no resource is added, removed or replaced.
- "native": a new environment on 3.x gets `AWS::MSK::Topic` and no topic custom resource;
  the provider stays for the ACL resource (tests/test_kafka_acls.py), with no topic action.

The replacing properties are the CloudFormation schemas' createOnlyProperties
(/work/shared/notes/msk-facts.md lists them; cfn-lint ships the schemas).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from stacks.config import DEFAULT_SERVER_PROPERTIES
from stacks.msk_versions import lookup
from tests.stack_fixtures import ENVIRONMENTS, KAFKA3_VERSION, lint_templates
from tests.test_kafka_cluster import REPLACEMENT_PROPERTIES

AWS_SOLUTIONS = Match.string_like_regexp("AwsSolutions-.*")
CLUSTER = "KafkaCluster21A1BE89"
CONFIGURATION = "KafkaConfiguration2E1CE142"
ENFORCED_CONFIGURATION = "KafkaEnforcedConfiguration855AAC85"
ACL_ENFORCEMENT = "AclEnforcement5C1A9E32"
NATIVE_TOPIC = "TopicNativeB969B9CE"
# AWS::MSK::Configuration: a new Name or KafkaVersionsList replaces it, and a configuration
# in use cannot be deleted, so the replacement fails.
CONFIGURATION_REPLACING_PATHS = (("Name",), ("KafkaVersionsList",))
# Broker properties MSK lets a custom configuration set on Kafka 3.x (MSK developer guide,
# "Custom MSK configurations"); the ones this app sets or documents must be among them.
MSK_3X_CONFIGURABLE_PROPERTIES = frozenset(
    {
        "allow.everyone.if.no.acl.found",
        "auto.create.topics.enable",
        "default.replication.factor",
        "min.insync.replicas",
        "num.partitions",
        "unclean.leader.election.enable",
        "log.retention.hours",
        "log.retention.ms",
        "message.max.bytes",
        "compression.type",
        "delete.topic.enable",
    }
)


def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template["Resources"]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in resources(template).items() if value["Type"] == kind}


def dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def differences(before: Any, after: Any, path: tuple[str, ...] = ()) -> Iterator[tuple]:
    """Every leaf path where two JSON documents differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            yield from differences(before.get(key), after.get(key), (*path, key))
    elif before != after:
        yield path


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_upgrading_to_3x_changes_only_the_cluster_kafka_version(env, synthesized, kafka3_variants):
    before = synthesized.template_json[env]
    after = kafka3_variants["custom"].template_json[env]
    assert {key: value["Type"] for key, value in resources(after).items()} == {
        key: value["Type"] for key, value in resources(before).items()
    }
    changed = list(differences(resources(before), resources(after)))
    # The ACL enforcement resource names the version: after the upgrade (which may bring the
    # open configuration back) it runs again and re-applies the enforced one.
    assert changed == [
        (ACL_ENFORCEMENT, "Properties", "KafkaVersion"),
        (CLUSTER, "Properties", "KafkaVersion"),
    ]
    assert dig(resources(after)[ACL_ENFORCEMENT], ("Properties", "KafkaVersion")) == KAFKA3_VERSION
    assert dig(resources(after)[CLUSTER], ("Properties", "KafkaVersion")) == KAFKA3_VERSION


@pytest.mark.parametrize("variant", ["custom", "native"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_3x_keeps_every_property_that_would_replace_the_cluster_or_its_configuration(
    env, variant, synthesized, kafka3_variants
):
    before = resources(synthesized.template_json[env])
    after = resources(kafka3_variants[variant].template_json[env])
    for logical_id, paths in (
        (CLUSTER, REPLACEMENT_PROPERTIES),
        (CONFIGURATION, CONFIGURATION_REPLACING_PATHS),
        (ENFORCED_CONFIGURATION, CONFIGURATION_REPLACING_PATHS),
    ):
        for path in paths:
            assert dig(after[logical_id]["Properties"], path) == dig(
                before[logical_id]["Properties"], path
            ), (logical_id, path)
    assert "KafkaVersionsList" not in after[CONFIGURATION]["Properties"]
    assert after[CONFIGURATION] == before[CONFIGURATION]
    assert after[ENFORCED_CONFIGURATION] == before[ENFORCED_CONFIGURATION]


@pytest.mark.parametrize("variant", ["custom", "native"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_3x_server_properties_are_ones_msk_accepts_on_3x(env, variant, kafka3_variants):
    configurations = of_type(kafka3_variants[variant].template_json[env], "AWS::MSK::Configuration")
    assert set(configurations) == {CONFIGURATION, ENFORCED_CONFIGURATION}
    for configuration in configurations.values():
        lines = configuration["Properties"]["ServerProperties"].splitlines()
        keys = {line.split("=", 1)[0] for line in lines}
        assert keys >= set(DEFAULT_SERVER_PROPERTIES)
        assert keys <= MSK_3X_CONFIGURABLE_PROPERTIES


def test_the_3x_version_has_the_native_topic_resource_in_the_version_table():
    row = lookup(KAFKA3_VERSION)
    assert row is not None
    assert row.native_topic_resource
    assert row.end_of_support is None


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_native_variant_has_an_msk_topic_and_no_topic_custom_resource(
    env, kafka3_variants, environment_configs
):
    template = kafka3_variants["native"].template_json[env]
    topic = environment_configs[env].topic
    assert of_type(template, "Custom::KafkaTopic") == {}
    assert list(of_type(template, "AWS::MSK::Topic")) == [NATIVE_TOPIC]
    assert of_type(template, "AWS::MSK::Topic")[NATIVE_TOPIC]["Properties"] == {
        "ClusterArn": {"Ref": CLUSTER},
        "TopicName": topic.name,
        "PartitionCount": topic.partitions,
        "ReplicationFactor": topic.replication_factor,
    }
    # The provider serves the ACL resource alone: its role may not touch topics.
    policies = {
        key: value
        for key, value in of_type(template, "AWS::IAM::Policy").items()
        if key.startswith("TopicBootstrapOnEventRole")
    }
    (policy,) = policies.values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {a for a in actions if a.startswith("kafka-cluster:")} == {
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeCluster",
        "kafka-cluster:AlterCluster",
    }
    assert ":topic/" not in json.dumps(statements)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_custom_variant_keeps_the_topic_custom_resource(env, kafka3_variants):
    template = kafka3_variants["custom"].template_json[env]
    assert of_type(template, "AWS::MSK::Topic") == {}
    assert len(of_type(template, "Custom::KafkaTopic")) == 1


@pytest.mark.parametrize(
    ("env", "policy"), [("dev", "Delete"), ("staging", "Retain"), ("prod", "Retain")]
)
def test_native_topic_policies_follow_the_topic_deletion_policy(env, policy, kafka3_variants):
    topic = resources(kafka3_variants["native"].template_json[env])[NATIVE_TOPIC]
    assert (topic["DeletionPolicy"], topic["UpdateReplacePolicy"]) == (policy, policy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_native_topic_name_reaches_the_producer_from_the_topic_arn(env, kafka3_variants):
    """The producer reads the name from the topic resource, so it is created after the topic."""
    template = kafka3_variants["native"].template_json[env]
    from_arn = {"Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": [NATIVE_TOPIC, "TopicArn"]}]}]}
    functions = of_type(template, "AWS::Lambda::Function").values()
    assert any(
        from_arn in function["Properties"].get("Environment", {}).get("Variables", {}).values()
        for function in functions
    )
    outputs = template["Outputs"]
    assert outputs["TopicName"]["Value"] == from_arn


@pytest.mark.parametrize("variant", ["custom", "native"])
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cdk_nag_reports_nothing_unsuppressed_on_3x(env, variant, kafka3_variants):
    stack = kafka3_variants[variant].stacks[env]
    findings = [
        *Annotations.from_stack(stack).find_error("*", AWS_SOLUTIONS),
        *Annotations.from_stack(stack).find_warning("*", AWS_SOLUTIONS),
    ]
    assert [(finding.id, finding.entry.data) for finding in findings] == []


@pytest.mark.parametrize("variant", ["custom", "native"])
def test_cfn_lint_finds_nothing_on_3x(variant, kafka3_variants, tmp_path):
    synthesized = kafka3_variants[variant]
    files = {}
    for name, body in synthesized.template_json.items():
        files[name] = tmp_path / f"{synthesized.stacks[name].stack_name}.template.json"
        files[name].write_text(json.dumps(body, indent=1))
    assert lint_templates(synthesized, files) == {name: [] for name in files}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_3x_has_no_end_of_support_warning(env, kafka3_variants):
    stack = kafka3_variants["native"].stacks[env]
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(".*end of support.*")
    )
    assert warnings == []
