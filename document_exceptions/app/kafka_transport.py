"""Deliver straight to Kafka (MSK) with the producer Lambda's own `Publisher`.

The same code, settings and recovery as the producer Lambda (``publisher.py``): one
``KafkaProducer`` per process, created lazily on the first batch (in the sender's thread,
never in a request), a record is delivered only when the broker acknowledged it, and after a
failure the producer is replaced so the next attempt starts with a fresh producer id.
"""

from __future__ import annotations

from collections.abc import Sequence

from document_exceptions.app.settings import AppSettings
from document_exceptions.app.transport import (
    PERMANENT_KAFKA_ERRORS,
    DeliveryError,
    Outgoing,
    ResultCallback,
)
from document_exceptions.connection import KafkaConnection
from document_exceptions.publisher import Publisher


class FixedConnection:
    """The connection resolved from the app's settings (no Secrets Manager lookup).

    A `ConnectionSource`: re-reading static settings after an authentication failure would
    give the same answer, so `invalidate` does nothing.
    """

    def __init__(self, connection: KafkaConnection) -> None:
        self._connection = connection

    def get(self) -> KafkaConnection:
        return self._connection

    def invalidate(self) -> None:
        """Static settings: nothing to re-read."""


class KafkaTransport:
    name = "kafka"

    def __init__(self, settings: AppSettings) -> None:
        if settings.connection is None:
            raise ValueError("the kafka transport needs KAFKA_BOOTSTRAP_SERVERS")
        self.publisher = Publisher(
            FixedConnection(settings.connection),
            settings.producer,
            settings.contract,
        )

    def deliver(self, items: Sequence[Outgoing], on_result: ResultCallback) -> None:
        """Publish the batch and wait for it; report each record as acknowledged or not.

        Synchronous per batch (the Publisher's contract): the sender's thread blocks here, up
        to the delivery timeout, while new records gather in the buffer for the next batch.
        """
        results = self.publisher.publish([item.record for item in items])  # type: ignore[misc]
        for item, result in zip(items, results, strict=True):
            if result.published:
                on_result(item.token, None)
            else:
                on_result(
                    item.token,
                    DeliveryError(
                        result.error or "not acknowledged",
                        permanent=result.error_type in PERMANENT_KAFKA_ERRORS,
                    ),
                )

    @property
    def producers_created(self) -> int:
        return self.publisher.producers_created

    def close(self, timeout: float) -> None:
        self.publisher.close(timeout)
