"""`document-exceptions doctor` (and ops/doctor.py): a deployed environment checked end to end.

The environment: stack outputs from botocore's Stubber (moto's CloudFormation needs extras
not installed here), the SCRAM secret in moto's Secrets Manager, and the harness's real
SASL_SSL + SCRAM-SHA-512 broker for the Kafka checks. Faults come from the front-end
(refuse, blackhole) or from wrong settings, never from restarting the broker.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from document_exceptions import cli
from tests.ops_helpers import (
    REGION,
    STACK,
    client_factory,
    cloudformation_with_stack,
    cluster_outputs,
    create_secret,
    iam_cluster_outputs,
    use_harness_iam_credentials,
    without_kafka_environment,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fake_aws")]

TIMEOUT = 3.0
MARGIN = 3.0  # the bound's slack: thread start, kafka-python's own give-up, a busy machine


@pytest.fixture(autouse=True)
def _no_local_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    without_kafka_environment(monkeypatch)


@pytest.fixture(autouse=True)
def _harness_iam_credentials(
    fake_aws: None, secure_kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After moto's (which sets its own keys): the keys the harness's IAM login trusts."""
    use_harness_iam_credentials(secure_kafka_broker, monkeypatch)


@pytest.fixture
def topic(secure_kafka_broker: Any, fresh_topic: Any) -> str:
    return secure_kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=2)


def doctor(
    capsys: pytest.CaptureFixture[str],
    outputs: dict[str, str] | None,
    *flags: str,
    cafile: str | None = None,
) -> tuple[int, dict[str, dict[str, Any]], float]:
    """Run doctor with --json; returns (exit code, checks by name, seconds taken)."""
    argv = ["doctor", "--stack", STACK, "--region", REGION, "--json", "--timeout", str(TIMEOUT)]
    if cafile:
        argv += ["--cafile", cafile]
    clients = client_factory(cloudformation_with_stack(outputs))
    started = time.monotonic()
    code = cli.main([*argv, *flags], client_factory=clients)
    elapsed = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is (code == 0)
    return code, {check["check"]: check for check in report["checks"]}, elapsed


def statuses(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


def healthy_outputs(broker: Any, topic: str, **extra: str) -> dict[str, str]:
    arn = create_secret(broker.username, broker.password)
    return cluster_outputs(broker, arn, TopicName=topic, **extra)


LOGIN = "brokers accept the login (TLS + SASL/SCRAM)"
DNS = "brokers resolve (DNS)"
SECRET = "secret readable"


def test_a_healthy_environment_passes_every_check_with_symbols(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = healthy_outputs(secure_kafka_broker, topic, TopicPartitions="3")
    clients = client_factory(cloudformation_with_stack(outputs))
    argv = ["doctor", "--stack", STACK, "--cafile", secure_kafka_broker.cafile]

    code = cli.main(argv, client_factory=clients)

    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"doctor: stack {STACK}"
    assert [line[:1] for line in lines[1:6]] == ["✓"] * 5
    assert "stack outputs" in lines[1]
    assert "username 'harness-user'" in lines[2]
    assert "127.0.0.1 -> 127.0.0.1" in lines[3]
    assert "SCRAM-SHA-512 as 'harness-user'" in lines[4]
    assert f"topic {topic}" in lines[5]
    assert "3 partitions, replication factor 2" in lines[5]
    assert lines[-1] == "all 5 checks passed"
    assert secure_kafka_broker.password not in out


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_unreachable_brokers_fail_within_the_timeout_saying_what_to_check(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    outputs = healthy_outputs(secure_kafka_broker, topic)
    getattr(secure_kafka_broker.relay, fault)()

    code, checks, elapsed = doctor(capsys, outputs, cafile=secure_kafka_broker.cafile)

    assert code == 1
    assert checks[DNS]["status"] == "ok"
    assert checks[LOGIN]["status"] == "failed"
    # The front-end accepts, then closes: as a TLS client sees it, closed during the handshake.
    expected = "closed the connection" if fault == "refuse" else "no answer from the brokers"
    assert expected in checks[LOGIN]["detail"]
    assert "security group" in checks[LOGIN]["hint"]
    assert elapsed < TIMEOUT + MARGIN


def test_broker_names_that_do_not_resolve_fail_dns_and_skip_the_login(
    secure_kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = create_secret("u", "p")
    outputs = cluster_outputs(secure_kafka_broker, arn)
    outputs["BootstrapBrokersSaslScram"] = "b-1.doctor.invalid:9096,b-2.doctor.invalid:9096"

    code, checks, elapsed = doctor(capsys, outputs)

    assert code == 1
    assert checks[SECRET]["status"] == "ok"
    assert checks[DNS]["status"] == "failed"
    assert "b-1.doctor.invalid" in checks[DNS]["detail"]
    assert "VPC's DNS" in checks[DNS]["hint"]
    assert checks[LOGIN]["status"] == "skipped"
    assert elapsed < TIMEOUT + MARGIN


def test_a_missing_topic_is_reported_with_where_to_look(
    secure_kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = fresh_topic()
    code, checks, _ = doctor(
        capsys,
        healthy_outputs(secure_kafka_broker, missing),
        cafile=secure_kafka_broker.cafile,
    )

    assert code == 1
    assert checks[LOGIN]["status"] == "ok"
    assert checks[f"topic {missing}"]["status"] == "failed"
    assert checks[f"topic {missing}"]["detail"] == f"topic {missing} does not exist"
    assert "topic bootstrap" in checks[f"topic {missing}"]["hint"]


def test_a_topic_with_other_partitions_than_configured_fails(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = healthy_outputs(secure_kafka_broker, topic, TopicPartitions="6")
    code, checks, _ = doctor(capsys, outputs, cafile=secure_kafka_broker.cafile)
    assert code == 1
    assert "has 3 partitions, the configuration says 6" in checks[f"topic {topic}"]["detail"]

    code, checks, _ = doctor(
        capsys, outputs, "--partitions", "3", cafile=secure_kafka_broker.cafile
    )  # the flag wins over the output
    assert code == 0


def test_an_unreadable_secret_fails_its_check_while_dns_is_still_checked(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:AmazonMSK_gone-AbCdEf"
    code, checks, _ = doctor(capsys, cluster_outputs(secure_kafka_broker, missing))

    assert code == 1
    assert checks[SECRET]["status"] == "failed"
    assert "ResourceNotFoundException" in checks[SECRET]["detail"]
    assert "secretsmanager:GetSecretValue" in checks[SECRET]["hint"]
    assert "kms:Decrypt" in checks[SECRET]["hint"]
    assert checks[DNS]["status"] == "ok"
    assert checks[LOGIN]["status"] == "skipped"


def test_a_secret_that_is_not_scram_json_is_named(
    secure_kafka_broker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3  # noqa: PLC0415

    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="AmazonMSK_plain", SecretString="just-a-password"
    )["ARN"]
    code, checks, _ = doctor(capsys, cluster_outputs(secure_kafka_broker, arn))

    assert code == 1
    assert "'username' and 'password'" in checks[SECRET]["detail"]


def test_a_missing_stack_fails_the_first_check_and_skips_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, checks, _ = doctor(capsys, None)

    assert code == 1
    assert checks["stack outputs"]["status"] == "failed"
    assert "does not exist" in checks["stack outputs"]["detail"]
    assert set(statuses(checks).values()) == {"failed", "skipped"}
    assert len(checks) == 5


def test_human_output_marks_failures_and_prints_what_to_check(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = create_secret(secure_kafka_broker.username, "wrong")
    clients = client_factory(
        cloudformation_with_stack(cluster_outputs(secure_kafka_broker, arn, TopicName=topic))
    )
    argv = ["doctor", "--stack", STACK, "--cafile", secure_kafka_broker.cafile]

    assert cli.main(argv, client_factory=clients) == 1

    lines = capsys.readouterr().out.splitlines()
    failed = next(index for index, line in enumerate(lines) if line.startswith("✗"))
    assert LOGIN in lines[failed]
    assert lines[failed + 1].startswith("    check: ")
    assert lines[failed + 2].startswith("-")
    assert "needs: " + LOGIN in lines[failed + 2]
    assert lines[-1] == "1 of 5 checks failed"


def test_local_settings_are_checked_without_a_stack(
    kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    monkeypatch.setenv("KAFKA_TOPIC", topic)

    assert cli.main(["doctor", "--json", "--timeout", str(TIMEOUT)]) == 0

    report = json.loads(capsys.readouterr().out)
    assert [check["check"] for check in report["checks"]] == [
        "local settings",
        DNS,
        "brokers accept a connection (PLAINTEXT: no TLS, no login)",
        f"topic {topic}",
    ]
    assert report["checks"][2]["detail"] == "PLAINTEXT, no login"
    assert "TLS + SASL" not in json.dumps(report)


def test_local_sasl_ssl_settings_name_their_mechanism(
    secure_kafka_broker: Any,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in secure_kafka_broker.client_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KAFKA_TOPIC", topic)

    assert cli.main(["doctor", "--timeout", str(TIMEOUT)]) == 0

    out = capsys.readouterr().out
    assert "✓ brokers accept the login (TLS + SASL/SCRAM)" in out
    assert "SASL_SSL, SCRAM-SHA-512 as 'harness-user'" in out


def local_doctor(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, broker: Any, *flags: str
) -> dict[str, dict[str, Any]]:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([broker.bootstrap]))
    assert cli.main(["doctor", "--json", "--timeout", str(TIMEOUT), *flags]) == 1
    report = json.loads(capsys.readouterr().out)
    return {check["check"]: check for check in report["checks"]}


def test_a_missing_local_topic_says_how_to_create_it_not_to_look_at_a_stack(
    kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = fresh_topic()
    checks = local_doctor(capsys, monkeypatch, kafka_broker, "--topic", missing)

    failed = checks[f"topic {missing}"]
    assert failed["status"] == "failed"
    assert failed["detail"] == f"topic {missing} does not exist"
    assert f"--create --topic {missing} --partitions 3" in failed["hint"]
    assert "the stack's events" not in failed["hint"]
    assert "custom resource" not in failed["hint"]


def test_local_partitions_and_dns_hints_point_at_local_settings(
    kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    four = kafka_broker.create_topic(fresh_topic(), partitions=4)  # what auto-creation makes
    checks = local_doctor(capsys, monkeypatch, kafka_broker, "--topic", four)
    hint = checks[f"topic {four}"]["hint"]
    assert "has 4 partitions, the configuration says 3" in checks[f"topic {four}"]["detail"]
    assert "--partitions" in hint
    assert "topic bootstrap" not in hint

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", '["b-1.doctor.invalid:9092"]')
    assert cli.main(["doctor", "--json", "--timeout", str(TIMEOUT)]) == 1
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert "KAFKA_BOOTSTRAP_SERVERS" in checks[DNS]["hint"]
    assert "VPC" not in checks[DNS]["hint"]


IAM_LOGIN = "brokers accept the login (TLS + SASL/AWS_MSK_IAM)"


def test_an_iam_stack_is_checked_with_iam_and_no_secret(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = iam_cluster_outputs(secure_kafka_broker, TopicName=topic, TopicPartitions="3")
    principals = len(secure_kafka_broker.front_end.iam_principals)

    code, checks, _ = doctor(capsys, outputs, cafile=secure_kafka_broker.cafile)

    assert code == 0, checks
    assert list(checks) == ["stack outputs", DNS, IAM_LOGIN, f"topic {topic}"]
    assert checks["stack outputs"]["detail"].endswith(", IAM")
    assert "AWS_MSK_IAM with your AWS credentials" in checks[IAM_LOGIN]["detail"]
    assert secure_kafka_broker.front_end.iam_principals[principals:]


def test_auth_flag_chooses_iam_for_a_stack_without_the_auth_output(
    secure_kafka_broker: Any, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = iam_cluster_outputs(secure_kafka_broker, TopicName=topic)
    del outputs["KafkaAuthMode"]

    code, checks, _ = doctor(capsys, outputs, "--auth", "iam", cafile=secure_kafka_broker.cafile)

    assert code == 0, checks
    assert SECRET not in checks
    assert checks[IAM_LOGIN]["status"] == "ok"


def test_a_refused_iam_login_names_the_iam_policy_to_check(
    secure_kafka_broker: Any,
    topic: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-your-key")
    monkeypatch.setattr(secure_kafka_broker.front_end, "failed_authentication_delay", 0.1)
    outputs = iam_cluster_outputs(secure_kafka_broker, TopicName=topic)

    code, checks, elapsed = doctor(capsys, outputs, cafile=secure_kafka_broker.cafile)

    assert code == 1
    login = checks[IAM_LOGIN]
    assert login["status"] == "failed"
    assert "rejected the IAM (AWS_MSK_IAM) login" in login["detail"]
    assert "kafka-cluster:Connect" in login["hint"]
    assert checks[f"topic {topic}"]["status"] == "skipped"
    assert elapsed < TIMEOUT, "a refused login is final"
