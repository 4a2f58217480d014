"""ResourceProperties validation: CloudFormation's strings parsed, bad input named in one line."""

from __future__ import annotations

import pytest

from tests.topic_bootstrap_asset import load

properties = load("topic_properties")
planning = load("topic_planning")
PropertyError = properties.PropertyError

CLUSTER_ARN = (
    "arn:aws:kafka:eu-west-1:123456789012:cluster/document-exceptions-cluster/"
    "5a2f0c1e-1111-2222-3333-444455556666-2"
)
SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_document-exceptions-AbCdEf"
)


def cfn_properties(**overrides):
    """ResourceProperties as CloudFormation delivers them: every scalar a string."""
    props = {
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider-framework",
        "TopicName": "DocumentExceptions",
        "Partitions": "3",
        "ReplicationFactor": "2",
        "Configs": {"retention.ms": "604800000", "min.insync.replicas": "1"},
        "ClusterArn": CLUSTER_ARN,
        "SecretArn": SECRET_ARN,
        "BootstrapBrokers": "b-1.example.kafka.eu-west-1.amazonaws.com:9096,"
        "b-2.example.kafka.eu-west-1.amazonaws.com:9096",
        "DeletionPolicy": "Retain",
        "TimeoutSeconds": "240",
    }
    props.update(overrides)
    return {key: value for key, value in props.items() if value is not None}


def test_cloudformation_strings_become_typed_settings():
    parsed = properties.parse_properties(cfn_properties(), local=False)

    assert parsed.topic == planning.TopicSpec(
        "DocumentExceptions", 3, 2, {"retention.ms": "604800000", "min.insync.replicas": "1"}
    )
    assert parsed.deletion_policy is planning.DeletionPolicy.RETAIN
    assert parsed.timeout_seconds == 240
    assert parsed.bootstrap_brokers == (
        "b-1.example.kafka.eu-west-1.amazonaws.com:9096",
        "b-2.example.kafka.eu-west-1.amazonaws.com:9096",
    )


def test_the_custom_resource_settings_cloudformation_passes_along_are_ignored():
    parsed = properties.parse_properties(cfn_properties(ServiceTimeout="420"), local=False)

    assert parsed.topic.name == "DocumentExceptions"


def test_optional_properties_take_their_defaults():
    parsed = properties.parse_properties(
        cfn_properties(
            Configs=None, DeletionPolicy=None, TimeoutSeconds=None, BootstrapBrokers=None
        ),
        local=False,
    )

    assert parsed.topic.configs == {}
    assert parsed.deletion_policy is planning.DeletionPolicy.RETAIN
    assert parsed.timeout_seconds == properties.DEFAULT_TIMEOUT_SECONDS
    assert parsed.bootstrap_brokers is None


def test_values_given_as_json_numbers_and_booleans_are_accepted_too():
    parsed = properties.parse_properties(
        cfn_properties(
            Partitions=6,
            ReplicationFactor=2,
            Configs={"retention.ms": -1, "unclean.leader.election.enable": False},
        ),
        local=False,
    )

    assert parsed.topic.partitions == 6
    assert parsed.topic.configs == {"retention.ms": "-1", "unclean.leader.election.enable": "false"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TopicName": None}, "TopicName: required"),
        (
            {"TopicName": "bad name!"},
            "TopicName: 'bad name!' is not a valid Kafka topic name (1-249 characters from "
            "A-Z, a-z, 0-9, '.', '_', '-'; not '.' or '..')",
        ),
        ({"TopicName": ".."}, "TopicName: '..' is not a valid Kafka topic name"),
        ({"TopicName": "x" * 250}, "TopicName: 'xxxx"),
        ({"Partitions": "0"}, "Partitions: 0 is outside the allowed range 1-2147483647"),
        ({"Partitions": "three"}, "Partitions: 'three' is not a whole number"),
        ({"Partitions": "3.0"}, "Partitions: '3.0' is not a whole number"),
        ({"Partitions": True}, "Partitions: expected a whole number, got bool"),
        ({"Partitions": None}, "Partitions: required"),
        ({"ReplicationFactor": "0"}, "ReplicationFactor: 0 is outside the allowed range 1-32767"),
        (
            {"Configs": ["retention.ms=1"]},
            "Configs: expected a map of topic config names to values, got list",
        ),
        ({"Configs": {"retention.msx": "1"}}, "Configs.retention.msx: not a Kafka topic config"),
        ({"Configs": {"retention.ms": "a week"}}, "Configs.retention.ms: 'a week' is not a whole"),
        (
            {"Configs": {"retention.ms": "-2"}},
            "Configs.retention.ms: -2 is below the minimum of -1",
        ),
        (
            {"Configs": {"retention.ms": None}},
            "Configs.retention.ms: expected a value, got nothing",
        ),
        (
            {"Configs": {"cleanup.policy": "compact,forever"}},
            "Configs.cleanup.policy: 'compact,forever' is not delete, compact or compact,delete",
        ),
        (
            {"Configs": {"compression.type": "brotli"}},
            "Configs.compression.type: 'brotli' is not one of gzip, lz4, producer, snappy, "
            "uncompressed, zstd",
        ),
        ({"Configs": {"preallocate": "yes"}}, "Configs.preallocate: 'yes' is not true or false"),
        (
            {"Configs": {"min.insync.replicas": "3"}},
            "Configs.min.insync.replicas: 3 is more than ReplicationFactor 2; producers with "
            "acks=all could never write",
        ),
        ({"DeletionPolicy": "delete"}, "DeletionPolicy: 'delete' is not one of Retain, Delete"),
        ({"TimeoutSeconds": "5"}, "TimeoutSeconds: 5 is outside the allowed range 10-840"),
        ({"ClusterArn": None}, "ClusterArn: required"),
        ({"ClusterArn": "document-exceptions-cluster"}, "ClusterArn: 'document-exceptions-cl"),
        ({"SecretArn": None}, "SecretArn: required"),
        (
            {"SecretArn": SECRET_ARN.replace("AmazonMSK_", "")},
            "SecretArn: MSK SCRAM secrets must have a name starting with AmazonMSK_",
        ),
        ({"BootstrapBrokers": "b-1:9096,b-2"}, "BootstrapBrokers: 'b-1:9096,b-2' is not a comma"),
        ({"Partiton": "3"}, "Partiton: unknown property (expected TopicName, Partitions"),
    ],
)
def test_bad_properties_are_refused_with_one_line_naming_the_key(overrides, message):
    with pytest.raises(PropertyError) as refused:
        properties.parse_properties(cfn_properties(**overrides), local=False)

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_properties_must_be_a_map():
    with pytest.raises(PropertyError, match=r"^ResourceProperties: expected a map, got nothing$"):
        properties.parse_properties(None, local=True)


def test_min_insync_replicas_equal_to_the_replication_factor_is_allowed():
    parsed = properties.parse_properties(
        cfn_properties(Configs={"min.insync.replicas": "2"}), local=False
    )

    assert parsed.topic.configs["min.insync.replicas"] == "2"


def test_local_runs_need_neither_cluster_nor_secret():
    parsed = properties.parse_properties(
        cfn_properties(ClusterArn=None, SecretArn=None, BootstrapBrokers=None), local=True
    )

    assert parsed.cluster_arn is None
    assert parsed.secret_arn is None


def test_physical_id_is_the_topic_arn_on_the_cluster():
    parsed = properties.parse_properties(cfn_properties(), local=False)

    assert parsed.physical_resource_id() == (
        "arn:aws:kafka:eu-west-1:123456789012:topic/document-exceptions-cluster/"
        "5a2f0c1e-1111-2222-3333-444455556666-2/DocumentExceptions"
    )


def test_physical_id_stays_when_settings_other_than_cluster_and_name_change():
    before = properties.parse_properties(cfn_properties(), local=False)
    after = properties.parse_properties(
        cfn_properties(Partitions="6", Configs={}, DeletionPolicy="Delete", TimeoutSeconds="60"),
        local=False,
    )

    assert after.physical_resource_id() == before.physical_resource_id()


@pytest.mark.parametrize(
    "overrides",
    [
        {"TopicName": "DocumentExceptionsV2"},
        {"ClusterArn": CLUSTER_ARN.replace("document-exceptions-cluster", "other-cluster")},
    ],
)
def test_a_rename_or_another_cluster_gives_a_new_physical_id(overrides):
    before = properties.parse_properties(cfn_properties(), local=False)
    after = properties.parse_properties(cfn_properties(**overrides), local=False)

    assert after.physical_resource_id() != before.physical_resource_id()


def test_local_physical_id_is_stable_for_the_same_brokers_in_any_order():
    parsed = properties.parse_properties(cfn_properties(ClusterArn=None), local=True)

    one = parsed.physical_resource_id(("127.0.0.1:9093", "127.0.0.1:9092"))
    other = parsed.physical_resource_id(("127.0.0.1:9092", "127.0.0.1:9093"))

    assert one == other == "kafka-topic://127.0.0.1:9092,127.0.0.1:9093/DocumentExceptions"
