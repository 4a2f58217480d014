"""`document-exceptions send` against the real local broker (plain and SASL_SSL/SCRAM), with the
deployed-environment path through stack outputs (Stubber) and the secret (moto)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from document_exceptions import cli
from document_exceptions.contract import ContractSettings, prepare_record
from tests.ops_helpers import (
    STACK,
    client_factory,
    cloudformation_with_stack,
    cluster_outputs,
    create_secret,
    iam_cluster_outputs,
    use_harness_iam_credentials,
    without_kafka_environment,
)

pytestmark = pytest.mark.timeout(60)

FLAGS = [
    "--order-req-id", "SB1029435",
    "--s3-key", "documents/user123/contract.pdf",
    "--user-id", "sb.user2@drworkplace.microsoft.com",
    "--exception-type", "access_denied",
    "--error-message", "User does not have permission to access this document",
    "--ip-address", "192.168.1.100",
    "--session-id", "sess_abc123def456",
    "--access-type", "download",
    "--file-name", "contract.pdf",
    "--additional-context", '{"attempt": 2}',
]  # fmt: skip


def run(argv: list[str], capsys: pytest.CaptureFixture[str], **kwargs: Any) -> tuple[int, str, str]:
    code = cli.main(argv, **kwargs)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def local_kafka(monkeypatch: pytest.MonkeyPatch, kafka_broker: Any, fresh_topic: Any) -> str:
    """The seed's local settings pointing at the plain broker; returns a new topic."""
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    topic = kafka_broker.create_topic(fresh_topic())
    monkeypatch.setenv("KAFKA_TOPIC", topic)
    return topic


def test_flags_publish_one_message_and_print_where_the_broker_put_it(
    local_kafka: str, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["send", *FLAGS], capsys)

    assert code == 0
    (record,) = kafka_broker.read_all(local_kafka, expected=1)
    message = json.loads(record.value)
    assert f"published to {local_kafka} partition {record.partition} offset {record.offset}" in out
    assert record.key == b"DocumentAccessLog"
    expected = prepare_record(
        {
            "order_req_id": "SB1029435",
            "s3_key": "documents/user123/contract.pdf",
            "user_id": "sb.user2@drworkplace.microsoft.com",
            "exception_type": "access_denied",
            "error_message": "User does not have permission to access this document",
            "ip_address": "192.168.1.100",
            "session_id": "sess_abc123def456",
            "access_type": "download",
            "file_name": "contract.pdf",
            "additional_context": {"attempt": 2},
            "timestamp": message["timestamp"],
        },
        ContractSettings(topic=local_kafka),
    )
    assert record.value == expected.record.value
    assert message["http_status_code"] == 403


def test_a_file_gives_the_fields_and_flags_override_them(
    local_kafka: str, kafka_broker: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "msg.json"
    path.write_text(
        json.dumps(
            {
                "order_req_id": "FROM-FILE",
                "s3_key": "documents/f.pdf",
                "user_id": 42,
                "exception_type": "file_not_found",
                "error_message": "Document not found in S3",
                "timestamp": "2025-10-21T10:30:00Z",
            }
        )
    )
    code, out, _ = run(
        ["send", "--file", str(path), "--order-req-id", "FROM-FLAG", "--json"], capsys
    )

    assert code == 0
    result = json.loads(out)
    (record,) = kafka_broker.read_all(local_kafka, expected=1)
    assert (result["partition"], result["offset"]) == (record.partition, record.offset)
    message = json.loads(record.value)
    assert message["order_req_id"] == "FROM-FLAG"
    assert message["user_id"] == "42"
    assert message["timestamp"] == "2025-10-21T10:30:00Z"
    assert message["http_status_code"] == 404
    assert result["message"] == message


def test_stdin_is_read_with_a_dash(
    local_kafka: str,
    kafka_broker: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {
        "order_req_id": "STDIN",
        "s3_key": "k",
        "user_id": "u",
        "exception_type": "session_expired",
        "error_message": "e",
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    assert run(["send", "--file", "-"], capsys)[0] == 0
    (record,) = kafka_broker.read_all(local_kafka, expected=1)
    assert json.loads(record.value)["order_req_id"] == "STDIN"


def test_an_invalid_message_lists_every_problem_by_field_and_sends_nothing(
    local_kafka: str, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code, out, err = run(
        [
            "send",
            "--order-req-id", "SB1",
            "--exception-type", "Access Denied",
            "--ip-address", "999.1.1.1",
            "--http-status-code", "forbidden",
            "--additional-context", "[1, 2]",
        ],
        capsys,
    )  # fmt: skip

    assert code == 2
    assert out == ""
    problems = {line.strip().split(":", 1)[0] for line in err.splitlines() if line.startswith("  ")}
    assert problems == {
        "s3_key",
        "user_id",
        "error_message",
        "exception_type",
        "ip_address",
        "http_status_code",
        "additional_context",
    }
    assert "'forbidden' is not an integer" in err
    assert "not sent" in err
    assert time.monotonic() - started < 2  # never tried to connect
    assert kafka_broker.read_all(local_kafka, timeout=2) == []


def test_a_file_that_is_not_json_is_named_as_the_message(
    local_kafka: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "msg.json"
    path.write_text("{not json")
    code, _, err = run(["send", "--file", str(path)], capsys)
    assert code == 2
    assert "message: not valid JSON" in err


def test_nothing_to_send_is_a_usage_error(
    local_kafka: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["send"], capsys)
    assert code == 2
    assert "give --file or the field flags" in err


def test_an_unreachable_broker_fails_within_the_timeout_and_says_not_sent(
    local_kafka: str, kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka_broker.relay.refuse()
    started = time.monotonic()
    code, out, err = run(["send", *FLAGS, "--timeout", "3"], capsys)
    elapsed = time.monotonic() - started

    assert code == 1
    assert "published" not in out
    assert "not published" in err
    assert "NOT sent" in err
    assert elapsed < 3 + 3


def test_sasl_ssl_with_the_seed_variables(
    secure_kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    for name, value in secure_kafka_broker.client_env().items():
        monkeypatch.setenv(name, value)
    topic = secure_kafka_broker.create_topic(fresh_topic())

    code, out, _ = run(["send", *FLAGS, "--topic", topic], capsys)

    assert code == 0, out
    (record,) = secure_kafka_broker.read_all(topic, expected=1)
    assert f"partition {record.partition} offset {record.offset}" in out


@pytest.mark.usefixtures("fake_aws")
def test_deployed_environment_publishes_with_the_secret_login(
    secure_kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    topic = secure_kafka_broker.create_topic(fresh_topic())
    arn = create_secret(secure_kafka_broker.username, secure_kafka_broker.password)
    cloudformation = cloudformation_with_stack(
        cluster_outputs(secure_kafka_broker, arn, TopicName=topic)
    )
    argv = ["send", *FLAGS, "--stack", STACK, "--cafile", secure_kafka_broker.cafile]

    code, out, err = run(argv, capsys, client_factory=client_factory(cloudformation))

    assert code == 0, err
    (record,) = secure_kafka_broker.read_all(topic, expected=1)
    assert f"published to {topic} partition {record.partition} offset {record.offset}" in out
    cloudformation.stubber.assert_no_pending_responses()


def test_a_topic_that_does_not_exist_is_refused_and_not_created(
    local_kafka: str, kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = fresh_topic()  # the local broker, like many, creates topics on first use

    code, out, err = run(["send", *FLAGS, "--topic", missing, "--timeout", "5"], capsys)

    assert code == 1
    assert "published to" not in out
    assert f"topic {missing} does not exist" in err
    assert f"--create --topic {missing}" in err
    assert "NOT sent" in err
    admin = KafkaAdminClient(**kafka_broker.kafka_python_config())
    try:
        assert missing not in admin.list_topics()
    finally:
        admin.close()


@pytest.mark.usefixtures("fake_aws")
def test_an_unreadable_secret_is_reported_without_exception_class_names(
    secure_kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_gone-AbCdEf"
    outputs = cluster_outputs(secure_kafka_broker, missing, TopicName=fresh_topic())
    argv = ["send", *FLAGS, "--stack", STACK, "--timeout", "5"]

    code, _, err = run(
        argv, capsys, client_factory=client_factory(cloudformation_with_stack(outputs))
    )

    assert code == 1
    assert "cannot read the Kafka login" in err
    assert "secretsmanager:GetSecretValue" in err
    assert "ResourceNotFoundException" in err  # the service's error code, as AWS documents it
    for python_class in ("OpsError", "ClientError", "ConfigurationError", "Traceback"):
        assert python_class not in err


@pytest.mark.usefixtures("fake_aws")
def test_an_iam_stack_publishes_signed_in_with_aws_credentials_not_the_secret(
    secure_kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    use_harness_iam_credentials(secure_kafka_broker, monkeypatch)
    topic = secure_kafka_broker.create_topic(fresh_topic())
    cloudformation = cloudformation_with_stack(
        iam_cluster_outputs(secure_kafka_broker, TopicName=topic)
    )
    principals = len(secure_kafka_broker.front_end.iam_principals)
    argv = ["send", *FLAGS, "--stack", STACK, "--cafile", secure_kafka_broker.cafile]

    code, out, err = run(argv, capsys, client_factory=client_factory(cloudformation))

    assert code == 0, err
    (record,) = secure_kafka_broker.read_all(topic, expected=1)
    assert f"published to {topic} partition {record.partition} offset {record.offset}" in out
    assert secure_kafka_broker.front_end.iam_principals[principals:]
