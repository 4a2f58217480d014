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

from document_exceptions.app.transport import DeliveryError, Outcome, UndeliverableError
from document_exceptions.aws_clients import aws_client
from document_exceptions.chunking import size_bounded_chunks
from document_exceptions.record import Record

logger = logging.getLogger(__name__)

# Lambda's payload limit for asynchronous (Event) invocations.
ASYNC_PAYLOAD_LIMIT_BYTES = 256 * 1024
PAYLOAD_PREFIX = b'{"messages":['
PAYLOAD_SUFFIX = b'],"raise_on_failure":true}'
ACCEPTED_STATUS = 202


def lambda_client(region: str | None = None) -> Any:
    """A boto3 Lambda client with the runtime's bounded timeouts and standard retries."""
    return aws_client("lambda", region)


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

    @property
    def room(self) -> int:
        """Bytes of messages one payload can carry."""
        return self.payload_limit - len(PAYLOAD_PREFIX) - len(PAYLOAD_SUFFIX)

    def deliver(self, records: Sequence[Record]) -> list[Outcome]:
        """Invoke once per payload-sized chunk; one outcome per record, in order."""
        outcomes: list[Outcome] = [None] * len(records)
        for index, record in enumerate(records):
            if not self._fits(record):
                outcomes[index] = UndeliverableError(
                    f"message is {len(record.value)} bytes, more than the {self.room} an "
                    "asynchronous Lambda invocation can carry"
                )
        for chunk in self.chunks(records):
            error = self._invoke([records[index] for index in chunk])
            for index in chunk:
                outcomes[index] = error
        return outcomes

    def chunks(self, records: Sequence[Record]) -> list[list[int]]:
        """Indices of the records each invocation carries (records that fit in none: left out)."""
        return size_bounded_chunks(
            (index for index, record in enumerate(records) if self._fits(record)),
            lambda index: _payload_bytes(records[index]),
            self.room,
        )

    def _fits(self, record: Record) -> bool:
        return _payload_bytes(record) <= self.room

    @staticmethod
    def payload(chunk: Sequence[Record]) -> bytes:
        return PAYLOAD_PREFIX + b",".join(record.value for record in chunk) + PAYLOAD_SUFFIX

    def _invoke(self, chunk: Sequence[Record]) -> BaseException | None:
        try:
            response = self._client.invoke(
                FunctionName=self.function_name,
                InvocationType="Event",
                Payload=self.payload(chunk),
            )
        except Exception as exc:  # botocore ClientError, connection and credential errors
            error = DeliveryError(f"invoking {self.function_name} failed: {exc}")
            error.__cause__ = exc
            return error
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


def _payload_bytes(record: Record) -> int:
    return len(record.value) + 1  # the separating comma
