"""stacks/kafka_access.py and stacks/operator_access.py: who may do what on the cluster.

With `kafka_auth` "iam" (the default) the producer, the topic resource and operators get
`kafka-cluster:*` actions on this cluster's and topic's ARNs and nothing on the SCRAM secret;
with "scram" everything is as before IAM: the secret, 9096, no Kafka IAM actions.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from stacks.kafka_access import kafka_resource_arn
from tests.stack_fixtures import ENVIRONMENTS
from tools.rehearse.template import Resolver

CLUSTER = "KafkaCluster21A1BE89"
SECRET_KEY = "KafkaSecretKeyF157E757"
CLUSTER_ARN = "arn:aws:kafka:eu-west-1:111111111111:cluster/document-exceptions-cluster/1a2b-3c-4"
TOPIC_ARN = (
    "arn:aws:kafka:eu-west-1:111111111111:topic/document-exceptions-cluster/1a2b-3c-4/"
    "DocumentExceptions"
)
PRODUCER_ROLE_POLICY = "ProducerFunctionRoleDefaultPolicy"
TOPIC_ROLE_POLICY = "TopicBootstrapOnEventRoleDefaultPolicy"
TOPIC_ACTIONS = {
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:CreateTopic",
    "kafka-cluster:AlterTopic",
    "kafka-cluster:DescribeTopicDynamicConfiguration",
    "kafka-cluster:AlterTopicDynamicConfiguration",
}


def resolver_for(template: dict[str, Any]) -> Resolver:
    """Resolves the template with the cluster's Ref standing for a real MSK cluster ARN."""
    resolver = Resolver(template, "eu-west-1", "111111111111", "Stack")
    resolver.overrides[(CLUSTER, "Ref")] = CLUSTER_ARN
    return resolver


def policy_statements(template: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    (policy,) = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, resource in template["Resources"].items()
        if logical_id.startswith(prefix)
    ]
    return policy


def kafka_grants(template: dict[str, Any], prefix: str) -> dict[str, set[str]]:
    """Resource ARN -> `kafka-cluster:*` actions of one policy, resolved."""
    resolver = resolver_for(template)
    grants: dict[str, set[str]] = {}
    for statement in policy_statements(template, prefix):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]
        ]  # fmt: skip
        kafka = {action for action in actions if action.startswith("kafka-cluster:")}
        if kafka:
            grants.setdefault(str(resolver.resolve(statement["Resource"])), set()).update(kafka)
    return grants


def all_actions(template: dict[str, Any], prefix: str) -> set[str]:
    actions: set[str] = set()
    for statement in policy_statements(template, prefix):
        value = statement["Action"]
        actions.update(value if isinstance(value, list) else [value])
    return actions


def test_topic_and_group_arns_are_cut_from_the_cluster_arn() -> None:
    stack = cdk.Stack(
        cdk.App(), "Arns", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )
    cluster_arn = cdk.Fn.ref("Cluster")
    template = {"Resources": {"Cluster": {"Type": "AWS::MSK::Cluster", "Properties": {}}}}
    resolver = Resolver(template, "eu-west-1", "111111111111", "Arns")
    resolver.overrides[("Cluster", "Ref")] = CLUSTER_ARN
    topic = stack.resolve(kafka_resource_arn(cluster_arn, "topic", "DocumentExceptions"))
    group = stack.resolve(kafka_resource_arn(cluster_arn, "group", "ops-*"))
    assert resolver.resolve(topic) == TOPIC_ARN
    assert resolver.resolve(group) == TOPIC_ARN.replace(":topic/", ":group/").replace(
        "DocumentExceptions", "ops-*"
    )
    assert kafka_resource_arn(CLUSTER_ARN, "cluster") == CLUSTER_ARN


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_producer_may_connect_write_idempotently_and_write_its_topic(env, synthesized) -> None:
    template = synthesized.template_json[env]
    assert kafka_grants(template, PRODUCER_ROLE_POLICY) == {
        CLUSTER_ARN: {"kafka-cluster:Connect", "kafka-cluster:WriteDataIdempotently"},
        TOPIC_ARN: {"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"},
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topic_resource_may_manage_only_its_topic(env, synthesized, environment_configs) -> None:
    template = synthesized.template_json[env]
    deletes = environment_configs[env].topic.deletion_policy == "Delete"
    assert kafka_grants(template, TOPIC_ROLE_POLICY) == {
        # AlterCluster and DescribeCluster: CreateAcls/DeleteAcls and DescribeAcls for the
        # ACL resource, which the same handler serves (topic_bootstrap/topic_acls.py).
        CLUSTER_ARN: {
            "kafka-cluster:Connect",
            "kafka-cluster:DescribeCluster",
            "kafka-cluster:AlterCluster",
        },
        TOPIC_ARN: TOPIC_ACTIONS | ({"kafka-cluster:DeleteTopic"} if deletes else set()),
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_with_iam_the_acl_resource_keeps_the_scram_users_acls_and_never_with_scram_only(
    env, synthesized, scram_only_synthesized, environment_configs
) -> None:
    """With SASL/SCRAM only the handler signs in as the app user: ACLs on that user would
    take away the handler's own rights, so there is no ACL resource. The topic resource keeps
    no ACLs in either mode (no AclPrincipal: tests/test_acl_resource.py, the migration)."""

    def of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]

    username = environment_configs[env].scram_username
    (acls,) = of_type(synthesized.template_json[env], "Custom::KafkaAcls")
    assert acls["AppPrincipal"] == f"User:{username}"
    assert of_type(scram_only_synthesized.template_json[env], "Custom::KafkaAcls") == []
    for template in (synthesized.template_json[env], scram_only_synthesized.template_json[env]):
        (topic,) = of_type(template, "Custom::KafkaTopic")
        assert "AclPrincipal" not in topic


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("prefix", [PRODUCER_ROLE_POLICY, TOPIC_ROLE_POLICY])
def test_with_iam_the_functions_cannot_read_the_scram_secret(
    env, prefix, synthesized, scram_only_synthesized
) -> None:
    """No Secrets Manager action and nothing on the secret's key (with SCRAM only, the key's
    own policy lets the roles decrypt: tests/test_kafka_cluster.py)."""

    def secret_grants(template: dict[str, Any]) -> tuple[set[str], bool]:
        statements = policy_statements(template, prefix)
        on_key = any(SECRET_KEY in json.dumps(statement["Resource"]) for statement in statements)
        actions = all_actions(template, prefix)
        return {a for a in actions if a.startswith("secretsmanager:")}, on_key

    assert secret_grants(synthesized.template_json[env]) == (set(), False)
    scram_actions, _ = secret_grants(scram_only_synthesized.template_json[env])
    assert "secretsmanager:GetSecretValue" in scram_actions
    assert "kafka-cluster:" not in json.dumps(policy_statements(
        scram_only_synthesized.template_json[env], prefix
    ))  # fmt: skip


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_functions_get_the_auth_mode_and_the_iam_brokers_never_the_secret(
    env, synthesized, scram_only_synthesized
) -> None:
    def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource["Properties"].get("Environment", {}).get("Variables", {})
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"
            and logical_id.startswith(("ProducerFunction", "TopicBootstrapOnEvent"))
        }

    iam_functions = functions(synthesized.template_json[env])
    assert len(iam_functions) == 2
    for variables in iam_functions.values():
        assert variables["KAFKA_AUTH_MODE"] == "iam"
        assert "KAFKA_SECRET_ARN" not in variables
    producer = next(v for k, v in iam_functions.items() if k.startswith("ProducerFunction"))
    assert producer["KAFKA_BOOTSTRAP_BROKERS"] == {
        "Fn::GetAtt": ["KafkaBootstrapBrokers10225061", "BootstrapBrokerStringSaslIam"]
    }
    for variables in functions(scram_only_synthesized.template_json[env]).values():
        assert "KAFKA_AUTH_MODE" not in variables


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topic_resource_gets_the_iam_brokers_and_no_secret(
    env, synthesized, scram_only_synthesized
) -> None:
    def topic(template: dict[str, Any]) -> dict[str, Any]:
        (properties,) = [
            resource["Properties"]
            for resource in template["Resources"].values()
            if resource["Type"] == "Custom::KafkaTopic"
        ]
        return properties

    with_iam = topic(synthesized.template_json[env])
    assert "SecretArn" not in with_iam
    assert with_iam["BootstrapBrokers"]["Fn::GetAtt"][1] == "BootstrapBrokerStringSaslIam"
    scram_only = topic(scram_only_synthesized.template_json[env])
    assert scram_only["SecretArn"] == {"Ref": "KafkaScramSecretFB545E5F"}
    assert scram_only["BootstrapBrokers"]["Fn::GetAtt"][1] == "BootstrapBrokerStringSaslScram"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_operator_policy_reads_the_topic_and_groups_under_its_prefix(env, synthesized) -> None:
    template = synthesized.template_json[env]
    (policy,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical_id.startswith("Operators")
    ]
    group_arn = TOPIC_ARN.replace(":topic/", ":group/").replace(
        "DocumentExceptions", "document-exceptions-ops-*"
    )
    assert kafka_grants(template, policy) == {
        CLUSTER_ARN: {"kafka-cluster:Connect", "kafka-cluster:DescribeCluster"},
        TOPIC_ARN: {"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"},
        group_arn: {"kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"},
    }
    assert "secretsmanager:GetSecretValue" not in all_actions(template, policy)
    outputs = template["Outputs"]
    assert outputs["OperatorPolicyArn"]["Value"] == {"Ref": policy}
    assert outputs["KafkaAuthMode"]["Value"] == "iam"
    assert outputs["BootstrapBrokersSaslIam"]["Value"]["Fn::GetAtt"][1] == (
        "BootstrapBrokerStringSaslIam"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_scram_only_stack_has_no_operator_policy_and_no_iam_outputs(
    env, scram_only_synthesized
) -> None:
    template = scram_only_synthesized.template_json[env]
    assert not any(k.startswith("Operators") for k in template["Resources"])
    assert not {"OperatorPolicyArn", "KafkaAuthMode", "BootstrapBrokersSaslIam"} & set(
        template["Outputs"]
    )
    assert "kafka-cluster:" not in json.dumps(template)
