"""Step 3: the topic-bootstrap custom resource handler, fed CloudFormation Create events.

`handler.on_event` is loaded from `topic_bootstrap/` the way Lambda runs it (its modules under
their own names, see `tests/topic_bootstrap_asset.py`). The event is what the CDK Provider
framework hands the on-event function: CloudFormation's request with `ResponseURL` replaced,
and the `KafkaTopic` construct's properties, every scalar a string. It runs as the construct
deploys it with IAM: `KAFKA_AUTH_MODE=iam` in its environment, the cluster's ARN and the IAM
broker string (here the harness's) in its properties, no SecretArn; it signs its
AWS_MSK_IAM login with the demo's test credentials.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient

from demo.console import Console, StepFailedError
from demo.local_kafka import iam_environment
from document_exceptions.connection import from_environment
from document_exceptions.names import TOPIC_RESOURCE_TYPE
from tests.harness import SaslSslBroker
from tests.topic_bootstrap_asset import load

LOCAL_BROKERS = 1  # one Tansu broker
HANDLER_TIMEOUT_MS = 300_000  # the on-event function's Lambda timeout (5 minutes)
TOPIC_TIMEOUT_SECONDS = "60"


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers read."""

    function_name: str
    timeout_ms: int
    memory_limit_in_mb: int = 256
    aws_request_id: str = ""
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "demo"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_ms / 1000
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class PlanCapture(logging.Handler):
    """Keeps the one-line plan summaries the topic resource logs (`extra={"plan": ...}`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.plans: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        plan = getattr(record, "plan", None)
        if isinstance(plan, str):
            self.plans.append(plan)


# A cluster ARN of the right shape for the local broker (the physical id is built from it).
LOCAL_CLUSTER_UUID = "00000000-0000-0000-0000-000000000000-1"


def topic_properties(config: Any, topic_name: str, brokers: str) -> dict[str, Any]:
    """The KafkaTopic construct's ResourceProperties for `config`'s topic with IAM, with
    `brokers` (the local broker) as the IAM broker string."""
    topic = config.topic
    return {
        "ServiceToken": (
            f"arn:aws:lambda:{config.region}:{config.account}:function:"
            f"{config.stack_name}-TopicBootstrapProviderframework-onEvent"
        ),
        "TopicName": topic_name,
        "Partitions": str(topic.partitions),
        "ReplicationFactor": str(min(topic.replication_factor, LOCAL_BROKERS)),
        "Configs": {key: str(value) for key, value in sorted(topic.configs.items())},
        "DeletionPolicy": topic.deletion_policy,
        "TimeoutSeconds": TOPIC_TIMEOUT_SECONDS,
        "ClusterArn": (
            f"arn:aws:kafka:{config.region}:{config.account}:cluster/"
            f"{config.stack_name}-local/{LOCAL_CLUSTER_UUID}"
        ),
        "BootstrapBrokers": brokers,
    }


def create_event(config: Any, properties: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation Create request as the Provider framework passes it on."""
    return {
        "RequestType": "Create",
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": "...",
        "StackId": (
            f"arn:aws:cloudformation:{config.region}:{config.account}:stack/"
            f"{config.stack_name}/{uuid.uuid4()}"
        ),
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "DocumentExceptionsTopic",
        "ResourceType": TOPIC_RESOURCE_TYPE,
        "ResourceProperties": properties,
    }


def describe_topic(name: str) -> list[dict[str, Any]]:
    """The topic's partitions as the broker describes them (kafka-python admin client)."""
    connection = from_environment()
    if connection is None:
        raise StepFailedError("KAFKA_BOOTSTRAP_SERVERS is not set")
    admin = KafkaAdminClient(**connection.client_kwargs(), client_id="document-exceptions-demo")
    try:
        (topic,) = admin.describe_topics([name])
    finally:
        admin.close()
    if topic.get("error_code"):
        raise StepFailedError(f"describe {name}: error code {topic['error_code']}")
    return sorted(topic["partitions"], key=lambda p: p["partition_index"])


def run(console: Console, config: Any, topic_name: str, broker: SaslSslBroker) -> None:
    with console.quiet():
        handler = load("handler")
    console.route_logging()
    plans = PlanCapture()
    logging.getLogger("topic_resource").addHandler(plans)
    properties = topic_properties(config, topic_name, broker.bootstrap)
    iam_logins = len(broker.front_end.iam_principals)
    wanted_rf = config.topic.replication_factor
    if int(properties["ReplicationFactor"]) != wanted_rf:
        console.detail(
            f"RF {properties['ReplicationFactor']} locally (one broker; {wanted_rf} on MSK): the "
            "handler refuses more replicas than brokers"
        )
    try:
        answers = []
        for attempt in ("Create", "Create again"):
            event = create_event(config, properties)
            context = LambdaContext(
                f"{config.stack_name}-TopicBootstrapOnEvent", HANDLER_TIMEOUT_MS
            )
            try:
                with console.quiet(), iam_environment(broker):
                    answer = handler.on_event(event, context)
            except Exception as exc:  # the reason CloudFormation would show
                raise StepFailedError(f"{attempt}: FAILED: {exc}") from None
            plan = plans.plans[-1] if plans.plans else "(no plan logged)"
            login = " (AWS_MSK_IAM login)" if len(answers) == 0 else ""
            console.detail(f"{attempt:<13} -> {plan}{login}")
            answers.append(answer)
    finally:
        logging.getLogger("topic_resource").removeHandler(plans)
    if len(broker.front_end.iam_principals) == iam_logins:
        raise StepFailedError("the topic function did not sign in with IAM")
    if answers[0] != answers[1]:
        raise StepFailedError(f"the second Create answered differently: {answers[1]}")
    if not plans.plans or "no change" not in plans.plans[-1]:
        raise StepFailedError("the second Create did not adopt the topic unchanged")
    partitions = describe_topic(topic_name)
    replicas = {len(p["replica_nodes"]) for p in partitions}
    console.detail(
        f"describe: {topic_name} has {len(partitions)} partitions "
        f"({', '.join(str(p['partition_index']) for p in partitions)}), "
        f"{'/'.join(map(str, sorted(replicas)))} replica(s) each"
    )
    if len(partitions) != int(properties["Partitions"]):
        raise StepFailedError(
            f"{topic_name} has {len(partitions)} partitions, not {properties['Partitions']}"
        )
