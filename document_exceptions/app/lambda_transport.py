"""Deliver through the producer Lambda, for applications with no network path to the brokers.

Each batch is one asynchronous invocation (``InvocationType="Event"``) of the producer
function with the payload ``{"messages": [<message>, ...], "raise_on_failure": true}``, each
message being the exact JSON the contract produced (the bytes are spliced, not re-encoded).
Batches are cut so that a payload stays under the asynchronous invocation limit (256 KB).
``raise_on_failure`` is how the handler's asynchronous callers ask it to fail the invocation
when a message is not acknowledged (an asynchronous caller cannot read its answer), so that
Lambda retries it; invalid messages are parked in the function's rejected-messages queue.
The function's ``KAFKA_TOPIC`` (and record key) must be the app's: the handler refuses
messages naming another topic.

A ``202`` means Lambda has queued the event: from there, retries of a failing function and the
on-failure destination are Lambda's (configured on the function), not this library's. Any
other outcome (throttling, a network error, access denied) fails the batch, which the sender
spools and replays. A single message larger than the limit can never be delivered this way
and is set aside in the spool's ``rejected`` table.

boto3 is imported only when this transport is used (``pip install document-exceptions[aws]``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from document_exceptions.app.transport import DeliveryError, Outgoing, ResultCallback

logger = logging.getLogger(__name__)

# Lambda's payload limit for asynchronous (Event) invocations.
ASYNC_PAYLOAD_LIMIT_BYTES = 256 * 1024
PAYLOAD_PREFIX = b'{"messages":['
PAYLOAD_SUFFIX = b'],"raise_on_failure":true}'
ACCEPTED_STATUS = 202
# Connection and read timeouts of the invoke call (an Event invoke answers in milliseconds).
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10


def lambda_client(region: str | None = None) -> Any:
    """A boto3 Lambda client with short timeouts and botocore's standard retry mode."""
    import boto3  # noqa: PLC0415 - optional dependency, only for this transport
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "lambda",
        region_name=region,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )


class LambdaTransport:
    """Invoke ``function_name`` asynchronously with batches of messages."""

    name = "lambda"

    def __init__(
        self,
        function_name: str,
        client: Any = None,
        *,
        region: str | None = None,
        payload_limit: int = ASYNC_PAYLOAD_LIMIT_BYTES,
        client_factory: Callable[[str | None], Any] = lambda_client,
    ) -> None:
        self.function_name = function_name
        self.payload_limit = payload_limit
        self._client = client if client is not None else client_factory(region)
        self.invocations = 0

    def deliver(self, items: Sequence[Outgoing], on_result: ResultCallback) -> None:
        """Invoke once per payload-sized chunk; report every item's outcome before returning."""
        for chunk in self.chunks(items, on_result):
            error = self._invoke(chunk)
            for item in chunk:
                on_result(item.token, error)

    def chunks(self, items: Sequence[Outgoing], on_result: ResultCallback) -> list[list[Outgoing]]:
        """Split ``items`` into payloads under the limit; report items that can never fit."""
        room = self.payload_limit - len(PAYLOAD_PREFIX) - len(PAYLOAD_SUFFIX)
        chunks: list[list[Outgoing]] = []
        current: list[Outgoing] = []
        size = 0
        for item in items:
            length = len(item.record.value) + 1  # the separating comma
            if length > room:
                on_result(
                    item.token,
                    DeliveryError(
                        f"message is {len(item.record.value)} bytes, more than the {room} an "
                        "asynchronous Lambda invocation can carry",
                        permanent=True,
                    ),
                )
                continue
            if current and size + length > room:
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += length
        if current:
            chunks.append(current)
        return chunks

    @staticmethod
    def payload(chunk: Sequence[Outgoing]) -> bytes:
        return PAYLOAD_PREFIX + b",".join(item.record.value for item in chunk) + PAYLOAD_SUFFIX

    def _invoke(self, chunk: Sequence[Outgoing]) -> BaseException | None:
        try:
            response = self._client.invoke(
                FunctionName=self.function_name,
                InvocationType="Event",
                Payload=self.payload(chunk),
            )
        except Exception as exc:  # botocore ClientError, connection and credential errors
            return DeliveryError(f"invoking {self.function_name} failed: {exc}", cause=exc)
        finally:
            self.invocations += 1
        status = response.get("StatusCode")
        if status != ACCEPTED_STATUS:
            return DeliveryError(
                f"invoking {self.function_name} answered {status}, not {ACCEPTED_STATUS}"
            )
        return None

    def close(self, timeout: float) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()
