"""boto3 clients with bounded time: every AWS client the runtime builds comes from here.

botocore's defaults (60 s to connect, 60 s to read, retried) outlast the producer Lambda's
timeout (60 s): one endpoint without a network path (a VPC with no interface endpoint for
the service) would hold the invocation until Lambda kills it, and every record of the batch
would be retried for it. A client from here gives up within `CALL_BUDGET_S`, so the caller
can fail the one record that needed the call and still answer in time.

AWS APIs called here (SQS SendMessageBatch, Secrets Manager GetSecretValue, MSK
GetBootstrapBrokers, Lambda Invoke with InvocationType=Event) answer in milliseconds; the
timeouts leave them two orders of magnitude of room.
"""

from __future__ import annotations

from typing import Any

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 3
# Tries of one call, the first included (botocore's standard retry mode; note that its
# `max_attempts` would count retries only).
ATTEMPTS = 2
# Longest pause before a retry in standard mode: a throttling error's jitter (up to 1 s),
# raised by at most 5 s when the service sends x-amz-retry-after.
MAX_RETRY_DELAY_S = 6
# The longest one API call through one of these clients can take, retries included.
CALL_BUDGET_S = ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + (ATTEMPTS - 1) * MAX_RETRY_DELAY_S


def client_config() -> Any:
    """The botocore `Config` every client here gets."""
    from botocore.config import Config  # noqa: PLC0415 - botocore only where AWS is called

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
    )


def aws_client(service: str, region: str | None = None) -> Any:
    """A boto3 client for `service` with the bounded timeouts and retries above.

    The endpoint is boto3's usual one; `AWS_ENDPOINT_URL_<SERVICE>` overrides it (how the
    tests point a client at a local endpoint).
    """
    import boto3  # noqa: PLC0415 - lazily: most invocations never call AWS

    return boto3.client(service, region_name=region, config=client_config())
