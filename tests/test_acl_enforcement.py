"""stacks/acl_enforcement.py (with the enforced configuration of stacks/kafka_cluster.py):
`allow.everyone.if.no.acl.found=false` applied by a custom resource after the Kafka ACLs,
checked in the synthesized templates of every environment."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from stacks.acl_enforcement import (
    FRAMEWORK_MARGIN,
    HANDLER_TIMEOUT,
    MAX_SERVICE_TIMEOUT_S,
    RESOURCE_TYPE,
    check_timeouts,
)
from stacks.assets import ACL_ENFORCEMENT_ASSET
from tests.stack_fixtures import ENVIRONMENTS, asset_s3_key

CLUSTER = "KafkaCluster21A1BE89"
OPEN_CONFIGURATION = "KafkaConfiguration2E1CE142"
ENFORCED_CONFIGURATION = "KafkaEnforcedConfiguration855AAC85"
TOPIC = "TopicBFC7AF6E"
NATIVE_TOPIC = "TopicNativeB969B9CE"
ACLS = "AclsF9747DA2"
HANDLER_ROLE_POLICY = "AclEnforcementHandlerRoleDefaultPolicy5E5DFA99"
HANDLER_LOG_GROUP = "AclEnforcementHandlerLogGroupA38133FC"
ALLOW_EVERYONE_LINE = "allow.everyone.if.no.acl.found=false"


def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return template["Resources"]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in resources(template).items() if value["Type"] == kind}


def enforcement(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = of_type(template, RESOURCE_TYPE).items()
    return found


def depends_on(resource: dict[str, Any]) -> set[str]:
    value = resource.get("DependsOn", [])
    return {value} if isinstance(value, str) else set(value)


def functions_of_the_enforcement(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: value
        for key, value in of_type(template, "AWS::Lambda::Function").items()
        if key.startswith("AclEnforcement")
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_resource_runs_after_the_acl_resource_and_the_cluster(env, synthesized):
    _, resource = enforcement(synthesized.template_json[env])
    assert depends_on(resource) == {ACLS, CLUSTER}
    acls = resources(synthesized.template_json[env])[ACLS]
    assert acls["Type"] == "Custom::KafkaAcls"  # the resource that creates the ACLs
    assert TOPIC in depends_on(acls)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_resource_properties_name_cluster_configurations_version_and_target(
    env, synthesized, environment_configs
):
    _, resource = enforcement(synthesized.template_json[env])
    properties = {k: v for k, v in resource["Properties"].items() if k != "ServiceToken"}
    assert properties == {
        "ServiceTimeout": "3600",
        "ClusterArn": {"Ref": CLUSTER},
        "KafkaVersion": environment_configs[env].kafka_version,
        "OpenConfigurationArn": {"Fn::GetAtt": [OPEN_CONFIGURATION, "Arn"]},
        "OpenConfigurationRevision": {
            "Fn::GetAtt": [OPEN_CONFIGURATION, "LatestRevision.Revision"]
        },
        "EnforcedConfigurationArn": {"Fn::GetAtt": [ENFORCED_CONFIGURATION, "Arn"]},
        "EnforcedConfigurationRevision": {
            "Fn::GetAtt": [ENFORCED_CONFIGURATION, "LatestRevision.Revision"]
        },
        "AllowEveryoneIfNoAclFound": "false",
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_cluster_is_created_after_and_deleted_before_the_enforced_configuration(
    env, synthesized
):
    cluster = resources(synthesized.template_json[env])[CLUSTER]
    assert ENFORCED_CONFIGURATION in depends_on(cluster)
    # The template still points the cluster at the open configuration.
    assert cluster["Properties"]["ConfigurationInfo"]["Arn"] == {
        "Fn::GetAtt": [OPEN_CONFIGURATION, "Arn"]
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_and_open_configuration_are_those_without_the_feature(
    env, synthesized, scram_only_synthesized
):
    """SASL/SCRAM-only stacks have none of the feature; IAM's cluster differs from theirs
    only in IAM authentication, its open configuration not at all."""
    with_feature = resources(synthesized.template_json[env])
    without = resources(scram_only_synthesized.template_json[env])
    cluster, plain = with_feature[CLUSTER], without[CLUSTER]
    iam_off = json.loads(json.dumps(cluster["Properties"]))
    iam_off["ClientAuthentication"]["Sasl"]["Iam"]["Enabled"] = False
    assert iam_off == plain["Properties"]
    assert {k: v for k, v in cluster.items() if k not in ("DependsOn", "Properties")} == {
        k: v for k, v in plain.items() if k not in ("DependsOn", "Properties")
    }
    assert with_feature[OPEN_CONFIGURATION] == without[OPEN_CONFIGURATION]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_enforced_configuration_is_the_open_one_plus_one_line(env, synthesized):
    open_configuration = resources(synthesized.template_json[env])[OPEN_CONFIGURATION]
    enforced = resources(synthesized.template_json[env])[ENFORCED_CONFIGURATION]
    open_lines = open_configuration["Properties"]["ServerProperties"].splitlines()
    enforced_lines = enforced["Properties"]["ServerProperties"].splitlines()
    assert sorted(enforced_lines) == sorted([*open_lines, ALLOW_EVERYONE_LINE])
    assert enforced["Properties"]["Name"] == (
        open_configuration["Properties"]["Name"] + "-acls-enforced"
    )
    assert "KafkaVersionsList" not in enforced["Properties"]
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        assert enforced.get(policy) == open_configuration.get(policy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_role_may_do_exactly_what_the_handlers_call(env, synthesized):
    template = synthesized.template_json[env]
    statements = resources(template)[HANDLER_ROLE_POLICY]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [HANDLER_LOG_GROUP, "Arn"]},
        },
        {
            "Action": "kafka:DescribeClusterV2",
            "Effect": "Allow",
            "Resource": {"Ref": CLUSTER},
            "Sid": "DescribeCluster",
        },
        {
            "Action": "kafka:UpdateClusterConfiguration",
            "Effect": "Allow",
            "Resource": [
                {"Ref": CLUSTER},
                {"Fn::GetAtt": [OPEN_CONFIGURATION, "Arn"]},
                {"Fn::GetAtt": [ENFORCED_CONFIGURATION, "Arn"]},
            ],
            "Sid": "UpdateClusterConfiguration",
        },
        {
            "Action": "kafka:DescribeClusterOperationV2",
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "DescribeClusterOperation",
        },
        {
            "Action": "cloudformation:DescribeStacks",
            "Effect": "Allow",
            "Resource": {"Ref": "AWS::StackId"},
            "Sid": "DescribeOwnStack",
        },
    ]
    role = HANDLER_ROLE_POLICY.replace("DefaultPolicy5E5DFA99", "1D99B604")
    assert "ManagedPolicyArns" not in resources(template)[role]["Properties"]
    assert resources(template)[HANDLER_ROLE_POLICY]["Properties"]["Roles"] == [{"Ref": role}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_function_of_it_runs_outside_the_vpc(env, synthesized):
    functions = functions_of_the_enforcement(synthesized.template_json[env])
    handlers = sorted(function["Properties"]["Handler"] for function in functions.values())
    assert handlers == [
        "framework.isComplete",
        "framework.onEvent",
        "framework.onTimeout",
        "handler.is_complete",
        "handler.on_event",
    ]
    assert [key for key, f in functions.items() if "VpcConfig" in f["Properties"]] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_waiter_and_service_timeouts_fit_cloudformation_s_hour(env, synthesized):
    template = synthesized.template_json[env]
    (machine,) = of_type(template, "AWS::StepFunctions::StateMachine").values()
    definition = "".join(
        part if isinstance(part, str) else "ARN"
        for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    )
    (retry,) = json.loads(definition)["States"]["framework-isComplete-task"]["Retry"]
    waiter_s = retry["IntervalSeconds"] * retry["MaxAttempts"]
    handler_s = {
        f["Properties"]["Handler"]: f["Properties"]["Timeout"]
        for f in functions_of_the_enforcement(template).values()
    }
    _, resource = enforcement(template)
    service_s = int(resource["Properties"]["ServiceTimeout"])
    needed = (
        handler_s["handler.on_event"]
        + waiter_s
        + handler_s["handler.is_complete"]
        + FRAMEWORK_MARGIN.to_seconds()
    )
    assert (waiter_s, service_s) == (55 * 60, MAX_SERVICE_TIMEOUT_S)
    assert needed <= service_s <= MAX_SERVICE_TIMEOUT_S
    assert handler_s["handler.on_event"] == HANDLER_TIMEOUT.to_seconds() == 60


def test_timeouts_beyond_the_service_timeout_are_refused():
    with pytest.raises(ValueError, match="must fit the service timeout 3600 s"):
        check_timeouts(waiter_timeout=cdk.Duration.minutes(59))
    with pytest.raises(ValueError, match="at most 3600 s"):
        check_timeouts(service_timeout=cdk.Duration.minutes(61))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_waiter_logs_every_step_without_the_events(env, synthesized):
    template = synthesized.template_json[env]
    (machine,) = of_type(template, "AWS::StepFunctions::StateMachine").values()
    logging = machine["Properties"]["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert "KmsKeyId" in resources(template)[group]["Properties"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_scram_only_has_none_of_it(env, scram_only_synthesized):
    template = scram_only_synthesized.template_json[env]
    assert of_type(template, RESOURCE_TYPE) == {}
    assert list(of_type(template, "AWS::MSK::Configuration")) == [OPEN_CONFIGURATION]
    assert ENFORCED_CONFIGURATION not in depends_on(resources(template)[CLUSTER])
    assert of_type(template, "AWS::StepFunctions::StateMachine") == {}
    assert "AclEnforcement" not in json.dumps(resources(template))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_with_the_native_topic_the_acls_are_enforced_after_the_acl_resource(env, kafka3_variants):
    """The ACL resource serves the native topic too: the resource enforces after it."""
    template = kafka3_variants["native"].template_json[env]
    _, resource = enforcement(template)
    assert resource["Properties"]["AllowEveryoneIfNoAclFound"] == "false"
    assert depends_on(resource) == {ACLS, CLUSTER}
    assert depends_on(resources(template)[ACLS]) >= {NATIVE_TOPIC}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_both_handlers_run_the_acl_enforcement_asset(env, synthesized):
    functions = functions_of_the_enforcement(synthesized.template_json[env])
    keys = {
        f["Properties"]["Handler"]: f["Properties"]["Code"]["S3Key"]
        for f in functions.values()
        if f["Properties"]["Handler"].startswith("handler.")
    }
    assert keys == {
        "handler.on_event": asset_s3_key(ACL_ENFORCEMENT_ASSET),
        "handler.is_complete": asset_s3_key(ACL_ENFORCEMENT_ASSET),
    }
