"""stacks/kafka_cluster.py: the MSK cluster, its configuration, security group and SCRAM secret."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from stacks.config import IAM_PORT, SCRAM_PORT, EnvironmentConfig
from stacks.kafka_access import KafkaClientAccess
from stacks.kafka_cluster import KafkaCluster
from stacks.network import Network
from tests.client_access_stack import build_log_groups
from tests.stack_fixtures import ENVIRONMENTS
from tests.test_document_exceptions_stack import PINNED_LOGICAL_IDS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)

CLUSTER = "KafkaCluster21A1BE89"
SECRET_KEY = "KafkaSecretKeyF157E757"


# The configuration the cluster's template references (MSK's default: no ACLs enforced);
# with IAM an enforced one sits beside it (tests/test_acl_enforcement.py).
OPEN_CONFIGURATION = "KafkaConfiguration2E1CE142"


def only(template: Template, resource_type: str) -> tuple[str, dict]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {list(resources)}"
    return next(iter(resources.items()))


def cluster_properties(template: Template) -> dict:
    return only(template, "AWS::MSK::Cluster")[1]["Properties"]


def test_cluster_size_and_version_come_from_config(env, stack_templates, environment_configs):
    config = environment_configs[env]
    properties = cluster_properties(stack_templates[env])
    assert properties["ClusterName"] == config.cluster_name
    assert properties["KafkaVersion"] == config.kafka_version == "2.8.1"
    assert properties["NumberOfBrokerNodes"] == config.broker_nodes == 2
    broker_group = properties["BrokerNodeGroupInfo"]
    assert broker_group["InstanceType"] == "kafka.t3.small"
    assert broker_group["StorageInfo"] == {"EBSStorageInfo": {"VolumeSize": 100}}


def test_brokers_sit_in_two_subnets(env, stack_templates, environment_configs):
    subnets = cluster_properties(stack_templates[env])["BrokerNodeGroupInfo"]["ClientSubnets"]
    assert len(subnets) == 2
    network = environment_configs[env].network
    if network.mode == "import":
        assert subnets == [subnet.subnet_id for subnet in network.subnets]
    else:
        assert [subnet["Ref"] for subnet in subnets] == [
            "NetworkVpcPrivateSubnet1Subnet6DD86AE6",
            "NetworkVpcPrivateSubnet2Subnet1BDBE877",
        ]


def test_clients_authenticate_with_iam_beside_sasl_scram(env, stack_templates):
    authentication = cluster_properties(stack_templates[env])["ClientAuthentication"]
    assert authentication == {
        "Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": True}},
        "Unauthenticated": {"Enabled": False},
    }


def test_scram_only_setting_turns_iam_off(env, scram_only_synthesized):
    authentication = cluster_properties(scram_only_synthesized.templates[env])[
        "ClientAuthentication"
    ]
    assert authentication == {
        "Sasl": {"Scram": {"Enabled": True}, "Iam": {"Enabled": False}},
        "Unauthenticated": {"Enabled": False},
    }


# AWS::MSK::Cluster properties CloudFormation updates in place (msk-facts.md; the resource
# schema's createOnlyProperties are ClusterName, BrokerNodeGroupInfo's ClientSubnets,
# SecurityGroups and BrokerAZDistribution, and EncryptionAtRest / EncryptionInTransit.InCluster).
CLUSTER_IN_PLACE_PROPERTIES = frozenset(
    {
        "ClientAuthentication",
        "KafkaVersion",
        "NumberOfBrokerNodes",
        "ConfigurationInfo",
        "EnhancedMonitoring",
        "LoggingInfo",
        "OpenMonitoring",
    }
)


def test_enabling_iam_replaces_nothing_stateful(env, stack_templates, scram_only_synthesized):
    """Moving an environment from SASL/SCRAM only to IAM: every pinned stateful resource keeps
    its logical ID; the cluster changes only in properties MSK updates in place; every other
    stateful resource, and the cluster's security group, is identical."""
    iam_resources = stack_templates[env].to_json()["Resources"]
    scram_resources = scram_only_synthesized.templates[env].to_json()["Resources"]
    for logical_id in PINNED_LOGICAL_IDS:
        assert logical_id in iam_resources, logical_id
        assert logical_id in scram_resources, logical_id
        before, after = scram_resources[logical_id], iam_resources[logical_id]
        assert before["Type"] == after["Type"]
        changed = {
            key
            for key in {*before.get("Properties", {}), *after.get("Properties", {})}
            if before.get("Properties", {}).get(key) != after.get("Properties", {}).get(key)
        }
        if after["Type"] == "AWS::MSK::Cluster":
            assert changed == {"ClientAuthentication"}
            assert changed <= CLUSTER_IN_PLACE_PROPERTIES
        elif logical_id == SECRET_KEY:
            # Updated in place: the functions' roles leave the SCRAM secret key's policy.
            assert changed == {"KeyPolicy"}
        else:
            assert changed == set(), f"{logical_id} changes {sorted(changed)}"
        assert before.get("DeletionPolicy") == after.get("DeletionPolicy")
    group = "KafkaSecurityGroup4C1F93F4"
    assert scram_resources[group] == iam_resources[group]


def test_with_iam_no_function_role_may_use_the_scram_secret_key(
    env, stack_templates, scram_only_synthesized
):
    def roles_in_key_policy(template: Template) -> set[str]:
        policy = json.dumps(template.to_json()["Resources"][SECRET_KEY]["Properties"]["KeyPolicy"])
        return {
            logical_id
            for logical_id in template.find_resources("AWS::IAM::Role")
            if f'"{logical_id}"' in policy
        }

    assert roles_in_key_policy(scram_only_synthesized.templates[env]), "SCRAM: the roles decrypt"
    assert roles_in_key_policy(stack_templates[env]) == set()


def test_traffic_is_tls_between_clients_and_brokers_and_inside_the_cluster(env, stack_templates):
    in_transit = cluster_properties(stack_templates[env])["EncryptionInfo"]["EncryptionInTransit"]
    assert in_transit == {"ClientBroker": "TLS", "InCluster": True}


def test_data_at_rest_uses_the_rotating_customer_key(env, stack_templates):
    template = stack_templates[env]
    at_rest = cluster_properties(template)["EncryptionInfo"]["EncryptionAtRest"]
    assert at_rest == {"DataVolumeKMSKeyId": {"Fn::GetAtt": ["KafkaDataKeyD2F71A19", "Arn"]}}
    key = template.to_json()["Resources"]["KafkaDataKeyD2F71A19"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_broker_logs_go_to_a_log_group_with_the_configured_retention(
    env, stack_templates, environment_configs
):
    template = stack_templates[env]
    broker_logs = cluster_properties(template)["LoggingInfo"]["BrokerLogs"]
    assert broker_logs == {
        "CloudWatchLogs": {"Enabled": True, "LogGroup": {"Ref": "KafkaBrokerLogsD032A934"}}
    }
    log_group = template.to_json()["Resources"]["KafkaBrokerLogsD032A934"]["Properties"]
    assert log_group["RetentionInDays"] == environment_configs[env].log_retention_days


def test_enhanced_monitoring_level_comes_from_config(env, stack_templates, environment_configs):
    properties = cluster_properties(stack_templates[env])
    assert properties["EnhancedMonitoring"] == environment_configs[env].enhanced_monitoring


def test_cluster_uses_the_latest_revision_of_its_configuration(env, stack_templates):
    configuration_info = cluster_properties(stack_templates[env])["ConfigurationInfo"]
    assert configuration_info == {
        "Arn": {"Fn::GetAtt": ["KafkaConfiguration2E1CE142", "Arn"]},
        "Revision": {"Fn::GetAtt": ["KafkaConfiguration2E1CE142", "LatestRevision.Revision"]},
    }


def test_configuration_carries_the_server_properties(env, stack_templates, environment_configs):
    configuration = stack_templates[env].to_json()["Resources"][OPEN_CONFIGURATION]
    lines = configuration["Properties"]["ServerProperties"].splitlines()
    assert lines == [
        "auto.create.topics.enable=false",
        "default.replication.factor=2",
        "min.insync.replicas=1",
        "unclean.leader.election.enable=false",
    ]
    assert configuration["Properties"]["Name"] == (
        f"{environment_configs[env].cluster_name}-configuration"
    )


def test_configuration_is_not_pinned_to_kafka_versions(env, stack_templates):
    for configuration in stack_templates[env].find_resources("AWS::MSK::Configuration").values():
        assert "KafkaVersionsList" not in configuration["Properties"]


def test_cluster_security_group_has_no_inline_ingress(env, stack_templates):
    group = stack_templates[env].to_json()["Resources"]["KafkaSecurityGroup4C1F93F4"]
    assert "SecurityGroupIngress" not in group["Properties"]


def cluster_ingress_rules(template: Template) -> list[dict]:
    return [
        rule["Properties"]
        for rule in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"]
        == {"Fn::GetAtt": ["KafkaSecurityGroup4C1F93F4", "GroupId"]}
    ]


def test_configured_clients_keep_9096_and_this_apps_functions_use_9098(
    env, stack_templates, environment_configs
):
    """Django apps (client_access) keep SASL/SCRAM; the producer and topic resource use IAM."""
    ports = {}
    for rule in cluster_ingress_rules(stack_templates[env]):
        assert rule["FromPort"] == rule["ToPort"]
        assert rule["IpProtocol"] == "tcp"
        source = rule.get("SourceSecurityGroupId") or rule.get("CidrIp")
        own = not isinstance(source, str)
        ports.setdefault(own, set()).add(rule["FromPort"])
    assert ports[True] == {IAM_PORT}
    configured = environment_configs[env].client_access
    if configured.security_group_ids or configured.cidrs:
        assert ports[False] == {SCRAM_PORT}


def test_scram_only_functions_use_9096(env, scram_only_synthesized):
    rules = cluster_ingress_rules(scram_only_synthesized.templates[env])
    assert {(rule["FromPort"], rule["ToPort"]) for rule in rules} == {(SCRAM_PORT, SCRAM_PORT)}


def test_cluster_accepts_only_its_ports_and_only_from_configured_clients(
    env, stack_templates, environment_configs
):
    access = environment_configs[env].client_access
    rules = cluster_ingress_rules(stack_templates[env])
    assert {(rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) for rule in rules} <= {
        (SCRAM_PORT, SCRAM_PORT, "tcp"),
        (IAM_PORT, IAM_PORT, "tcp"),
    }
    sources = [rule.get("SourceSecurityGroupId") or rule.get("CidrIp") for rule in rules]
    configured = sorted(source for source in sources if isinstance(source, str))
    assert configured == sorted([*access.security_group_ids, *access.cidrs])
    own_groups = {source["Fn::GetAtt"][0] for source in sources if not isinstance(source, str)}
    function_groups = {
        config["VpcConfig"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]
        for config in (
            function["Properties"]
            for function in stack_templates[env].find_resources("AWS::Lambda::Function").values()
        )
        if "VpcConfig" in config
    }
    assert own_groups == function_groups
    assert len(own_groups) == 2, "the producer and the topic-bootstrap handler"


def test_no_security_group_is_open_to_the_internet(env, stack_templates):
    text = json.dumps(stack_templates[env].to_json())
    assert '"0.0.0.0/0"' not in text
    assert '"::/0"' not in text


def test_scram_secret_is_named_for_msk_and_encrypted_with_its_own_key(
    env, stack_templates, environment_configs
):
    _, secret = only(stack_templates[env], "AWS::SecretsManager::Secret")
    properties = secret["Properties"]
    assert properties["Name"] == environment_configs[env].secret_name
    assert properties["Name"].startswith("AmazonMSK_")
    assert properties["KmsKeyId"] == {"Fn::GetAtt": ["KafkaSecretKeyF157E757", "Arn"]}
    key = stack_templates[env].to_json()["Resources"]["KafkaSecretKeyF157E757"]["Properties"]
    assert key["EnableKeyRotation"] is True


def test_scram_password_is_generated_never_written(env, stack_templates, environment_configs):
    _, secret = only(stack_templates[env], "AWS::SecretsManager::Secret")
    generate = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]) == {
        "username": environment_configs[env].scram_username
    }
    assert generate["GenerateStringKey"] == "password"
    assert "SecretString" not in secret["Properties"]


def test_scram_secret_is_associated_with_the_cluster(env, stack_templates):
    _, association = only(stack_templates[env], "AWS::MSK::BatchScramSecret")
    assert association["Properties"] == {
        "ClusterArn": {"Ref": CLUSTER},
        "SecretArnList": [{"Ref": "KafkaScramSecretFB545E5F"}],
    }


def test_bootstrap_brokers_are_looked_up_at_deploy_time(env, stack_templates):
    lookup = stack_templates[env].to_json()["Resources"]["KafkaBootstrapBrokers10225061"]
    assert lookup["Type"] == "Custom::AWS"
    for phase in ("Create", "Update"):
        parts = lookup["Properties"][phase]["Fn::Join"][1]
        call = json.loads(parts[0] + "CLUSTER" + parts[2])
        assert parts[1] == {"Ref": CLUSTER}
        assert call["service"] == "Kafka"
        assert call["action"] == "getBootstrapBrokers"
        assert call["parameters"] == {"ClusterArn": "CLUSTER"}
        assert call["outputPaths"] == [
            "BootstrapBrokerStringSaslScram",
            "BootstrapBrokerStringSaslIam",
        ]
    assert lookup["Properties"]["InstallLatestAwsSdk"] is False
    assert "KafkaScramSecretAssociation10A7F168" in lookup["DependsOn"]


def test_bootstrap_broker_lookup_may_only_read_this_cluster(env, stack_templates):
    policy = stack_templates[env].to_json()["Resources"][
        "KafkaBootstrapBrokersCustomResourcePolicyDEF91715"
    ]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "kafka:GetBootstrapBrokers", "Effect": "Allow", "Resource": {"Ref": CLUSTER}}
    ]


def test_bootstrap_broker_lookup_runs_outside_the_vpc(env, stack_templates):
    functions = stack_templates[env].find_resources("AWS::Lambda::Function")
    lookup_function = functions["AWS679f53fac002430cb0da5b7982bd22872D164C4C"]["Properties"]
    assert "VpcConfig" not in lookup_function


def test_stateful_resources_follow_the_removal_setting(env, stack_templates, environment_configs):
    expected = "Retain" if environment_configs[env].retain else "Delete"
    resources = stack_templates[env].to_json()["Resources"]
    for logical_id in (
        CLUSTER,
        "KafkaConfiguration2E1CE142",
        "KafkaScramSecretFB545E5F",
        "KafkaDataKeyD2F71A19",
        "KafkaSecretKeyF157E757",
        "KafkaBrokerLogsD032A934",
    ):
        assert resources[logical_id]["DeletionPolicy"] == expected, logical_id
        assert resources[logical_id]["UpdateReplacePolicy"] == expected, logical_id


def test_kafka_2_8_1_warns_at_synth_naming_end_of_support(env, synthesized):
    stack = synthesized.stacks[env]
    warnings = Annotations.from_stack(stack).find_warning(
        f"/{stack.stack_name}/Kafka", Match.string_like_regexp("2024-09-11.*3\\.8\\.x")
    )
    assert len(warnings) == 1


def test_a_kafka_version_msk_does_not_offer_warns_at_synth_naming_the_offered_ones(
    env, environment_configs
):
    stack = probe_stack(dataclasses.replace(environment_configs[env], kafka_version="9.9.9"))
    warnings = Annotations.from_stack(stack).find_warning(
        "/Probe/Kafka",
        Match.string_like_regexp("does not offer Kafka 9\\.9\\.9; it offers 3\\.8\\.x"),
    )
    assert len(warnings) == 1


def test_client_access_hands_clients_the_cluster_and_its_dependencies(env, synthesized):
    stack = synthesized.stacks[env]
    access = stack.client_access
    assert isinstance(access, KafkaClientAccess)
    assert access.cluster_security_group is stack.cluster.security_group
    assert access.secret is stack.cluster.secret
    assert access.subnets is stack.network.broker_subnets
    assert access.endpoints_security_group is stack.network.endpoints_security_group
    assert access.dependencies == (
        stack.cluster.cluster,
        stack.cluster.scram_association,
        stack.cluster.broker_lookup,
    )


def probe_stack(config: EnvironmentConfig) -> cdk.Stack:
    """Only the network and the cluster of `config`, with the same construct paths as the app
    (so the same logical ids)."""
    stack = cdk.Stack(
        cdk.App(), "Probe", env=cdk.Environment(account=config.account, region=config.region)
    )
    log_groups = build_log_groups(stack)
    network = Network(
        stack, "Network", settings=config.network, region=config.region, log_groups=log_groups
    )
    KafkaCluster(
        stack,
        "Kafka",
        config=config,
        vpc=network.vpc,
        broker_subnets=network.broker_subnets,
        log_groups=log_groups,
    )
    return stack


def test_a_supported_kafka_version_synthesizes_without_warning(env, environment_configs):
    stack = probe_stack(dataclasses.replace(environment_configs[env], kafka_version="3.8.x"))
    assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []
    assert (
        Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("end of support"))
        == []
    )
    assert cluster_properties(Template.from_stack(stack))["KafkaVersion"] == "3.8.x"


# What MSK replaces the cluster for (a new, empty cluster; see NetworkSettings and
# /work/shared/notes/msk-facts.md), as paths into the cluster's properties.
REPLACEMENT_PROPERTIES = (
    ("ClusterName",),
    ("BrokerNodeGroupInfo", "ClientSubnets"),
    ("BrokerNodeGroupInfo", "SecurityGroups"),
    ("BrokerNodeGroupInfo", "BrokerAZDistribution"),
    ("EncryptionInfo", "EncryptionAtRest"),
    ("EncryptionInfo", "EncryptionInTransit", "InCluster"),
)
ATTACHED_GROUPS = ("sg-0a77ac4ed0000b0b1", "sg-0a77ac4ed0000b0b2")


def replacement_properties(template: Template) -> dict[tuple[str, ...], Any]:
    properties = cluster_properties(template)
    found = {}
    for path in REPLACEMENT_PROPERTIES:
        node: Any = properties
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        found[path] = node
    return found


def with_attached_groups(config: EnvironmentConfig) -> EnvironmentConfig:
    if config.network.mode != "import":
        pytest.skip("existing groups attach only to brokers in an imported VPC (config refuses)")
    network = dataclasses.replace(config.network, broker_security_group_ids=ATTACHED_GROUPS)
    return dataclasses.replace(config, network=network)


def test_brokers_are_in_the_created_group_then_the_configured_existing_ones(
    env, stack_templates, environment_configs
):
    groups = cluster_properties(stack_templates[env])["BrokerNodeGroupInfo"]["SecurityGroups"]
    assert groups == [
        {"Fn::GetAtt": ["KafkaSecurityGroup4C1F93F4", "GroupId"]},
        *environment_configs[env].network.broker_security_group_ids,
    ]
    attached = cluster_properties(
        Template.from_stack(probe_stack(with_attached_groups(environment_configs[env])))
    )["BrokerNodeGroupInfo"]["SecurityGroups"]
    assert attached == [groups[0], *ATTACHED_GROUPS]


def test_attaching_existing_groups_keeps_the_stateful_logical_ids(env, environment_configs):
    config = environment_configs[env]
    baseline = Template.from_stack(probe_stack(config)).to_json()["Resources"]
    attached = Template.from_stack(probe_stack(with_attached_groups(config))).to_json()
    pinned = {
        logical_id: kind
        for logical_id, kind in PINNED_LOGICAL_IDS.items()
        if logical_id in baseline
    }
    assert {"KafkaCluster21A1BE89", "KafkaSecurityGroup4C1F93F4"} <= set(pinned)
    assert {
        logical_id: attached["Resources"].get(logical_id, {}).get("Type") for logical_id in pinned
    } == pinned
    assert set(attached["Resources"]) == set(baseline), "attaching adds or removes no resource"


def test_attached_groups_get_no_rules_from_this_stack(env, environment_configs):
    template = Template.from_stack(probe_stack(with_attached_groups(environment_configs[env])))
    for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        for rule in template.find_resources(kind).values():
            assert rule["Properties"]["GroupId"] not in ATTACHED_GROUPS


def test_attaching_existing_groups_changes_one_replacement_property(env, environment_configs):
    config = environment_configs[env]
    before = replacement_properties(Template.from_stack(probe_stack(config)))
    after = replacement_properties(Template.from_stack(probe_stack(with_attached_groups(config))))
    changed = sorted(path for path in REPLACEMENT_PROPERTIES if before[path] != after[path])
    assert changed == [("BrokerNodeGroupInfo", "SecurityGroups")], (
        "NetworkSettings documents that attaching a group replaces the cluster"
    )


def test_admitting_clients_never_changes_a_replacement_property(env, environment_configs):
    config = environment_configs[env]
    access = dataclasses.replace(
        config.client_access,
        security_group_ids=(*config.client_access.security_group_ids, "sg-0c11e47000000c1e4"),
        cidrs=(*config.client_access.cidrs, "10.99.0.0/24"),
    )
    before = Template.from_stack(probe_stack(config))
    after = Template.from_stack(probe_stack(dataclasses.replace(config, client_access=access)))
    assert replacement_properties(after) == replacement_properties(before)
    assert len(after.find_resources("AWS::EC2::SecurityGroupIngress")) == 2 + len(
        before.find_resources("AWS::EC2::SecurityGroupIngress")
    )


def test_an_acknowledged_version_warning_is_not_shown(env, environment_configs):
    config = dataclasses.replace(
        environment_configs[env],
        acknowledged_warnings={"document-exceptions:kafka-end-of-support": "existing cluster"},
    )
    stack = probe_stack(config)
    assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []
