"""One invocation's messages, whatever the event shape: prepare, publish together, park.

Every message is prepared first (`contract`), the valid ones are published with one send
loop and one flush (`Publisher.publish`), and the invalid ones are parked in the
rejected-messages queue when the shape asks for it. The outcome of each message, in order,
is a `PublishResult` (published, or failed with the exception) or the `ValidationError` of
a message that was rejected (and parked). A rejected message that could not be parked is a
failure (`ParkingError`): its caller retries it rather than lose it.

A caller is told why a message failed in general words (`caller_error`): the broker list,
the SASL user name and the endpoints stay in the function's log (`failure_details`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from document_exceptions.aws_clients import CALL_BUDGET_S
from document_exceptions.connection import ConfigurationError
from document_exceptions.contract import (
    ContractError,
    PreparedRecord,
    ValidationError,
    prepare_json,
    prepare_record,
)
from document_exceptions.publisher import (
    ProducerSettingsError,
    Publisher,
    PublishResult,
    describe_error,
)
from rejected_queue import ParkingError, Rejected, RejectedQueue, body_text

Outcome = PublishResult | ValidationError
# Time kept back from the invocation's remaining time for reporting after the flush.
REPORTING_MARGIN_S = 3.0
# The shortest publish: below this the records would fail without being sent.
MIN_PUBLISH_S = 1.0
LOG_HINT = "the producer's log has the details"
BROKER_ERROR = f"not acknowledged by the Kafka brokers ({LOG_HINT})"


@dataclass
class Batch:
    """What happened to one invocation's messages."""

    prepared: list[PreparedRecord | ValidationError]
    outcomes: list[Outcome]
    publish_ms: float | None = None  # None when nothing was valid
    not_parked: int = 0

    def counts(self) -> dict[str, int]:
        published = sum(1 for o in self.outcomes if isinstance(o, PublishResult) and o.published)
        rejected = sum(1 for o in self.outcomes if isinstance(o, ValidationError))
        return {
            "published": published,
            "rejected": rejected,
            "failed": len(self.outcomes) - published - rejected,
        }

    def metrics(self) -> list[tuple[str, str, float]]:
        """(name, unit, value) of each metric this batch adds to the invocation's."""
        counts = self.counts()
        found = [(name.capitalize(), "Count", float(counts[name])) for name in counts]
        if self.publish_ms is not None:
            found.append(("PublishLatency", "Milliseconds", self.publish_ms))
        if self.not_parked:
            found.append(("ParkingFailed", "Count", float(self.not_parked)))
        return found

    def failure_details(self) -> list[str]:
        """Each different reason a message failed, in full (for the log, never for callers)."""
        found = [
            failure_detail(outcome.error)
            for outcome in self.outcomes
            if isinstance(outcome, PublishResult) and outcome.error is not None
        ]
        return list(dict.fromkeys(found))

    def rejection_reasons(self) -> list[str]:
        return [str(o).replace("\n", "; ") for o in self.outcomes if isinstance(o, ValidationError)]

    def per_message(self) -> list[dict[str, Any]]:
        """One line per message sent (debug logs: identifiers and outcome, never the text)."""
        return [
            {
                "message": "published" if outcome.published else "not published",
                "order_req_id": item.message["order_req_id"],
                "exception_type": item.message["exception_type"],
                "partition": outcome.partition,
                "offset": outcome.offset,
                "error": outcome.error_text,
            }
            for item, outcome in zip(self.prepared, self.outcomes, strict=False)
            if isinstance(item, PreparedRecord) and isinstance(outcome, PublishResult)
        ]


def invocation_deadline(context: Any) -> float | None:
    """When the answer must be on its way (`time.monotonic()`); None without a context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + remaining() / 1000 - REPORTING_MARGIN_S


def prepare(item: Any, publisher: Publisher) -> PreparedRecord | ValidationError:
    """A message (object or JSON text) prepared for sending, or why it never can be."""
    try:
        if isinstance(item, (str, bytes)):
            return prepare_json(item, publisher.contract)
        return prepare_record(item, publisher.contract)
    except ValidationError as error:
        return error


def publish_batch(
    items: Sequence[Any],
    publisher: Publisher,
    *,
    deadline: float | None,
    rejected_queue: RejectedQueue | None = None,
    origin: str = "direct",
    prepared: Sequence[ValidationError | None] | None = None,
) -> Batch:
    """Publish the valid messages together; park the invalid ones if given a queue.

    `prepared`, by position: the error of an item already found invalid (its event envelope,
    say), or None to check the item against the contract.
    """
    known = prepared if prepared is not None else [None] * len(items)
    batch = Batch(
        [
            error if error is not None else prepare(item, publisher)
            for item, error in zip(items, known, strict=True)
        ],
        [],
    )
    entries = (
        [
            Rejected(str(index), body_text(items[index]), str(item))
            for index, item in enumerate(batch.prepared)
            if isinstance(item, ValidationError)
        ]
        if rejected_queue is not None
        else []
    )
    records = [item.record for item in batch.prepared if isinstance(item, PreparedRecord)]
    timeout_s = None
    if deadline is not None:  # leave time to park after the flush
        reserve = CALL_BUDGET_S if entries else 0.0
        timeout_s = max(MIN_PUBLISH_S, deadline - reserve - time.monotonic())
    started = time.perf_counter()
    results = iter(publisher.publish(records, timeout_s=timeout_s))
    if records:
        batch.publish_ms = (time.perf_counter() - started) * 1000
    batch.outcomes = [
        item if isinstance(item, ValidationError) else next(results) for item in batch.prepared
    ]
    if rejected_queue is not None and entries:
        not_parked = rejected_queue.park(entries, origin, deadline)
        for entry_id, cause in not_parked.items():
            index = int(entry_id)
            failure = ParkingError(
                f"rejected ({batch.outcomes[index]}), and parking it failed: "
                f"{cause if isinstance(cause, ParkingError) else type(cause).__name__}"
            )
            failure.__cause__ = cause
            batch.outcomes[index] = PublishResult.failed(failure)
        batch.not_parked = len(not_parked)
    return batch


def failed_batch(count: int, error: BaseException) -> Batch:
    """Every message failed for the same reason (the producer's configuration)."""
    return Batch([], [PublishResult.failed(error)] * count)


def result_dict(index: int, outcome: Outcome) -> dict[str, Any]:
    """One message's entry in a direct invocation's answer."""
    if isinstance(outcome, ValidationError):
        return {"index": index, "status": "rejected", "errors": outcome.to_list()}
    if outcome.published:
        return {"index": index, **outcome.to_dict()}
    return {"index": index, "status": "failed", "error": caller_error(outcome.error)}


def failure_reason(outcome: Outcome) -> str | None:
    """Why a message is to be retried (not acknowledged, or not parked), in the words a
    caller is given (`caller_error`); None otherwise."""
    if isinstance(outcome, PublishResult) and not outcome.published:
        return caller_error(outcome.error)
    return None


def caller_error(error: BaseException | None) -> str:
    """Why a message failed, as its caller is told: a rejection that could not be parked
    with its reason, the name of an invalid setting, otherwise a generic broker error."""
    if isinstance(error, ParkingError):
        return str(error)
    if isinstance(error, ConfigurationError):
        return f"the producer's configuration is invalid: {error.variable} ({LOG_HINT})"
    if isinstance(error, ProducerSettingsError):
        return f"the producer's configuration is invalid: {error.name} ({LOG_HINT})"
    if isinstance(error, ContractError):
        return f"the producer's configuration is invalid: {error.setting} ({LOG_HINT})"
    return BROKER_ERROR


def failure_detail(error: BaseException) -> str:
    """An error in full for the log: what failed, what to check, and what caused it."""
    text = describe_error(error)
    if hint := getattr(error, "hint", None):
        text += f" (check: {hint})"
    if error.__cause__ is not None:
        text += f"; caused by {describe_error(error.__cause__)}"
    return text
