"""Deliver straight to Kafka (MSK) with the producer Lambda's own `Publisher`.

The same code, settings and recovery as the producer Lambda (``publisher.py``): one
``KafkaProducer`` per process, created lazily on the first batch (in the sender's thread,
never in a request), a record is delivered only when the broker acknowledged it, and after a
failure the producer is replaced so the next attempt starts with a fresh producer id.
"""

from __future__ import annotations

from collections.abc import Sequence

from document_exceptions.app.settings import AppSettings
from document_exceptions.app.transport import Outcome
from document_exceptions.connection import KafkaConnection
from document_exceptions.publisher import Publisher
from document_exceptions.record import Record


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

    def deliver(self, records: Sequence[Record]) -> list[Outcome]:
        """Publish the batch and wait for it: each record's exception, or None if acknowledged.

        The sender's thread blocks here, up to the delivery timeout, while new records
        gather in the buffer for the next batch.
        """
        return [result.error for result in self.publisher.publish(records)]

    @property
    def producers_created(self) -> int:
        return self.publisher.producers_created

    def close(self, timeout: float) -> None:
        self.publisher.close(timeout)
