"""The resource logic between the event and the admin boundary.

Tansu 0.6 cannot add partitions or change configs, so the Update paths that need those
run against ``RecordingAdminFake``: a fake of this project's own admin boundary (not of
Kafka) that records what the resource asks for. The AWS lookups use botocore's Stubber
(moto has no ``kafka:GetBootstrapBrokers``); the real broker paths are in
test_topic_bootstrap_handler.py.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass, field, replace

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from document_exceptions.connection import KafkaConnection
from tests.topic_bootstrap_asset import load
from tests.topic_events import (
    CLUSTER_ARN,
    CREATE_FAILED_MARKER,
    SCRAM_BROKERS,
    SECRET_ARN,
    cloudformation_event,
    topic_arn,
    topic_properties,
)

resource = load("topic_resource")
topic_admin = load("topic_admin")
planning = load("topic_planning")
ActualTopic = planning.ActualTopic
ConfigValue = planning.ConfigValue
TopicSpec = planning.TopicSpec

LOCAL_ENV = {"KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9092"]'}
TOPIC_ARN = topic_arn("DocumentExceptions")
MUTATING = ("create_topic", "create_partitions", "alter_configs", "delete_topic")


@dataclass
class RecordingAdminFake:
    """A fake of the project's admin boundary (``topic_admin.TopicAdmin``) that keeps topics
    in memory and records every call, for the operations Tansu 0.6 cannot perform."""

    topics: dict[str, ActualTopic] = field(default_factory=dict)
    brokers: int = 2
    calls: list[tuple] = field(default_factory=list)
    appears_on_create: ActualTopic | None = None
    closed: bool = False

    def broker_count(self) -> int:
        self.calls.append(("broker_count",))
        return self.brokers

    def describe_topic(self, name, config_keys):
        self.calls.append(("describe_topic", name, tuple(config_keys)))
        topic = self.topics.get(name)
        if topic is None:
            return None
        return replace(topic, configs={k: v for k, v in topic.configs.items() if k in config_keys})

    def create_topic(self, spec):
        self.calls.append(("create_topic", spec))
        if self.appears_on_create is not None:  # someone else created it a moment ago
            self.topics[spec.name], self.appears_on_create = self.appears_on_create, None
            raise topic_admin.TopicExistsError(f"Topic {spec.name!r} was created by someone else")
        configs = {key: ConfigValue(value, True) for key, value in spec.configs.items()}
        self.topics[spec.name] = ActualTopic(
            spec.name, spec.partitions, spec.replication_factor, configs
        )

    def create_partitions(self, name, total):
        self.calls.append(("create_partitions", name, total))
        self.topics[name] = replace(self.topics[name], partitions=total)

    def alter_configs(self, name, set_values, delete_keys):
        self.calls.append(("alter_configs", name, dict(set_values), tuple(delete_keys)))
        configs = dict(self.topics[name].configs)
        configs.update({key: ConfigValue(value, True) for key, value in set_values.items()})
        for key in delete_keys:
            configs.pop(key, None)
        self.topics[name] = replace(self.topics[name], configs=configs)

    def delete_topic(self, name):
        self.calls.append(("delete_topic", name))
        return self.topics.pop(name, None) is not None

    def close(self):
        self.closed = True

    def mutations(self):
        return [call for call in self.calls if call[0] in MUTATING]


class RecordingConnector:
    """Stands in for ``topic_admin.open_admin``: records how it was asked to connect."""

    def __init__(self, admin: RecordingAdminFake) -> None:
        self.admin = admin
        self.connections: list[tuple[KafkaConnection, float, object]] = []

    def __call__(self, connection, *, deadline, timeouts):
        self.connections.append((connection, deadline, timeouts))
        return self.admin


def never_connect(connection, *, deadline, timeouts):
    raise AssertionError("this request must not connect to Kafka")


def no_aws(service, timeouts):
    raise AssertionError(f"this request must not call {service}")


def runtime(connect, environ=LOCAL_ENV, aws_client=no_aws, remaining=None, clock=None):
    return resource.Runtime(
        environ=environ,
        remaining_seconds=remaining,
        aws_client=aws_client,
        connect=connect,
        clock=clock or (lambda: 1000.0),
    )


def properties(**overrides):
    return topic_properties(**overrides)


def event(request_type, props, old=None, physical_id=None):
    return cloudformation_event(request_type, props, old_properties=old, physical_id=physical_id)


def existing(partitions=3, replication=2, **configs):
    return ActualTopic(
        "DocumentExceptions",
        partitions,
        replication,
        {key.replace("_", "."): ConfigValue(value, True) for key, value in configs.items()},
    )


def test_update_partition_increase_calls_create_partitions():
    admin = RecordingAdminFake({"DocumentExceptions": existing(retention_ms="604800000")})

    result = resource.handle_event(
        event("Update", properties(Partitions="6"), properties(), TOPIC_ARN),
        runtime(RecordingConnector(admin)),
    )

    assert admin.mutations() == [("create_partitions", "DocumentExceptions", 6)]
    assert result == {
        "PhysicalResourceId": TOPIC_ARN,
        "Data": {"TopicName": "DocumentExceptions", "Partitions": 6, "ReplicationFactor": 2},
    }
    assert admin.closed


def test_update_config_change_uses_incremental_alter_configs_and_logs_the_changed_keys(caplog):
    admin = RecordingAdminFake(
        {"DocumentExceptions": existing(retention_ms="604800000", segment_ms="3600000")}
    )
    old = properties(Configs={"retention.ms": "604800000", "segment.ms": "3600000"})
    new = properties(Configs={"retention.ms": "86400000", "cleanup.policy": "delete"})

    with caplog.at_level(logging.INFO, logger="topic_resource"):
        resource.handle_event(
            event("Update", new, old, TOPIC_ARN), runtime(RecordingConnector(admin))
        )

    assert admin.mutations() == [
        (
            "alter_configs",
            "DocumentExceptions",
            {"cleanup.policy": "delete", "retention.ms": "86400000"},
            ("segment.ms",),
        )
    ]
    (changed,) = [r for r in caplog.records if r.getMessage() == "changed topic configs"]
    assert changed.changed_configs == ["cleanup.policy", "retention.ms", "segment.ms"]


def test_update_changes_configs_before_adding_partitions():
    admin = RecordingAdminFake({"DocumentExceptions": existing(retention_ms="604800000")})
    new = properties(Partitions="6", Configs={"retention.ms": "1000"})

    resource.handle_event(
        event("Update", new, properties(), TOPIC_ARN), runtime(RecordingConnector(admin))
    )

    assert [call[0] for call in admin.mutations()] == ["alter_configs", "create_partitions"]


def test_update_partition_decrease_is_refused_before_touching_anything():
    admin = RecordingAdminFake({"DocumentExceptions": existing(partitions=6)})
    new = properties(Partitions="3", Configs={"retention.ms": "1000"})

    with pytest.raises(
        planning.Refusal, match="Kafka cannot reduce partitions; create a new topic"
    ):
        resource.handle_event(
            event("Update", new, properties(Partitions="6"), TOPIC_ARN),
            runtime(RecordingConnector(admin)),
        )

    assert admin.mutations() == []
    assert admin.closed


def test_update_replication_factor_change_is_refused_before_touching_anything():
    admin = RecordingAdminFake({"DocumentExceptions": existing()}, brokers=3)

    with pytest.raises(planning.Refusal, match="has replication factor 2; asked for 3"):
        resource.handle_event(
            event("Update", properties(ReplicationFactor="3"), properties(), TOPIC_ARN),
            runtime(RecordingConnector(admin)),
        )

    assert admin.mutations() == []


def test_update_with_a_new_name_creates_the_new_topic_under_a_new_physical_id():
    admin = RecordingAdminFake({"DocumentExceptions": existing()})
    new = properties(TopicName="DocumentExceptionsV2")

    result = resource.handle_event(
        event("Update", new, properties(), TOPIC_ARN), runtime(RecordingConnector(admin))
    )

    assert result["PhysicalResourceId"] == TOPIC_ARN + "V2"
    assert [call[0] for call in admin.mutations()] == ["create_topic"]
    # The old topic is CloudFormation's Delete's business (under its DeletionPolicy).
    assert "DocumentExceptions" in admin.topics


def test_create_that_races_with_another_creator_plans_again_and_adopts():
    admin = RecordingAdminFake(appears_on_create=existing(retention_ms="604800000"))

    result = resource.handle_event(
        event("Create", properties()), runtime(RecordingConnector(admin))
    )

    assert result["PhysicalResourceId"] == TOPIC_ARN
    assert [call[0] for call in admin.mutations()] == ["create_topic"]
    assert admin.calls[-1][0] == "describe_topic"


def test_delete_with_delete_policy_deletes_through_the_boundary():
    admin = RecordingAdminFake({"DocumentExceptions": existing()})

    result = resource.handle_event(
        event("Delete", properties(DeletionPolicy="Delete"), physical_id=TOPIC_ARN),
        runtime(RecordingConnector(admin)),
    )

    assert result == {"PhysicalResourceId": TOPIC_ARN}
    assert admin.mutations() == [("delete_topic", "DocumentExceptions")]


@pytest.mark.parametrize(
    ("props", "physical_id"),
    [
        (properties(), TOPIC_ARN),
        (
            properties(DeletionPolicy="Delete"),
            CREATE_FAILED_MARKER,
        ),
        (properties(DeletionPolicy="Delete"), "1f0e7a55-4c3d-4c1f-9a3e-7d8c2b1a0f00"),
        (properties(DeletionPolicy="Delete", Partitions="zero"), TOPIC_ARN),
        ({"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:x"}, TOPIC_ARN),
    ],
    ids=["retain", "after-failed-create", "foreign-id", "invalid-properties", "no-properties"],
)
def test_deletes_that_must_not_touch_kafka_succeed_without_connecting(props, physical_id):
    result = resource.handle_event(
        event("Delete", props, physical_id=physical_id), runtime(never_connect, environ={})
    )

    assert result == {"PhysicalResourceId": physical_id}


def test_unknown_request_type_is_refused():
    with pytest.raises(resource.EventError, match=r"^RequestType: 'Replace' is not one of"):
        resource.handle_event(event("Replace", properties()), runtime(never_connect))


def test_budget_is_the_smaller_of_timeout_seconds_and_lambda_time_left_less_a_margin():
    connector = RecordingConnector(RecordingAdminFake())

    resource.handle_event(
        event("Create", properties(TimeoutSeconds="120")),
        runtime(connector, remaining=30.0, clock=lambda: 1000.0),
    )

    ((_, deadline, timeouts),) = connector.connections
    assert deadline == 1000.0 + 30.0 - resource.LAMBDA_MARGIN_SECONDS
    assert timeouts == topic_admin.Timeouts.for_budget(20.0)


def aws_clients(**clients):
    """An ``aws_client`` factory handing out the given (stubbed) clients, recording requests."""
    requested = []

    def factory(service, timeouts):
        requested.append(service)
        return clients[service]

    factory.requested = requested
    return factory


def client(service):
    return boto3.client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def secret_value():
    return {
        "ARN": SECRET_ARN,
        "Name": "AmazonMSK_document-exceptions",
        "SecretString": json.dumps({"username": "topic-bootstrap", "password": "s3cr3t-Password"}),
    }


def test_msk_path_reads_the_secret_and_looks_up_the_scram_brokers():
    secretsmanager, kafka = client("secretsmanager"), client("kafka")
    connector = RecordingConnector(RecordingAdminFake())
    with Stubber(secretsmanager) as secrets_stub, Stubber(kafka) as kafka_stub:
        kafka_stub.add_response(
            "get_bootstrap_brokers",
            {"BootstrapBrokerStringSaslScram": SCRAM_BROKERS},
            {"ClusterArn": CLUSTER_ARN},
        )
        secrets_stub.add_response("get_secret_value", secret_value(), {"SecretId": SECRET_ARN})

        resource.handle_event(
            event("Create", properties(BootstrapBrokers=None)),
            runtime(
                connector,
                environ={},
                aws_client=aws_clients(secretsmanager=secretsmanager, kafka=kafka),
            ),
        )

        secrets_stub.assert_no_pending_responses()
        kafka_stub.assert_no_pending_responses()
    ((connection, _, _),) = connector.connections
    assert connection == KafkaConnection(
        bootstrap_servers=tuple(SCRAM_BROKERS.split(",")),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="topic-bootstrap",
        sasl_password="s3cr3t-Password",
    )


def test_msk_path_uses_the_deploy_time_broker_string_without_calling_the_kafka_api():
    secretsmanager = client("secretsmanager")
    connector = RecordingConnector(RecordingAdminFake())
    factory = aws_clients(secretsmanager=secretsmanager)
    with Stubber(secretsmanager) as secrets_stub:
        secrets_stub.add_response("get_secret_value", secret_value(), {"SecretId": SECRET_ARN})

        resource.handle_event(
            event("Create", properties()), runtime(connector, environ={}, aws_client=factory)
        )

    assert factory.requested == ["secretsmanager"]
    assert connector.connections[0][0].bootstrap_servers == tuple(SCRAM_BROKERS.split(","))


@pytest.mark.parametrize(
    ("stub", "message"),
    [
        (
            lambda stub: stub.add_client_error(
                "get_secret_value", "AccessDeniedException", "not authorized to decrypt"
            ),
            f"secretsmanager:GetSecretValue for {SECRET_ARN} failed: AccessDeniedException: "
            "not authorized to decrypt",
        ),
        (
            lambda stub: stub.add_response(
                "get_secret_value", {**secret_value(), "SecretString": "password=hunter2"}
            ),
            f"SecretArn: secret {SECRET_ARN} is not JSON with 'username' and 'password'",
        ),
    ],
    ids=["access-denied", "not-json"],
)
def test_secret_problems_fail_with_one_line_naming_the_secret(stub, message):
    secretsmanager = client("secretsmanager")
    with Stubber(secretsmanager) as secrets_stub:
        stub(secrets_stub)
        with pytest.raises(resource.LookupFailedError) as failed:
            resource.handle_event(
                event("Create", properties()),
                runtime(
                    never_connect, environ={}, aws_client=aws_clients(secretsmanager=secretsmanager)
                ),
            )

    assert str(failed.value) == message
    assert "hunter2" not in str(failed.value)


def test_a_cluster_without_scram_brokers_is_named():
    kafka = client("kafka")
    with Stubber(kafka) as kafka_stub:
        kafka_stub.add_response(
            "get_bootstrap_brokers",
            {"BootstrapBrokerStringTls": "b-1.x:9094"},
            {"ClusterArn": CLUSTER_ARN},
        )
        with pytest.raises(resource.LookupFailedError) as failed:
            resource.handle_event(
                event("Create", properties(BootstrapBrokers=None)),
                runtime(never_connect, environ={}, aws_client=aws_clients(kafka=kafka)),
            )

    assert str(failed.value) == (
        f"ClusterArn: cluster {CLUSTER_ARN} has no SASL/SCRAM brokers (is SCRAM on?)"
    )


def test_an_unreachable_secrets_manager_endpoint_points_at_the_vpc_endpoint():
    with socket.socket() as probe:  # a port on 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )

    with pytest.raises(resource.LookupFailedError) as failed:
        resource.handle_event(
            event("Create", properties()),
            runtime(never_connect, environ={}, aws_client=aws_clients(secretsmanager=unreachable)),
        )

    message = str(failed.value)
    assert message.startswith(f"secretsmanager:GetSecretValue for {SECRET_ARN} failed: ")
    assert "check the VPC interface endpoint" in message
