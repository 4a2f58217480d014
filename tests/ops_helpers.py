"""Shared helpers of the operator-command and reliability tests (tests/test_cli*.py,
tests/test_reliability_*.py).

A "deployed environment" here is a CloudFormation stack with the outputs the real stacks
define (stacks/document_exceptions_stack.py, stacks/producer_function.py), answered by
botocore's Stubber, and moto's Secrets Manager secret and SQS queues, pointing at the local
broker of the test harness.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.names import EVENTBRIDGE_DETAIL_TYPE

REGION = "eu-west-1"
EVENT_ID = "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
STACK = "DocumentExceptions-test"
SEED_USER = "sb.user2@drworkplace.microsoft.com"
SEED_ERROR = "User does not have permission to access this document"


def message_fields(run: str, index: int, **overrides: Any) -> dict[str, Any]:
    """The seed's example message, made unique by ``run`` and ``index``."""
    return {
        "order_req_id": f"{run}-{index}",
        "s3_key": f"documents/{run}/{index}.pdf",
        "user_id": SEED_USER,
        "exception_type": "access_denied",
        "error_message": SEED_ERROR,
        "ip_address": "192.168.1.100",
        "session_id": "sess_abc123def456",
        "access_type": "download",
        **overrides,
    }


def order_ids(records: Sequence[Any]) -> Counter[str]:
    """How often each order_req_id is on the topic (records from ``read_all``)."""
    return Counter(json.loads(record.value)["order_req_id"] for record in records)


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes Powertools reads)."""

    timeout_s: float = 60.0
    function_name: str = "document-exceptions-producer"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:111111111111:function:document-exceptions-producer"
    )
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(bodies: Sequence[str], prefix: str = "m") -> dict[str, Any]:
    """An SQS event as Lambda delivers it, one record per body (message ids `prefix-i`)."""
    return sqs_event_for([(f"{prefix}-{index}", body) for index, body in enumerate(bodies)])


def sqs_event_for(records: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """An SQS event of (message id, body) records: redelivery keeps a record's id."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1760000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1760000000001",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:111111111111:producer-queue",
                "awsRegion": REGION,
            }
            for message_id, body in records
        ]
    }


def eventbridge_event(
    detail: Any, detail_type: str = EVENTBRIDGE_DETAIL_TYPE, event_id: str = EVENT_ID
) -> dict[str, Any]:
    """An EventBridge event as Lambda delivers it (the message in `detail`)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": "django_s3_app",
        "account": "123456789012",
        "time": "2025-10-21T10:30:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto for every boto3 client made inside the test, with throwaway credentials and no
    AWS configuration of the machine read."""
    from moto import mock_aws  # noqa: PLC0415 - moto is slow to import; only these tests need it

    throwaway_aws_credentials(monkeypatch, tmp_path)
    with mock_aws():
        yield


def throwaway_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region for boto3; no AWS configuration of the machine read."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def no_aws_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region anywhere: neither variable, nor a profile, nor an AWS config file."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-config-without-region"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


def create_secret(username: str, password: str, name: str = "AmazonMSK_test") -> str:
    """A SCRAM secret as MSK wants it; returns its ARN."""
    import boto3  # noqa: PLC0415

    client = boto3.client("secretsmanager", region_name=REGION)
    value = json.dumps({"username": username, "password": password})
    return client.create_secret(Name=name, SecretString=value)["ARN"]


def cloudformation_with_stack(
    outputs: Mapping[str, str] | None, name: str = STACK, calls: int = 1
) -> Any:
    """A CloudFormation client (botocore Stubber: moto's CloudFormation needs extras this
    venv does not install) answering ``calls`` DescribeStacks with a stack that has these
    outputs, or, for ``outputs=None``, with CloudFormation's "does not exist" error."""
    import boto3  # noqa: PLC0415
    from botocore.stub import Stubber  # noqa: PLC0415

    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    for _ in range(calls):
        if outputs is None:
            stubber.add_client_error(
                "describe_stacks",
                service_error_code="ValidationError",
                service_message=f"Stack with id {name} does not exist",
                http_status_code=400,
                expected_params={"StackName": name},
            )
            continue
        stack = {
            "StackName": name,
            "StackId": f"arn:aws:cloudformation:{REGION}:111111111111:stack/{name}/1",
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "StackStatus": "UPDATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": name})
    stubber.activate()
    client.stubber = stubber  # for assert_no_pending_responses()
    return client


def client_factory(cloudformation: Any, **others: Any) -> Callable[[str], Any]:
    """Clients for the commands: the given ones by service name, moto's for the rest."""
    import boto3  # noqa: PLC0415

    given = {"cloudformation": cloudformation, **others}

    def make(service: str) -> Any:
        return given[service] if service in given else boto3.client(service, region_name=REGION)

    return make


def cluster_outputs(broker: Any, secret_arn: str, **extra: str) -> dict[str, str]:
    """The cluster stack's outputs for the harness's SASL_SSL broker (named as CDK does)."""
    return {
        "ClusterArn": f"arn:aws:kafka:{REGION}:111111111111:cluster/document-exceptions/abc",
        "ScramSecretArn": secret_arn,
        "BootstrapBrokersSaslScram": broker.bootstrap,
        "KafkaSecurityProtocol": "SASL_SSL",
        "KafkaSaslMechanism": "SCRAM-SHA-512",
        **extra,
    }


def iam_cluster_outputs(broker: Any, **extra: str) -> dict[str, str]:
    """The outputs of a stack whose own clients use IAM (KafkaAuthMode "iam"): the harness's
    broker as the IAM broker string; the SCRAM outputs stay (the Django apps use them) but
    name a secret that does not exist, so reading it would fail the test."""
    never_read = f"arn:aws:secretsmanager:{REGION}:111111111111:secret:AmazonMSK_never-read-AbCdEf"
    return cluster_outputs(
        broker,
        never_read,
        BootstrapBrokersSaslIam=broker.bootstrap,
        BootstrapBrokersSaslScram="b-1.scram-only.example:9096",
        KafkaAuthMode="iam",
        **extra,
    )


def use_harness_iam_credentials(broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS credentials the harness's IAM login trusts, as this process's own (moto's
    ``mock_aws`` replaces the variables with its own fake keys while it is active)."""
    for name, value in broker.iam_client_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


def without_kafka_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No KAFKA_* settings from the machine running the tests leak into a test."""
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "PRODUCER_", "MESSAGE_")):
            monkeypatch.delenv(name)


# The guide's and the deployed functions' Kafka variables, none of which the harness sets.
HANDLER_KAFKA_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SECRET_ARN",
    "KAFKA_CLUSTER_ARN",
    "KAFKA_BOOTSTRAP_BROKERS",
)


def handler_iam_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker: Any) -> None:
    """The topic/ACL handler's environment as the constructs set it with IAM, on the
    harness `broker`: KAFKA_AUTH_MODE=iam, its test credentials and CA, no other Kafka
    variable (the brokers come as a resource property)."""
    for name in HANDLER_KAFKA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    throwaway_aws_credentials(monkeypatch, tmp_path)
    environ = broker.iam_client_env()
    del environ["KAFKA_BOOTSTRAP_BROKERS"]
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
