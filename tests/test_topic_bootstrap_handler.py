"""``handler.on_event`` end to end against the real local Tansu broker.

Events have CloudFormation's shape (as the CDK Provider framework forwards them); the
seed's KAFKA_* variables point the handler at the harness brokers, most tests through the
SASL_SSL + SCRAM-SHA-512 front-end. Tansu has one broker, so topics use replication
factor 1 (the handler refuses more replicas than brokers, as MSK would).
"""

from __future__ import annotations

import io
import json
import time

import boto3
import pytest
from botocore.stub import Stubber
from kafka import KafkaAdminClient, KafkaProducer

from tests.ops_helpers import LambdaContext, throwaway_aws_credentials
from tests.topic_bootstrap_asset import load
from tests.topic_events import (
    CLUSTER_ARN,
    CREATE_FAILED_MARKER,
    SECRET_ARN,
    cloudformation_event,
    topic_arn,
    topic_properties,
)

handler = load("handler")
planning = load("topic_planning")
properties_module = load("topic_properties")
topic_admin = load("topic_admin")

KAFKA_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SECRET_ARN",
    "KAFKA_CLUSTER_ARN",
    "KAFKA_BOOTSTRAP_BROKERS",
    "KAFKA_AUTH_MODE",
)
pytestmark = pytest.mark.timeout(60)


def use_environment(monkeypatch, variables):
    for name in KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def secure(secure_kafka_broker, monkeypatch):
    use_environment(monkeypatch, secure_kafka_broker.client_env())
    return secure_kafka_broker


@pytest.fixture
def plain(kafka_broker, monkeypatch):
    use_environment(monkeypatch, {"KAFKA_BOOTSTRAP_SERVERS": json.dumps([kafka_broker.bootstrap])})
    return kafka_broker


def props(name, **overrides):
    settings = {"ReplicationFactor": "1", "TimeoutSeconds": "10", **overrides}
    return topic_properties(TopicName=name, **settings)


def on_event(event, remaining_ms=300_000):
    return handler.on_event(event, LambdaContext(timeout_s=remaining_ms / 1000))


def create(name, **overrides):
    return on_event(cloudformation_event("Create", props(name, **overrides)))


def described(broker, name):
    """The topic as an independent kafka-python admin client sees it (None if absent)."""
    client = KafkaAdminClient(**broker.kafka_python_config())
    try:
        (topic,) = client.describe_topics([name])
    finally:
        client.close()
    return None if topic["error_code"] else topic


def produce(broker, topic, value):
    producer = KafkaProducer(**broker.kafka_python_config(), acks="all")
    try:
        producer.send(topic, key=b"DocumentAccessLog", value=value).get(timeout=10)
    finally:
        producer.close()


def test_create_on_an_empty_cluster_creates_the_topic_over_sasl_ssl(secure, fresh_topic):
    name = fresh_topic()
    logins_before = secure.front_end.logins

    result = create(name, Partitions="3")

    assert result == {
        "PhysicalResourceId": topic_arn(name),
        "Data": {"TopicName": name, "Partitions": 3, "ReplicationFactor": 1},
    }
    assert len(described(secure, name)["partitions"]) == 3
    assert secure.front_end.logins > logins_before


def test_create_again_adopts_the_topic_without_changing_it_or_its_data(secure, fresh_topic):
    name = fresh_topic()
    first = create(name)
    produce(secure, name, b"before adoption")

    again = create(name)

    assert again == first
    assert len(described(secure, name)["partitions"]) == 3
    assert [record.value for record in secure.read_all(name, expected=1)] == [b"before adoption"]


def test_create_over_a_conflicting_topic_fails_clearly_and_the_delete_that_follows_keeps_it(
    secure, fresh_topic
):
    name = secure.create_topic(fresh_topic(), partitions=6, replication_factor=1)
    produce(secure, name, b"someone else's data")

    with pytest.raises(planning.Refusal) as refused:
        create(name, Partitions="3", DeletionPolicy="Delete")

    assert str(refused.value) == (
        f"Topic {name!r} already exists with 6 partitions and replication factor 1; asked for "
        "3 partitions and replication factor 1. Kafka cannot reduce partitions; create a new "
        "topic and migrate."
    )
    # CloudFormation then deletes the failed resource, under the id the framework gave it.
    delete = cloudformation_event(
        "Delete", props(name, DeletionPolicy="Delete"), physical_id=CREATE_FAILED_MARKER
    )
    assert on_event(delete) == {"PhysicalResourceId": CREATE_FAILED_MARKER}
    assert len(described(secure, name)["partitions"]) == 6
    assert [record.value for record in secure.read_all(name, expected=1)] == [
        b"someone else's data"
    ]


def test_create_with_more_replicas_than_brokers_is_refused_before_creating(secure, fresh_topic):
    name = fresh_topic()

    with pytest.raises(planning.Refusal) as refused:
        create(name, ReplicationFactor="2")

    assert str(refused.value) == (
        f"Cannot create topic {name!r} with replication factor 2: the cluster has 1 broker."
    )
    assert described(secure, name) is None


def test_create_with_invalid_properties_fails_and_its_delete_succeeds(secure, fresh_topic):
    name = fresh_topic()

    with pytest.raises(properties_module.PropertyError) as refused:
        create(name, Partitions="0")
    delete = cloudformation_event(
        "Delete", props(name, Partitions="0", DeletionPolicy="Delete"), physical_id="some-id"
    )

    assert str(refused.value) == "Partitions: 0 is outside the allowed range 1-2147483647"
    assert on_event(delete) == {"PhysicalResourceId": "some-id"}
    assert described(secure, name) is None


def test_delete_with_retain_leaves_the_topic_and_its_data(secure, fresh_topic):
    name = fresh_topic()
    physical_id = create(name)["PhysicalResourceId"]
    produce(secure, name, b"keep me")

    result = on_event(cloudformation_event("Delete", props(name), physical_id=physical_id))

    assert result == {"PhysicalResourceId": physical_id}
    assert described(secure, name) is not None
    assert [record.value for record in secure.read_all(name, expected=1)] == [b"keep me"]


def test_delete_with_delete_policy_deletes_the_topic(secure, fresh_topic):
    name = fresh_topic()
    physical_id = create(name, DeletionPolicy="Delete")["PhysicalResourceId"]

    result = on_event(
        cloudformation_event(
            "Delete", props(name, DeletionPolicy="Delete"), physical_id=physical_id
        )
    )

    assert result == {"PhysicalResourceId": physical_id}
    assert described(secure, name) is None


def test_delete_of_an_absent_topic_succeeds(secure, fresh_topic):
    name = fresh_topic()

    result = on_event(
        cloudformation_event(
            "Delete", props(name, DeletionPolicy="Delete"), physical_id=topic_arn(name)
        )
    )

    assert result == {"PhysicalResourceId": topic_arn(name)}
    assert described(secure, name) is None


def test_update_without_changes_keeps_the_physical_id(secure, fresh_topic):
    name = fresh_topic()
    physical_id = create(name)["PhysicalResourceId"]

    result = on_event(
        cloudformation_event(
            "Update",
            props(name, DeletionPolicy="Delete"),
            old_properties=props(name),
            physical_id=physical_id,
        )
    )

    assert result["PhysicalResourceId"] == physical_id


def test_update_asking_for_fewer_partitions_is_refused_and_changes_nothing(secure, fresh_topic):
    name = fresh_topic()
    physical_id = create(name, Partitions="3")["PhysicalResourceId"]

    with pytest.raises(planning.Refusal) as refused:
        on_event(
            cloudformation_event(
                "Update",
                props(name, Partitions="2"),
                old_properties=props(name, Partitions="3"),
                physical_id=physical_id,
            )
        )

    assert str(refused.value) == (
        f"Topic {name!r} has 3 partitions; asked for 2. "
        "Kafka cannot reduce partitions; create a new topic and migrate."
    )
    assert len(described(secure, name)["partitions"]) == 3


def test_update_with_a_new_topic_name_creates_it_under_a_new_physical_id(secure, fresh_topic):
    old_name, new_name = fresh_topic(), fresh_topic()
    old_id = create(old_name)["PhysicalResourceId"]

    result = on_event(
        cloudformation_event(
            "Update", props(new_name), old_properties=props(old_name), physical_id=old_id
        )
    )

    assert result["PhysicalResourceId"] == topic_arn(new_name) != old_id
    assert described(secure, new_name) is not None
    assert described(secure, old_name) is not None  # left to the Delete CloudFormation sends


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_unreachable_brokers_fail_within_the_connect_window_with_a_helpful_reason(
    plain, fresh_topic, fault
):
    getattr(plain.relay, fault)()
    budget = topic_admin.Timeouts.for_budget(10)
    started = time.monotonic()

    with pytest.raises(topic_admin.BrokersUnreachableError) as failed:
        create(fresh_topic())

    elapsed = time.monotonic() - started
    port = plain.bootstrap.rpartition(":")[2]
    message = str(failed.value)
    assert message.startswith(f"Could not reach the Kafka brokers {plain.bootstrap} within 2 s")
    assert f"allows this function's security group on port {port}" in message
    assert "\n" not in message
    assert budget.connect_seconds <= elapsed < budget.connect_seconds + 1.5


@pytest.fixture
def json_log(monkeypatch):
    """What the handler's Powertools logger writes (JSON lines), captured in memory."""
    buffer = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", buffer)
    return buffer


def test_refused_logins_fail_clearly_and_no_password_reaches_the_logs(
    secure, monkeypatch, fresh_topic, json_log, caplog
):
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "wrong-password-123")

    with pytest.raises(topic_admin.AuthenticationFailedError) as failed:
        create(fresh_topic())

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    (failure,) = [line for line in lines if line["message"] == "request failed"]
    assert failure["reason"] == str(failed.value)
    assert failure["level"] == "ERROR"
    assert failure["request_type"] == "Create"
    assert "refused the SASL/SCRAM-SHA-512 login as 'harness-user'" in str(failed.value)
    everything_logged = json_log.getvalue() + caplog.text
    assert "wrong-password-123" not in everything_logged
    assert secure.password not in everything_logged


def test_a_successful_request_logs_its_plan_as_structured_json(secure, fresh_topic, json_log):
    name = fresh_topic()

    create(name)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert {"service": handler.logger.service, "plan": f"create topic {name!r}"}.items() <= next(
        line for line in lines if line.get("plan")
    ).items()
    assert (lines[-1]["message"], lines[-1]["request_type"]) == ("request succeeded", "Create")
    assert secure.password not in json_log.getvalue()


def test_the_msk_path_reads_aws_then_connects_with_sasl_ssl_for_real(
    secure_kafka_broker, monkeypatch, fresh_topic
):
    """No seed variables: the secret and the brokers come from (stubbed) AWS APIs."""
    use_environment(monkeypatch, {"KAFKA_SSL_CAFILE": secure_kafka_broker.cafile})
    secretsmanager, kafka = boto3_client("secretsmanager"), boto3_client("kafka")
    monkeypatch.setattr(
        handler,
        "aws_client",
        lambda service, timeouts: {"secretsmanager": secretsmanager, "kafka": kafka}[service],
    )
    name = fresh_topic()
    with Stubber(secretsmanager) as secrets_stub, Stubber(kafka) as kafka_stub:
        kafka_stub.add_response(
            "get_bootstrap_brokers",
            {"BootstrapBrokerStringSaslScram": secure_kafka_broker.bootstrap},
            {"ClusterArn": CLUSTER_ARN},
        )
        secrets_stub.add_response(
            "get_secret_value",
            {
                "SecretString": json.dumps(
                    {
                        "username": secure_kafka_broker.username,
                        "password": secure_kafka_broker.password,
                    }
                )
            },
            {"SecretId": SECRET_ARN},
        )

        result = create(name, BootstrapBrokers=None)

    assert result["PhysicalResourceId"] == topic_arn(name)
    assert described(secure_kafka_broker, name) is not None


def test_an_unforeseen_error_still_reaches_cloudformation_as_one_line(monkeypatch):
    def broken(event, runtime):
        raise KeyError("Partitions\nsecond line")

    monkeypatch.setattr(handler, "handle_event", broken)

    with pytest.raises(handler.UnexpectedFailureError) as failed:
        on_event(cloudformation_event("Create", topic_properties()))

    assert str(failed.value) == (
        "Unexpected KeyError: 'Partitions\\nsecond line' (details in the function's log)"
    )


def boto3_client(service):
    return boto3.client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --- failure reasons CloudFormation can take -----------------------------------------------------

MEGABYTE = 1_000_000
# What the Provider framework adds to the message (its log group line and its own stack trace)
# and the other fields of the response, generously: CloudFormation takes 4,096 bytes in all.
FRAMEWORK_ADDITIONS_BYTES = 1_500
HUGE = "x" * MEGABYTE


def reason_bytes(reason):
    """Bytes of ``reason`` in the JSON response body, its quotes not counted."""
    return len(json.dumps(reason, ensure_ascii=False).encode()) - 2


def cloudformation_response(event, reason):
    """The FAILED response body the Provider framework sends (cfn-response.js), in bytes."""
    body = {
        "Status": "FAILED",
        "Reason": f"Error: {reason}\n\nLogs: /aws/lambda/{'f' * 64}\n",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "PhysicalResourceId": CREATE_FAILED_MARKER,
        "LogicalResourceId": event["LogicalResourceId"],
    }
    return len(json.dumps(body, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"TopicName": HUGE}, "TopicName"),
        ({"TopicName": "\x1b[2J" * (MEGABYTE // 4)}, "TopicName"),
        ({"Partitions": HUGE}, "Partitions"),
        ({"ReplicationFactor": "é" * MEGABYTE}, "ReplicationFactor"),
        ({"Configs": {"cleanup.policy": HUGE}}, "Configs.cleanup.policy"),
        ({"Configs": {"retention.ms": HUGE}}, "Configs.retention.ms"),
        ({"Configs": {HUGE: "1"}}, "Configs.xxxx"),
        ({HUGE: "1"}, "xxxx"),
        ({"ClusterArn": HUGE}, "ClusterArn"),
        ({"SecretArn": HUGE}, "SecretArn"),
        ({"BootstrapBrokers": HUGE}, "BootstrapBrokers"),
        ({"DeletionPolicy": HUGE}, "DeletionPolicy"),
        ({"TimeoutSeconds": HUGE}, "TimeoutSeconds"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_megabyte_property_gives_a_short_reason_naming_it(monkeypatch, overrides, names):
    use_environment(monkeypatch, {})  # MSK path: fails on the properties, before any AWS call
    event = cloudformation_event("Create", topic_properties(**overrides))

    with pytest.raises(properties_module.PropertyError) as failed:
        on_event(event)

    reason = str(failed.value)
    assert reason.startswith(names)
    assert len(reason) < 250  # the value is quoted cut to about 80 characters
    assert reason_bytes(reason) <= handler.MAX_REASON_BYTES
    assert reason.isprintable()
    assert cloudformation_response(event, reason) + FRAMEWORK_ADDITIONS_BYTES <= 4096


def test_a_megabyte_request_type_is_cut_too(monkeypatch):
    use_environment(monkeypatch, {})
    event = cloudformation_event(HUGE, topic_properties())

    with pytest.raises(ValueError, match=r"^RequestType: 'x{78}… \(1,000,000 characters\) is not"):
        on_event(event)


def test_any_long_reason_is_cut_to_what_cloudformation_takes(monkeypatch):
    def refuse(event, runtime):
        raise planning.Refusal("Topic 'a' " + "😀 very\nlong " * MEGABYTE)

    monkeypatch.setattr(handler, "handle_event", refuse)
    event = cloudformation_event("Create", topic_properties())

    with pytest.raises(handler.RequestFailedError) as failed:
        on_event(event)

    reason = str(failed.value)
    assert isinstance(failed.value.__cause__, planning.Refusal)
    assert reason.startswith("Topic 'a' 😀 very long 😀")
    assert reason.endswith(handler.CUT_MARKER)
    assert reason_bytes(reason) <= handler.MAX_REASON_BYTES
    assert cloudformation_response(event, reason) + FRAMEWORK_ADDITIONS_BYTES <= 4096


# --- MSK IAM access control: KAFKA_AUTH_MODE=iam, no secret ------------------------------------


@pytest.fixture
def iam(secure_kafka_broker, monkeypatch, tmp_path):
    """The function's environment as the construct sets it with IAM (KAFKA_AUTH_MODE, no
    seed variables), with the harness's test credentials standing in for its role."""
    use_environment(monkeypatch, {})
    throwaway_aws_credentials(monkeypatch, tmp_path)
    environ = secure_kafka_broker.iam_client_env()
    del environ["KAFKA_BOOTSTRAP_BROKERS"]  # the construct passes the brokers as a property
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(secure_kafka_broker.front_end, "failed_authentication_delay", 0.1)
    return secure_kafka_broker


def no_aws_client(service, timeouts):
    raise AssertionError(f"no {service} call expected")


def test_with_iam_create_and_delete_sign_in_with_the_role_and_read_no_secret(
    iam, monkeypatch, fresh_topic
):
    monkeypatch.setattr(handler, "aws_client", no_aws_client)
    principals = len(iam.front_end.iam_principals)
    name = fresh_topic()
    iam_props = props(name, SecretArn=None, BootstrapBrokers=iam.bootstrap, DeletionPolicy="Delete")

    result = on_event(cloudformation_event("Create", iam_props))

    assert result["PhysicalResourceId"] == topic_arn(name)
    assert described(iam, name)["partitions"]
    assert iam.front_end.iam_principals[principals:]

    on_event(cloudformation_event("Delete", iam_props, physical_id=topic_arn(name)))

    assert described(iam, name) is None


def test_with_iam_the_brokers_come_from_get_bootstrap_brokers_iam_string(
    iam, monkeypatch, fresh_topic
):
    kafka = boto3_client("kafka")
    monkeypatch.setattr(handler, "aws_client", lambda service, timeouts: {"kafka": kafka}[service])
    name = fresh_topic()
    with Stubber(kafka) as kafka_stub:
        kafka_stub.add_response(
            "get_bootstrap_brokers",
            {
                "BootstrapBrokerStringSaslScram": "b-1.example:9096",
                "BootstrapBrokerStringSaslIam": iam.bootstrap,
            },
            {"ClusterArn": CLUSTER_ARN},
        )
        result = create(name, SecretArn=None, BootstrapBrokers=None)

    assert result["PhysicalResourceId"] == topic_arn(name)
    assert described(iam, name) is not None


def test_with_iam_a_refused_login_names_the_policy_to_check(iam, monkeypatch, fresh_topic):
    monkeypatch.setattr(handler, "aws_client", no_aws_client)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-role-s-key")

    with pytest.raises(topic_admin.AuthenticationFailedError) as failed:
        create(fresh_topic(), SecretArn=None, BootstrapBrokers=iam.bootstrap)

    reason = str(failed.value)
    assert "rejected the IAM (AWS_MSK_IAM) login" in reason
    assert "kafka-cluster:Connect on the cluster's ARN" in reason
    assert "signature does not match" in (iam.front_end.last_failure or "")


def test_without_iam_the_secret_is_still_required(monkeypatch):
    use_environment(monkeypatch, {})
    with pytest.raises(properties_module.PropertyError, match="SecretArn: required"):
        create("DocumentExceptions", SecretArn=None)
