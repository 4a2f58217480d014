"""What the background sender needs from a way of delivering records.

A transport gets a batch of :class:`Outgoing` items and must report each item's outcome
exactly once through the callback: ``None`` for delivered, an exception otherwise. It may
report during ``deliver`` (the Lambda transport) or later from another thread (Kafka).
An error that retrying can never fix (the record is too large for the destination) is a
:class:`DeliveryError` with ``permanent=True``, or is recognised by ``is_permanent``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from document_exceptions.app.spool import WireRecord


class RecordLike(Protocol):
    """A contract ``PreparedRecord`` or a spooled ``WireRecord``."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    token: int
    record: RecordLike | WireRecord


ResultCallback = Callable[[int, BaseException | None], None]


class DeliveryError(Exception):
    """A batch or record was not delivered; ``permanent`` when retrying cannot help."""

    def __init__(
        self, message: str, *, permanent: bool = False, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.cause = cause


class Transport(Protocol):
    name: str

    def deliver(self, items: Sequence[Outgoing], on_result: ResultCallback) -> None: ...

    def close(self, timeout: float) -> None: ...


def is_permanent(error: BaseException) -> bool:
    """True for errors that no amount of retrying fixes for this record."""
    if isinstance(error, DeliveryError):
        return error.permanent
    return type(error).__name__ in PERMANENT_KAFKA_ERRORS


# kafka-python errors about the record itself (by name, so kafka-python is not imported).
PERMANENT_KAFKA_ERRORS = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordListTooLargeError",
        "InvalidRecordError",
        "CorruptRecordError",
    }
)
