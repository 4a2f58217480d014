"""document_exceptions.aws_clients: every AWS client the runtime builds gives up in time."""

from __future__ import annotations

from typing import Any

import pytest

from document_exceptions import aws_clients
from document_exceptions.connection import ConnectionResolver
from rejected_queue import RejectedQueue
from stacks.config import ProducerFunctionSettings

# The producer's AWS calls in one invocation, at worst: the secret (cold start or after an
# authentication failure), the brokers' lookup, and one SendMessageBatch (after a failed
# call the rest of the invocation's rejected messages are not tried).
PRODUCER_AWS_CALLS = 3


def assert_bounded(client: Any) -> None:
    config = client.meta.config
    assert config.connect_timeout == aws_clients.CONNECT_TIMEOUT_S
    assert config.read_timeout == aws_clients.READ_TIMEOUT_S
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == aws_clients.ATTEMPTS == 2


@pytest.mark.parametrize("service", ["sqs", "secretsmanager", "kafka", "lambda"])
def test_every_client_has_bounded_timeouts_and_standard_retries(
    service: str, fake_aws: None
) -> None:
    assert_bounded(aws_clients.aws_client(service))


def test_the_producers_clients_come_from_here(fake_aws: None) -> None:
    assert ConnectionResolver({})._client_factory is aws_clients.aws_client
    queue = RejectedQueue("https://sqs.eu-west-1.amazonaws.com/1/rejected")
    assert_bounded(queue._client_factory())


def test_the_producers_aws_calls_fit_well_inside_its_timeout() -> None:
    timeout_s = ProducerFunctionSettings().timeout_seconds
    worst_case = PRODUCER_AWS_CALLS * aws_clients.CALL_BUDGET_S
    assert worst_case <= timeout_s, (worst_case, timeout_s)
    assert timeout_s / 3 >= aws_clients.CALL_BUDGET_S
