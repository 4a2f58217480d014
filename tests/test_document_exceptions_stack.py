"""stacks/document_exceptions_stack.py (and stacks/nag.py): the composed stack per environment."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Annotations, Match

from stacks import nag
from tests.stack_fixtures import ENVIRONMENTS, synthesize

AWS_SOLUTIONS = Match.string_like_regexp("AwsSolutions-.*")

# Renaming any of these replaces (or orphans) a stateful resource: change them only on purpose.
PINNED_LOGICAL_IDS = {
    "KafkaCluster21A1BE89": "AWS::MSK::Cluster",
    "KafkaConfiguration2E1CE142": "AWS::MSK::Configuration",
    "KafkaScramSecretFB545E5F": "AWS::SecretsManager::Secret",
    "KafkaScramSecretAssociation10A7F168": "AWS::MSK::BatchScramSecret",
    "KafkaDataKeyD2F71A19": "AWS::KMS::Key",
    "KafkaSecretKeyF157E757": "AWS::KMS::Key",
    "KafkaBrokerLogsD032A934": "AWS::Logs::LogGroup",
    "KafkaSecurityGroup4C1F93F4": "AWS::EC2::SecurityGroup",
    "LogsKeyB5D1D597": "AWS::KMS::Key",
    "ProducerLogGroup921A9B44": "AWS::Logs::LogGroup",
    "ProducerQueueKeyDDE5A4FB": "AWS::KMS::Key",
    "ProducerQueue8290E93C": "AWS::SQS::Queue",
    "ProducerDeadLetterQueueD7B5AE3C": "AWS::SQS::Queue",
    "ProducerRejectedQueueD60B6B07": "AWS::SQS::Queue",
    "ProducerFailedInvocationsQueue375BEACB": "AWS::SQS::Queue",
}
# With IAM (every environment in cdk.json): resources whose replacement would act on the
# cluster. A configuration in use cannot be deleted; a replaced ACL resource's Delete removes
# the bindings its successor just adopted; a replaced enforcement resource's Delete re-opens
# the cluster its successor had just enforced.
PINNED_IAM_LOGICAL_IDS = {
    "KafkaEnforcedConfiguration855AAC85": "AWS::MSK::Configuration",
    "AclsF9747DA2": "Custom::KafkaAcls",
    "AclEnforcement5C1A9E32": "Custom::KafkaAclEnforcement",
}
PINNED_DEV_LOGICAL_IDS = {
    "NetworkVpc7FB7348F": "AWS::EC2::VPC",
    "NetworkVpcPrivateSubnet1Subnet6DD86AE6": "AWS::EC2::Subnet",
    "NetworkVpcPrivateSubnet2Subnet1BDBE877": "AWS::EC2::Subnet",
    "NetworkFlowLogs2BEC3212": "AWS::Logs::LogGroup",
}


def outputs(synthesized, env: str) -> dict[str, dict]:
    return synthesized.template_json[env]["Outputs"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stateful_logical_ids_are_pinned(env, synthesized, environment_configs):
    resources = synthesized.template_json[env]["Resources"]
    pinned = PINNED_LOGICAL_IDS | (PINNED_DEV_LOGICAL_IDS if env == "dev" else {})
    if environment_configs[env].kafka_auth == "iam":
        pinned |= PINNED_IAM_LOGICAL_IDS
    assert {
        logical_id: resources.get(logical_id, {}).get("Type") for logical_id in pinned
    } == pinned


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stack_is_named_per_environment_with_explicit_account_and_region(
    env, synthesized, environment_configs
):
    stack = synthesized.stacks[env]
    config = environment_configs[env]
    assert stack.stack_name == f"DocumentExceptions-{env}"
    assert (stack.account, stack.region) == (config.account, config.region)


@pytest.mark.parametrize(("env", "protected"), [("dev", False), ("staging", False), ("prod", True)])
def test_only_prod_has_termination_protection(env, protected, synthesized):
    assert synthesized.stacks[env].termination_protection is protected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_name_cluster_secret_and_brokers(env, synthesized, environment_configs):
    found = outputs(synthesized, env)
    assert found["ClusterArn"]["Value"] == {"Ref": "KafkaCluster21A1BE89"}
    assert found["ClusterName"]["Value"] == environment_configs[env].cluster_name
    assert found["ScramSecretArn"]["Value"] == {"Ref": "KafkaScramSecretFB545E5F"}
    assert found["ScramSecretName"]["Value"] == environment_configs[env].secret_name
    assert found["BootstrapBrokersSaslScram"]["Value"] == {
        "Fn::GetAtt": ["KafkaBootstrapBrokers10225061", "BootstrapBrokerStringSaslScram"]
    }


def evaluate(expression, brokers: str):
    """A tiny evaluator for the intrinsic functions of the KAFKA_BOOTSTRAP_SERVERS output."""
    if isinstance(expression, str):
        return expression
    if isinstance(expression, list):
        return [evaluate(item, brokers) for item in expression]
    ((function, argument),) = expression.items()
    if function == "Fn::GetAtt":
        return brokers
    if function == "Fn::Split":
        return evaluate(argument[1], brokers).split(argument[0])
    if function == "Fn::Join":
        values = evaluate(argument[1], brokers)
        flat = [
            item for value in values for item in (value if isinstance(value, list) else [value])
        ]
        return argument[0].join(flat)
    raise AssertionError(f"unexpected intrinsic {function}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kafka_bootstrap_servers_output_is_the_seed_json_list(env, synthesized):
    expression = outputs(synthesized, env)["KafkaBootstrapServers"]["Value"]
    brokers = ",".join(f"b-{n}.example.kafka.eu-west-1.amazonaws.com:9096" for n in (1, 2))
    assert json.loads(evaluate(expression, brokers)) == brokers.split(",")
    assert json.loads(evaluate(expression, "b-1.x:9096")) == ["b-1.x:9096"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_give_the_seed_security_settings(env, synthesized):
    found = outputs(synthesized, env)
    assert found["KafkaSecurityProtocol"]["Value"] == "SASL_SSL"
    assert found["KafkaSaslMechanism"]["Value"] == "SCRAM-SHA-512"
    credentials = json.dumps(found["KafkaSaslCredentials"]["Value"])
    assert "KAFKA_SASL_USERNAME" in credentials
    assert "KAFKA_SASL_PASSWORD" in credentials
    assert '{"Ref": "KafkaScramSecretFB545E5F"}' in credentials


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_password_value_in_the_template(env, synthesized):
    keys = []

    def walk(node):
        if isinstance(node, dict):
            keys.extend(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(synthesized.template_json[env])
    assert "SecretString" not in keys
    assert "SecretStringValue" not in keys
    variables = [
        name
        for resource in synthesized.template_json[env]["Resources"].values()
        for name in resource["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert [name for name in variables if "PASSWORD" in name.upper()] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_stack_holds_only_constructs(env, synthesized):
    stack = synthesized.stacks[env]
    direct = [
        child.node.id
        for child in stack.node.children
        if isinstance(child, cdk.CfnElement)
        and not isinstance(child, cdk.CfnOutput | cdk.CfnParameter | cdk.CfnRule)
    ]
    assert direct == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cdk_nag_reports_no_unsuppressed_errors(env, synthesized):
    errors = Annotations.from_stack(synthesized.stacks[env]).find_error("*", AWS_SOLUTIONS)
    assert [(error.id, error.entry.data) for error in errors] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cdk_nag_reports_no_unsuppressed_warnings(env, synthesized):
    warnings = Annotations.from_stack(synthesized.stacks[env]).find_warning("*", AWS_SOLUTIONS)
    assert [(warning.id, warning.entry.data) for warning in warnings] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_suppression_names_its_rule_and_reason(env, synthesized):
    suppressions = [
        rule
        for resource in synthesized.template_json[env]["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions
    for rule in suppressions:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule["reason"]) >= 40


def test_cdk_nag_checks_catch_a_violation():
    """The same wiring flags an unrotated key, so the zero-findings tests above can fail."""
    app = cdk.App()
    stack = cdk.Stack(app, "Probe")
    kms.Key(stack, "Key", enable_key_rotation=False)
    nag.add_checks(app)
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-KMS5.*")
    )
    assert len(errors) == 1


def test_suppression_without_reason_is_refused():
    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match="reason"):
        nag.suppress(kms.Key(stack, "Key"), "AwsSolutions-KMS5", "")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cfn_lint_finds_nothing(env, cfn_lint_findings):
    assert cfn_lint_findings[env] == []


def test_synth_is_deterministic(synthesized):
    again = synthesize()
    assert again.template_json == synthesized.template_json
