"""What the background sender needs from a way of delivering records.

The sender's delivery thread calls ``deliver`` with a batch of records and waits: the
transport returns one outcome per record, in order, ``None`` for delivered or the exception
that says why not. Whether a failure is worth retrying is decided by its type
(:func:`is_permanent`), never by its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from document_exceptions.publisher import RECORD_ERRORS
from document_exceptions.record import Record

Outcome = BaseException | None


class DeliveryError(Exception):
    """A batch or record was not delivered this time; delivering it again may succeed."""


class UndeliverableError(Exception):
    """This record can never be delivered this way (larger than the destination accepts)."""


# Failures that no amount of retrying fixes for this record.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (UndeliverableError, *RECORD_ERRORS)


class Transport(Protocol):
    name: str

    def deliver(self, records: Sequence[Record]) -> list[Outcome]:
        """Deliver the batch; one outcome per record, in order, when it returns."""
        ...

    def close(self, timeout: float) -> None: ...


def is_permanent(error: BaseException) -> bool:
    """True for errors that no amount of retrying fixes for this record."""
    return isinstance(error, PERMANENT_ERRORS)
