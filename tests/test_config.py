"""stacks/config.py: loading and validating the `environments` context of cdk.json."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import (
    DEFAULT_SERVER_PROPERTIES,
    ConfigError,
    EnvironmentConfig,
    acl_enforcement_refusal,
    load_environment,
    load_environments,
    select_environments,
)
from tests.stack_fixtures import cdk_context

IMPORTED = {
    "account": "123456789012",
    "region": "eu-west-1",
    "network": {
        "mode": "import",
        "vpc_id": "vpc-12345678",
        "subnets": [
            {
                "subnet_id": "subnet-12345678",
                "availability_zone": "eu-west-1a",
                "route_table_id": "rtb-12345678",
            },
            {
                "subnet_id": "subnet-87654321",
                "availability_zone": "eu-west-1b",
                "route_table_id": "rtb-87654321",
            },
        ],
    },
    "client_access": {"security_group_ids": ["sg-12345678"], "cidrs": ["10.0.0.0/16"]},
}
CREATED = {
    "account": "123456789012",
    "region": "eu-west-1",
    "network": {"mode": "create", "availability_zones": ["eu-west-1a", "eu-west-1b"]},
}


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `base` with the dotted `path` (list indexes allowed) set to `value`."""
    raw = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return raw


def error_of(raw: Any, name: str = "dev") -> str:
    with pytest.raises(ConfigError) as caught:
        load_environment(name, raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_repository_environments_are_dev_staging_prod():
    configs = load_environments(cdk_context()["environments"])
    assert list(configs) == ["dev", "staging", "prod"]
    assert all(isinstance(config, EnvironmentConfig) for config in configs.values())


def test_defaults_follow_the_seed():
    config = load_environment("prod", IMPORTED)
    assert config.cluster_name == "document-exceptions-cluster"
    assert config.kafka_version == "2.8.1"
    assert config.broker_instance_type == "kafka.t3.small"
    assert config.broker_nodes == 2
    assert config.volume_gib == 100
    assert (config.topic.name, config.topic.partitions, config.topic.replication_factor) == (
        "DocumentExceptions",
        3,
        2,
    )
    assert config.secret_name == "AmazonMSK_document-exceptions"
    assert config.removal == "retain"


def test_default_server_properties_are_the_issue_settings():
    config = load_environment("dev", CREATED)
    assert dict(config.server_properties) == {
        "auto.create.topics.enable": "false",
        "default.replication.factor": "2",
        "min.insync.replicas": "1",
        "unclean.leader.election.enable": "false",
    }


def test_server_properties_are_overridable_per_environment():
    raw = changed(
        CREATED, "server_properties", {"log.retention.hours": 72, "auto.create.topics.enable": True}
    )
    properties = load_environment("dev", raw).server_properties
    assert properties["log.retention.hours"] == "72"
    assert properties["auto.create.topics.enable"] == "true"
    assert properties["min.insync.replicas"] == DEFAULT_SERVER_PROPERTIES["min.insync.replicas"]


def test_environments_sharing_an_account_get_the_environment_suffix():
    configs = load_environments(
        {"dev": CREATED, "staging": IMPORTED, "prod": changed(IMPORTED, "account", "210987654321")}
    )
    assert configs["dev"].cluster_name == "document-exceptions-cluster-dev"
    assert configs["staging"].cluster_name == "document-exceptions-cluster-staging"
    assert configs["dev"].secret_name == "AmazonMSK_document-exceptions-dev"
    assert configs["prod"].cluster_name == "document-exceptions-cluster"
    assert configs["prod"].secret_name == "AmazonMSK_document-exceptions"


def test_explicit_cluster_name_is_kept_even_in_a_shared_account():
    configs = load_environments(
        {"dev": CREATED, "staging": changed(IMPORTED, "cluster_name", "orders-kafka")}
    )
    assert configs["staging"].cluster_name == "orders-kafka"


def test_repository_cluster_names_follow_the_shared_account_rule(environment_configs):
    assert environment_configs["dev"].cluster_name == "document-exceptions-cluster-dev"
    assert environment_configs["staging"].cluster_name == "document-exceptions-cluster-staging"
    assert environment_configs["prod"].cluster_name == "document-exceptions-cluster"


def test_two_environments_with_one_cluster_name_in_an_account_are_refused():
    both = {
        "dev": changed(CREATED, "cluster_name", "same"),
        "staging": changed(IMPORTED, "cluster_name", "same"),
    }
    with pytest.raises(ConfigError) as caught:
        load_environments(both)
    assert (
        str(caught.value)
        == "environment 'staging': cluster_name: 'same' is also used by 'dev' in account "
        "123456789012"
    )


def test_imported_network_takes_its_zones_from_the_subnets():
    network = load_environment("prod", IMPORTED).network
    assert network.availability_zones == ("eu-west-1a", "eu-west-1b")
    assert [subnet.subnet_id for subnet in network.subnets] == [
        "subnet-12345678",
        "subnet-87654321",
    ]


def test_brokers_are_in_the_created_group_alone_unless_existing_groups_are_attached():
    assert load_environment("prod", IMPORTED).network.broker_security_group_ids == ()
    attached = changed(IMPORTED, "network.broker_security_group_ids", ["sg-12345678", "sg-0abc"])
    with pytest.raises(ConfigError):
        load_environment("prod", attached)
    attached = changed(
        IMPORTED, "network.broker_security_group_ids", ["sg-12345678", "sg-0123456789abcdef0"]
    )
    assert load_environment("prod", attached).network.broker_security_group_ids == (
        "sg-12345678",
        "sg-0123456789abcdef0",
    )


def test_repository_staging_and_prod_admit_the_seed_group_without_attaching_it(
    environment_configs,
):
    """The README's statement: sg-12345678 is a client group, not on the brokers."""
    for name in ("staging", "prod"):
        config = environment_configs[name]
        assert "sg-12345678" in config.client_access.security_group_ids
        assert config.network.broker_security_group_ids == ()


def test_created_network_defaults_to_no_nat_and_endpoints_on():
    network = load_environment("dev", CREATED).network
    assert (network.nat_gateways, network.interface_endpoints, network.vpc_cidr) == (
        0,
        True,
        "10.20.0.0/16",
    )


def test_endpoint_private_dns_is_on_in_a_created_vpc_and_off_in_an_imported_one():
    assert load_environment("dev", CREATED).network.private_dns is True
    assert load_environment("staging", IMPORTED).network.private_dns is False
    owned = changed(IMPORTED, "network.endpoint_private_dns", True)
    assert load_environment("staging", owned).network.private_dns is True


def test_endpoint_private_dns_needs_interface_endpoints():
    raw = changed(
        changed(IMPORTED, "network.interface_endpoints", False),
        "network.endpoint_private_dns",
        True,
    )
    assert "network.endpoint_private_dns: only with network.interface_endpoints true" in error_of(
        raw
    )


def test_kafka_2_8_1_carries_an_end_of_support_warning():
    warning = load_environment("dev", CREATED).kafka_version_warning
    assert warning.ack_id == "document-exceptions:kafka-end-of-support"
    assert "2.8.1 reached Amazon MSK end of support on 2024-09-11" in warning.message
    assert '"kafka_version": "3.8.x"' in warning.message


def test_a_kafka_version_msk_never_offered_warns_naming_the_offered_versions():
    warning = load_environment(
        "dev", changed(CREATED, "kafka_version", "9.9.9")
    ).kafka_version_warning
    assert warning.ack_id == "document-exceptions:kafka-version-unknown"
    assert "Amazon MSK does not offer Kafka 9.9.9; it offers 3.8.x, 3.8.x.kraft" in warning.message
    assert "4.1.x.kraft" in warning.message


def test_a_supported_kafka_version_has_no_warning():
    assert (
        load_environment("dev", changed(CREATED, "kafka_version", "3.8.x")).kafka_version_warning
        is None
    )


def test_topic_resource_defaults_to_native_where_the_version_table_offers_it():
    def resource(version: str) -> str:
        return load_environment("dev", changed(CREATED, "kafka_version", version)).topic.resource

    assert resource("2.8.1") == "custom"
    assert resource("3.5.1") == "custom"
    assert resource("3.6.0") == "native"
    assert resource("3.8.x") == "native"
    assert resource("4.1.x.kraft") == "native"
    # A version the table does not know: the custom resource, which works on every version.
    assert resource("9.9.9") == "custom"


def test_an_explicit_topic_resource_is_kept():
    raw = changed(changed(CREATED, "kafka_version", "3.8.x"), "topic.resource", "custom")
    assert load_environment("dev", raw).topic.resource == "custom"


def test_native_topic_on_a_version_without_it_is_refused_naming_the_key():
    raw = changed(CREATED, "topic.resource", "native")
    message = error_of(raw)
    assert message.startswith("environment 'dev': topic.resource: 'native' (AWS::MSK::Topic)")
    assert "'2.8.1' has no native topic resource" in message


def test_unknown_topic_resource_is_refused():
    message = error_of(changed(CREATED, "topic.resource", "terraform"))
    assert "topic.resource: 'terraform' is not one of 'custom', 'native'" in message


def test_repository_environments_pin_the_topic_custom_resource():
    """Deployed on 2.8.1 with the custom resource: moving them to 3.x must not switch it."""
    environments = cdk_context()["environments"]
    for name, raw in environments.items():
        assert raw["topic"]["resource"] == "custom", name
        assert load_environment(name, raw).topic.resource == "custom"


def test_no_selected_environment_means_all():
    configs = load_environments({"dev": CREATED, "prod": IMPORTED})
    assert [config.name for config in select_environments(configs, None)] == ["dev", "prod"]


def test_a_selected_environment_is_the_only_one():
    configs = load_environments({"dev": CREATED, "prod": IMPORTED})
    assert [config.name for config in select_environments(configs, "prod")] == ["prod"]


def test_unknown_environment_is_refused_naming_the_known_ones():
    configs = load_environments({"dev": CREATED, "prod": IMPORTED})
    with pytest.raises(ConfigError) as caught:
        select_environments(configs, "qa")
    assert str(caught.value) == "environment 'qa': unknown environment (known: dev, prod)"


def test_missing_environments_context_is_refused():
    with pytest.raises(ConfigError) as caught:
        load_environments(None)
    assert str(caught.value) == "environments: the cdk.json context must define environments"


def test_configuration_is_immutable():
    config = load_environment("dev", CREATED)
    with pytest.raises(AttributeError):
        config.broker_nodes = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.server_properties["min.insync.replicas"] = "2"  # type: ignore[index]


BAD_INPUT = [
    # (test id, base, path, value, expected message after "environment 'dev': ")
    ("unknown_key", IMPORTED, "brokers", 2, "brokers: unknown key (known: "),
    (
        "unknown_nested_key",
        IMPORTED,
        "network.subnet_ids",
        [],
        "network.subnet_ids: unknown key (known: ",
    ),
    (
        "account_missing",
        IMPORTED,
        "account",
        None,
        "account: expected a non-empty string, got null",
    ),
    (
        "account_malformed",
        IMPORTED,
        "account",
        "1234",
        "account: '1234' is not a 12-digit AWS account id",
    ),
    (
        "region_malformed",
        IMPORTED,
        "region",
        "europe",
        "region: 'europe' is not an AWS region name",
    ),
    (
        "one_subnet",
        IMPORTED,
        "network.subnets",
        IMPORTED["network"]["subnets"][:1],
        "network.subnets: exactly two subnets in two AZs are needed, got 1",
    ),
    (
        "three_subnets",
        IMPORTED,
        "network.subnets",
        IMPORTED["network"]["subnets"] * 2,
        "network.subnets: exactly two subnets in two AZs are needed, got 4",
    ),
    (
        "subnets_same_az",
        IMPORTED,
        "network.subnets.1.availability_zone",
        "eu-west-1a",
        "network.subnets: two subnets in the same AZ (eu-west-1a)",
    ),
    (
        "same_subnet_twice",
        IMPORTED,
        "network.subnets.1.subnet_id",
        "subnet-12345678",
        "network.subnets: the same subnet twice (subnet-12345678)",
    ),
    (
        "subnet_az_of_other_region",
        IMPORTED,
        "network.subnets.0.availability_zone",
        "us-east-1a",
        "network.subnets[0].availability_zone: 'us-east-1a' is not an availability zone of "
        "eu-west-1",
    ),
    (
        "subnet_id_malformed",
        IMPORTED,
        "network.subnets.0.subnet_id",
        "subnet-XYZ",
        "network.subnets[0].subnet_id: 'subnet-XYZ' is not a subnet id",
    ),
    (
        "route_table_malformed",
        IMPORTED,
        "network.subnets.0.route_table_id",
        "rt-1",
        "network.subnets[0].route_table_id: 'rt-1' is not a route table id",
    ),
    (
        "vpc_id_missing_on_import",
        IMPORTED,
        "network.vpc_id",
        None,
        "network.vpc_id: required when network.mode is 'import'",
    ),
    (
        "vpc_id_malformed",
        IMPORTED,
        "network.vpc_id",
        "vpc-1",
        "network.vpc_id: 'vpc-1' is not a VPC id (vpc-xxxxxxxx)",
    ),
    (
        "nat_on_imported_vpc",
        IMPORTED,
        "network.nat_gateways",
        1,
        "network.nat_gateways: only with network.mode 'create' (an imported VPC has its own)",
    ),
    (
        "network_mode_unknown",
        IMPORTED,
        "network.mode",
        "peer",
        "network.mode: 'peer' is not one of 'import', 'create'",
    ),
    (
        "created_vpc_with_subnets",
        CREATED,
        "network.subnets",
        IMPORTED["network"]["subnets"],
        "network.subnets: only with network.mode 'import' (a created VPC makes its own)",
    ),
    (
        "created_vpc_one_zone",
        CREATED,
        "network.availability_zones",
        ["eu-west-1a"],
        "network.availability_zones: exactly two AZs are needed, got 1",
    ),
    (
        "created_vpc_same_zone_twice",
        CREATED,
        "network.availability_zones",
        ["eu-west-1a", "eu-west-1a"],
        "network.availability_zones: the same AZ twice (eu-west-1a)",
    ),
    (
        "created_vpc_cidr_malformed",
        CREATED,
        "network.vpc_cidr",
        "10.20.0.1/16",
        "network.vpc_cidr: '10.20.0.1/16' has host bits set (the block is 10.20.0.0/16)",
    ),
    (
        "created_vpc_cidr_ipv6",
        CREATED,
        "network.vpc_cidr",
        "fd00::/48",
        "network.vpc_cidr: 'fd00::/48' is not a CIDR block like 10.0.0.0/16",
    ),
    (
        "created_vpc_cidr_too_small",
        CREATED,
        "network.vpc_cidr",
        "10.20.0.0/28",
        "network.vpc_cidr: 10.20.0.0/28: a VPC block is /16 to /24",
    ),
    (
        "too_many_nat_gateways",
        CREATED,
        "network.nat_gateways",
        3,
        "network.nat_gateways: 3 is outside 0..2",
    ),
    (
        "brokers_not_multiple_of_subnets",
        IMPORTED,
        "broker_nodes",
        3,
        "broker_nodes: 3 is not a positive multiple of the subnet count (2)",
    ),
    (
        "zero_brokers",
        IMPORTED,
        "broker_nodes",
        0,
        "broker_nodes: 0 is not a positive multiple of the subnet count (2)",
    ),
    (
        "brokers_not_an_integer",
        IMPORTED,
        "broker_nodes",
        "2",
        "broker_nodes: expected an integer, got the string '2'",
    ),
    (
        "brokers_boolean",
        IMPORTED,
        "broker_nodes",
        True,
        "broker_nodes: expected an integer, got true",
    ),
    ("volume_zero", IMPORTED, "volume_gib", 0, "volume_gib: 0 is outside 1..16384 GiB"),
    (
        "volume_too_large",
        IMPORTED,
        "volume_gib",
        16385,
        "volume_gib: 16385 is outside 1..16384 GiB",
    ),
    (
        "instance_type_not_msk",
        IMPORTED,
        "broker_instance_type",
        "t3.small",
        "broker_instance_type: 't3.small' is not an MSK broker type (e.g. kafka.t3.small, "
        "kafka.m5.large, kafka.m7g.large)",
    ),
    (
        "instance_type_unknown_size",
        IMPORTED,
        "broker_instance_type",
        "kafka.m5.huge",
        "broker_instance_type: 'kafka.m5.huge' is not an MSK broker type (e.g. kafka.t3.small, "
        "kafka.m5.large, kafka.m7g.large)",
    ),
    (
        "kafka_version_malformed",
        IMPORTED,
        "kafka_version",
        "latest",
        "kafka_version: 'latest' is not an MSK Kafka version like 3.8.x",
    ),
    (
        "security_group_malformed",
        IMPORTED,
        "client_access.security_group_ids",
        ["sg-12"],
        "client_access.security_group_ids[0]: 'sg-12' is not a security group id (sg-xxxxxxxx)",
    ),
    (
        "security_group_listed_twice",
        IMPORTED,
        "client_access.security_group_ids",
        ["sg-12345678", "sg-12345678"],
        "client_access.security_group_ids: listed twice",
    ),
    (
        "broker_security_group_malformed",
        IMPORTED,
        "network.broker_security_group_ids",
        ["sg-12345678", "sg-1"],
        "network.broker_security_group_ids[1]: 'sg-1' is not a security group id (sg-xxxxxxxx)",
    ),
    (
        "broker_security_group_not_a_list",
        IMPORTED,
        "network.broker_security_group_ids",
        "sg-12345678",
        "network.broker_security_group_ids: expected a list, got the string 'sg-12345678'",
    ),
    (
        "broker_security_group_listed_twice",
        IMPORTED,
        "network.broker_security_group_ids",
        ["sg-12345678", "sg-12345678"],
        "network.broker_security_group_ids: listed twice",
    ),
    (
        "broker_security_groups_too_many",
        IMPORTED,
        "network.broker_security_group_ids",
        [f"sg-1234567{digit}" for digit in range(5)],
        "network.broker_security_group_ids: 5 groups: at most 4 next to the created one (a "
        "network interface takes 5 security groups by default)",
    ),
    (
        "broker_security_groups_in_a_created_vpc",
        CREATED,
        "network.broker_security_group_ids",
        ["sg-12345678"],
        "network.broker_security_group_ids: only with network.mode 'import' (a created VPC has "
        "no existing groups)",
    ),
    (
        "cidr_malformed",
        IMPORTED,
        "client_access.cidrs",
        ["10.0.0.0/33"],
        "client_access.cidrs[0]: '10.0.0.0/33' is not a CIDR block like 10.0.0.0/16",
    ),
    (
        "cidr_with_host_bits",
        IMPORTED,
        "client_access.cidrs",
        ["10.0.0.1/16"],
        "client_access.cidrs[0]: '10.0.0.1/16' has host bits set (the block is 10.0.0.0/16)",
    ),
    (
        "cidr_whole_internet",
        IMPORTED,
        "client_access.cidrs",
        ["0.0.0.0/0"],
        "client_access.cidrs[0]: 0.0.0.0/0 would open the cluster to the whole internet",
    ),
    (
        "cidr_whole_ipv6_internet",
        IMPORTED,
        "client_access.cidrs",
        ["::/0"],
        "client_access.cidrs[0]: ::/0 would open the cluster to the whole internet",
    ),
    (
        "secret_name_without_prefix",
        IMPORTED,
        "secret_name",
        "document-exceptions",
        "secret_name: 'document-exceptions' must start with 'AmazonMSK_' (MSK)",
    ),
    (
        "secret_name_bad_characters",
        IMPORTED,
        "secret_name",
        "AmazonMSK_a b",
        "secret_name: 'AmazonMSK_a b' has characters Secrets Manager refuses",
    ),
    (
        "scram_username_bad",
        IMPORTED,
        "scram_username",
        "a user",
        "scram_username: 'a user': 1-64 letters, digits, '_', '.', '-'",
    ),
    (
        "kafka_auth_bad",
        IMPORTED,
        "kafka_auth",
        "tls",
        "kafka_auth: 'tls' is not one of 'iam', 'scram'",
    ),
    (
        "removal_bad",
        IMPORTED,
        "removal",
        "snapshot",
        "removal: 'snapshot' is not one of 'retain', 'destroy'",
    ),
    (
        "termination_protection_not_boolean",
        IMPORTED,
        "termination_protection",
        "yes",
        "termination_protection: expected true or false, got the string 'yes'",
    ),
    (
        "cluster_name_bad",
        IMPORTED,
        "cluster_name",
        "my_cluster",
        "cluster_name: 'my_cluster': 1-64 letters, digits or '-'",
    ),
    (
        "enhanced_monitoring_bad",
        IMPORTED,
        "enhanced_monitoring",
        "ALL",
        "enhanced_monitoring: 'ALL' is not one of DEFAULT, PER_BROKER, PER_TOPIC_PER_BROKER, "
        "PER_TOPIC_PER_PARTITION",
    ),
    (
        "log_retention_bad",
        IMPORTED,
        "log_retention_days",
        10,
        "log_retention_days: 10 is not a CloudWatch Logs retention period",
    ),
    (
        "topic_name_bad",
        IMPORTED,
        "topic.name",
        "Document Exceptions",
        "topic.name: 'Document Exceptions': 1-249 letters, digits, '.', '_', '-'",
    ),
    (
        "topic_partitions_zero",
        IMPORTED,
        "topic.partitions",
        0,
        "topic.partitions: 0 must be at least 1",
    ),
    (
        "topic_replication_above_brokers",
        IMPORTED,
        "topic.replication_factor",
        3,
        "topic.replication_factor: 3 is outside 1..broker_nodes (2)",
    ),
    (
        "topic_deletion_policy_bad",
        IMPORTED,
        "topic.deletion_policy",
        "delete",
        "topic.deletion_policy: 'delete' is not one of 'Retain', 'Delete'",
    ),
    (
        "min_insync_above_replication",
        IMPORTED,
        "server_properties",
        {"min.insync.replicas": 3},
        "server_properties.min.insync.replicas: '3' is outside 1..topic.replication_factor (2)",
    ),
    (
        "default_replication_above_brokers",
        IMPORTED,
        "server_properties",
        {"default.replication.factor": "4"},
        "server_properties.default.replication.factor: '4' is outside 1..broker_nodes (2)",
    ),
    (
        "server_property_not_scalar",
        IMPORTED,
        "server_properties",
        {"log.retention.hours": [1]},
        "server_properties.log.retention.hours: expected a string, number or boolean, got a list",
    ),
    (
        "server_property_name_bad",
        IMPORTED,
        "server_properties",
        {"Log Retention": 1},
        "server_properties.Log Retention: not a Kafka property name",
    ),
    (
        "alarm_topic_not_an_arn",
        IMPORTED,
        "monitoring.alarm_topic_arn",
        "alarms",
        "monitoring.alarm_topic_arn: 'alarms' is not an SNS topic ARN",
    ),
    (
        "alarm_topic_in_other_region",
        IMPORTED,
        "monitoring.alarm_topic_arn",
        "arn:aws:sns:us-east-1:123456789012:alarms",
        "monitoring.alarm_topic_arn: topic is in us-east-1; alarms can only notify a topic in "
        "eu-west-1",
    ),
    (
        "disk_threshold_out_of_range",
        IMPORTED,
        "monitoring.disk_used_percent_threshold",
        100,
        "monitoring.disk_used_percent_threshold: 100 is outside 1..99 (percent)",
    ),
    (
        "producer_timeout_out_of_range",
        IMPORTED,
        "producer.timeout_seconds",
        901,
        "producer.timeout_seconds: 901 is outside 1..900",
    ),
    (
        "producer_record_key_mode_bad",
        IMPORTED,
        "producer.record_key_mode",
        "random",
        "producer.record_key_mode: 'random' is not one of 'constant', 'order_req_id'",
    ),
    (
        "environment_not_an_object",
        IMPORTED,
        "network",
        "default",
        "network: expected an object, got the string 'default'",
    ),
]


@pytest.mark.parametrize(
    ("base", "path", "value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
def test_configuration_mistake_is_one_line_naming_environment_and_key(base, path, value, expected):
    message = error_of(changed(base, path, value))
    assert message.startswith(f"environment 'dev': {expected}")


def test_own_clients_use_iam_unless_set_to_scram_only(environment_configs):
    assert {config.kafka_auth for config in environment_configs.values()} == {"iam"}
    assert load_environments({"dev": {**IMPORTED, "kafka_auth": "scram"}})["dev"].kafka_auth == (
        "scram"
    )


def test_environment_that_is_not_an_object_is_refused():
    assert error_of(["dev"]) == "environment 'dev': expected an object, got a list"


def test_environment_name_must_be_simple():
    assert error_of(CREATED, name="Prod Env") == (
        "environment 'Prod Env': environment names are lowercase letters, digits, '-'"
    )


def test_every_mistake_in_a_whole_context_names_its_environment():
    with pytest.raises(ConfigError) as caught:
        load_environments({"dev": CREATED, "staging": changed(IMPORTED, "volume_gib", 20000)})
    assert str(caught.value) == "environment 'staging': volume_gib: 20000 is outside 1..16384 GiB"


def test_acknowledged_warnings_name_a_known_warning_and_a_reason():
    raw = changed(CREATED, "acknowledged_warnings", {"document-exceptions:typo": "because"})
    with pytest.raises(
        ConfigError, match=r"acknowledged_warnings\.document-exceptions:typo: not a"
    ):
        load_environment("dev", raw)
    raw = changed(
        CREATED, "acknowledged_warnings", {"document-exceptions:kafka-end-of-support": " "}
    )
    with pytest.raises(ConfigError, match="say why the warning is acknowledged"):
        load_environment("dev", raw)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, False),
        ({"topic": {"resource": "custom"}}, False),
        ({"kafka_auth": "scram"}, True),
        ({"kafka_version": "3.8.x"}, False),  # the native topic, with the ACL resource beside it
        ({"kafka_version": "3.8.x", "topic": {"resource": "custom"}}, False),
        ({"allow_everyone_if_no_acl_found": True}, True),
    ],
)
def test_acls_are_enforced_by_default_where_this_app_keeps_them(changes, expected):
    config = load_environment("dev", {**CREATED, **changes})
    assert config.allow_everyone_if_no_acl_found is expected


def test_the_repository_environments_enforce_the_acls(environment_configs):
    assert {
        name: config.allow_everyone_if_no_acl_found for name, config in environment_configs.items()
    } == {"dev": False, "staging": False, "prod": False}


def test_enforcing_acls_where_none_are_kept_fails_naming_the_key_and_why():
    raw = {**CREATED, "kafka_auth": "scram", "allow_everyone_if_no_acl_found": False}
    assert error_of(raw).startswith(
        "environment 'dev': allow_everyone_if_no_acl_found: false needs kafka_auth 'iam': with "
        "SASL/SCRAM only"
    )


def test_a_native_topic_environment_may_enforce_the_acls():
    raw = {**CREATED, "kafka_version": "3.8.x", "topic": {"resource": "native"}}
    config = load_environment("dev", {**raw, "allow_everyone_if_no_acl_found": False})
    assert (config.topic.resource, config.allow_everyone_if_no_acl_found) == ("native", False)


def test_the_setting_is_not_a_server_property():
    raw = {**CREATED, "server_properties": {"allow.everyone.if.no.acl.found": "false"}}
    assert error_of(raw).startswith(
        "environment 'dev': server_properties.allow.everyone.if.no.acl.found: set it with the "
        "allow_everyone_if_no_acl_found key"
    )


def test_allow_everyone_if_no_acl_found_is_a_boolean():
    raw = {**CREATED, "allow_everyone_if_no_acl_found": "false"}
    assert error_of(raw) == (
        "environment 'dev': allow_everyone_if_no_acl_found: expected true or false, got the "
        "string 'false'"
    )


def test_acl_enforcement_refusal_is_the_one_place_that_decides():
    assert acl_enforcement_refusal("iam") is None
    assert acl_enforcement_refusal("scram") is not None
