"""The producer Lambda: publish document-access exceptions to Kafka (handler `handler.handler`).

Event shapes, told apart by `event_shape`:

1. Direct invocation: one message (`{"order_req_id": ..., ...}`), a list of messages, or
   `{"messages": [...]}` (each a JSON object or its JSON text). The answer is
   `{"results": [...], "published": n, "rejected": n, "failed": n}`, one result per message
   in order: `{"index", "status": "published", "partition", "offset"}`,
   `{"index", "status": "rejected", "errors": [{"field", "problem"}]}` or
   `{"index", "status": "failed", "error"}`. Never a stack trace.
   Asynchronous callers (`InvocationType=Event`) cannot read that answer: they add
   `"raise_on_failure": true`, so invalid messages are parked in the rejected-messages queue
   and any message not acknowledged makes the invocation fail (Lambda retries it, then
   hands it to the on-failure destination).
2. SQS batches (`ReportBatchItemFailures`, Powertools `BatchProcessor`): only records the
   broker did not acknowledge are reported failed. Records that can never succeed (not
   JSON, breaking the contract) are parked in the rejected-messages queue
   (`REJECTED_QUEUE_URL`) with the reason and are not reported failed, unless parking
   them fails.
3. EventBridge events with `detail-type` `DocumentAccessException` (`EVENTBRIDGE_DETAIL_TYPE`):
   `detail` is the message. Invalid ones are parked; a message not acknowledged raises
   `PublishFailedError` so Lambda's asynchronous retries and on-failure destination apply.

The SQS path publishes the whole batch with one send loop and one flush: every record is
parsed and prepared first, the valid ones are published together, and only then does
`BatchProcessor` walk the records, its record handler returning or raising the outcome
already known for each one. Per-record results stay Powertools', the Kafka round trips are
per batch.

Module import does only cheap set-up: the producer, the secret and the SQS client are made
on first use and reused by later invocations of the same container.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from document_exceptions.contract import (
    EVENTBRIDGE_DETAIL_TYPE,
    FieldError,
    PreparedRecord,
    ValidationError,
    prepare_json,
    prepare_record,
)
from document_exceptions.publisher import Publisher, PublishResult

SERVICE_NAME = "document-exceptions-producer"
REJECTED_QUEUE_URL_VARIABLE = "REJECTED_QUEUE_URL"
# Time kept back from the invocation's remaining time for reporting after the flush.
REPORTING_MARGIN_S = 3.0
MAX_REASON_CHARS = 4_000  # SQS message attributes count against the message size
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 262_144
GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700; see tune_garbage_collector

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "DocumentExceptions"))
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

EventShape = Literal["sqs", "eventbridge", "direct"]


class PublishFailedError(RuntimeError):
    """Messages were not acknowledged by the broker (asynchronous invocations retry on it)."""


class ParkingError(RuntimeError):
    """Rejected messages could not be written to the rejected-messages queue."""


class RejectedQueue:
    """The queue for messages that can never be published; the boto3 client is made on use."""

    def __init__(self, queue_url: str | None) -> None:
        self.queue_url = queue_url
        self._client: Any = None

    def park(self, entries: Sequence[tuple[str, str, str]], origin: str) -> set[str]:
        """Send (id, body, reason) entries; return the ids that could NOT be parked."""
        if not entries:
            return set()
        if not self.queue_url:
            logger.error(f"{REJECTED_QUEUE_URL_VARIABLE} is not set: rejected messages stay put")
            return {entry_id for entry_id, _, _ in entries}
        if self._client is None:
            import boto3  # noqa: PLC0415 - lazily: most invocations never reject anything

            self._client = boto3.client("sqs")
        not_parked: set[str] = set()
        for chunk in _sqs_chunks(entries):
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        _rejected_entry(index, body, reason, origin)
                        for index, (_, body, reason) in enumerate(chunk)
                    ],
                )
            except Exception as exc:  # any AWS or network error: these records are not parked
                logger.error("parking rejected messages failed", extra={"error": str(exc)})
                not_parked.update(entry_id for entry_id, _, _ in chunk)
                continue
            for failure in response.get("Failed", []):
                entry_id = chunk[int(failure["Id"])][0]
                logger.error(
                    "parking a rejected message failed",
                    extra={
                        "entry": entry_id,
                        "code": failure.get("Code"),
                        "error": failure.get("Message"),
                    },
                )
                not_parked.add(entry_id)
        return not_parked


def _rejected_entry(index: int, body: str, reason: str, origin: str) -> dict[str, Any]:
    return {
        "Id": str(index),
        "MessageBody": body or "(empty)",
        "MessageAttributes": {
            "reason": {"DataType": "String", "StringValue": reason[:MAX_REASON_CHARS]},
            "origin": {"DataType": "String", "StringValue": origin},
        },
    }


def _sqs_chunks(entries: Sequence[tuple[str, str, str]]) -> list[list[tuple[str, str, str]]]:
    """Split into SendMessageBatch calls: at most 10 entries and 256 KiB each."""
    chunks: list[list[tuple[str, str, str]]] = []
    current: list[tuple[str, str, str]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry[1].encode()) + min(len(entry[2]), MAX_REASON_CHARS) + 64
        if current and (len(current) == SQS_BATCH_ENTRIES or size + entry_size > SQS_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


@dataclass
class Runtime:
    """Per-container state, made on the first invocation and reused."""

    publisher: Publisher
    rejected: RejectedQueue


_runtime: Runtime | None = None


def tune_garbage_collector() -> None:
    """Fewer, cheaper garbage collections for a process that only runs this handler.

    A batch allocates a few tracked objects per message (dicts, lists, futures) that live
    until the flush; with CPython's default threshold (700) the collector keeps scanning
    them. Measured (bench, 1,000-record batches): about 20 -> 12 us of CPU per message for
    parse + validate + serialize. The objects imported at cold start are frozen so that
    full collections skip them. Only inside Lambda (AWS_LAMBDA_FUNCTION_NAME set), never in
    a process that merely imports this module.
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one per container, created lazily on purpose
    if _runtime is None:
        tune_garbage_collector()
        _runtime = Runtime(
            publisher=Publisher.from_environment(),
            rejected=RejectedQueue(os.environ.get(REJECTED_QUEUE_URL_VARIABLE) or None),
        )
    return _runtime


def publisher() -> Publisher:
    return runtime().publisher


def reset() -> None:
    """Forget the per-container state (closing the producer): for tests and the benchmark."""
    global _runtime  # noqa: PLW0603
    if _runtime is not None:
        _runtime.publisher.close()
    _runtime = None


# --- plain functions ----------------------------------------------------------------------


def event_shape(event: Any) -> EventShape:
    if isinstance(event, dict):
        records = event.get("Records")
        if (
            isinstance(records, list)
            and records
            and isinstance(records[0], dict)
            and records[0].get("eventSource") == "aws:sqs"
        ):
            return "sqs"
        if "detail-type" in event and "detail" in event and "source" in event:
            return "eventbridge"
    return "direct"


def prepare(item: Any, publisher_: Publisher) -> PreparedRecord | ValidationError:
    """A message (object or JSON text) prepared for sending, or why it never can be."""
    try:
        if isinstance(item, (str, bytes)):
            return prepare_json(item, publisher_.contract)
        return prepare_record(item, publisher_.contract)
    except ValidationError as error:
        return error


def publish_prepared(
    items: Sequence[PreparedRecord | ValidationError],
    publisher_: Publisher,
    timeout_s: float | None,
) -> list[PublishResult | ValidationError]:
    """Publish the prepared items together; validation errors pass through in place."""
    records = [item for item in items if isinstance(item, PreparedRecord)]
    started = time.perf_counter()
    results = iter(publisher_.publish(records, timeout_s=timeout_s))
    if records:
        metrics.add_metric(
            name="PublishLatency",
            unit=MetricUnit.Milliseconds,
            value=(time.perf_counter() - started) * 1000,
        )
    outcomes: list[PublishResult | ValidationError] = [
        item if isinstance(item, ValidationError) else next(results) for item in items
    ]
    if logger.log_level > logging.DEBUG:
        return outcomes
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(item, PreparedRecord) and isinstance(outcome, PublishResult):
            logger.debug(
                "published" if outcome.published else "not published",
                extra={
                    "order_req_id": item.message["order_req_id"],
                    "exception_type": item.message["exception_type"],
                    "partition": outcome.partition,
                    "offset": outcome.offset,
                    "error": outcome.error,
                },
            )
    return outcomes


def count_outcomes(
    outcomes: Sequence[PublishResult | ValidationError], parked_failures: int = 0
) -> dict[str, int]:
    published = sum(1 for o in outcomes if isinstance(o, PublishResult) and o.published)
    rejected = sum(1 for o in outcomes if isinstance(o, ValidationError))
    failed = len(outcomes) - published - rejected
    metrics.add_metric(name="Published", unit=MetricUnit.Count, value=published)
    metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=rejected)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=failed + parked_failures)
    return {"published": published, "rejected": rejected, "failed": failed}


def publish_timeout(context: Any) -> float | None:
    """What is left of the invocation, minus time to report; None without a context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return max(1.0, remaining() / 1000 - REPORTING_MARGIN_S)


def log_rejections(outcomes: Sequence[PublishResult | ValidationError], shape: EventShape) -> None:
    errors = [str(o).replace("\n", "; ") for o in outcomes if isinstance(o, ValidationError)]
    if errors:
        logger.warning(
            "messages rejected by the contract",
            extra={"shape": shape, "count": len(errors), "first_reasons": errors[:5]},
        )


# --- the three event shapes ---------------------------------------------------------------


def handle_direct(event: Any, context: Any) -> dict[str, Any]:
    raise_on_failure = isinstance(event, dict) and event.get("raise_on_failure") is True
    if isinstance(event, dict) and "messages" in event:
        items = event["messages"]
        if not isinstance(items, list):
            items = [event["messages"]]
            outcomes: list[PublishResult | ValidationError] = [
                ValidationError([FieldError("messages", "expected a list of messages")])
            ]
            return _direct_response(items, outcomes, raise_on_failure)
    else:
        items = event if isinstance(event, list) else [event]
    try:
        publisher_ = publisher()
    except Exception as exc:  # configuration errors: answer every message with the cause
        logger.error("producer configuration is invalid", extra={"error": str(exc)})
        outcomes = [PublishResult.failed(exc)] * len(items)
    else:
        outcomes = publish_prepared(
            [prepare(item, publisher_) for item in items], publisher_, publish_timeout(context)
        )
    return _direct_response(items, outcomes, raise_on_failure)


def _direct_response(
    items: Sequence[Any],
    outcomes: Sequence[PublishResult | ValidationError],
    raise_on_failure: bool,
) -> dict[str, Any]:
    counts = count_outcomes(outcomes)
    log_rejections(outcomes, "direct")
    logger.info("direct invocation", extra={"messages": len(items), **counts})
    if raise_on_failure:
        _park_or_raise(outcomes, items, "direct")
        if counts["failed"]:
            raise PublishFailedError(
                f"{counts['failed']} of {len(items)} messages were not acknowledged"
            )
    return {"results": [_direct_result(i, o) for i, o in enumerate(outcomes)], **counts}


def _direct_result(index: int, outcome: PublishResult | ValidationError) -> dict[str, Any]:
    if isinstance(outcome, ValidationError):
        return {"index": index, "status": "rejected", "errors": outcome.to_list()}
    return {"index": index, **outcome.to_dict()}


def _park_or_raise(
    outcomes: Sequence[PublishResult | ValidationError], items: Sequence[Any], origin: str
) -> None:
    entries = [
        (str(i), _body_text(items[i]), str(o))
        for i, o in enumerate(outcomes)
        if isinstance(o, ValidationError)
    ]
    not_parked = runtime().rejected.park(entries, origin)
    if not_parked:
        raise ParkingError(f"{len(not_parked)} rejected messages could not be parked")


def _body_text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode(errors="replace")
    if isinstance(item, str):
        return item
    try:
        return json.dumps(item, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(item)


def handle_eventbridge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    publisher_ = publisher()
    if event.get("detail-type") != EVENTBRIDGE_DETAIL_TYPE:
        item: PreparedRecord | ValidationError = ValidationError(
            [
                FieldError(
                    "detail-type",
                    f"{event.get('detail-type')!r} is not {EVENTBRIDGE_DETAIL_TYPE!r}",
                )
            ]
        )
    else:
        item = prepare(event["detail"], publisher_)
    outcomes = publish_prepared([item], publisher_, publish_timeout(context))
    counts = count_outcomes(outcomes)
    log_rejections(outcomes, "eventbridge")
    logger.info("EventBridge event", extra={"event_id": event.get("id"), **counts})
    _park_or_raise(outcomes, [event.get("detail")], "eventbridge")
    if counts["failed"]:
        raise PublishFailedError(f"event {event.get('id')} was not acknowledged: {outcomes[0]}")
    return {"results": [_direct_result(0, outcomes[0])], **counts}


class RecordNotPublishedError(Exception):
    """Raised by the SQS record handler for a record that is to be retried."""


def handle_sqs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    try:
        publisher_ = publisher()
        items = [prepare(record.get("body", ""), publisher_) for record in records]
        outcomes = publish_prepared(items, publisher_, publish_timeout(context))
    except Exception as exc:  # configuration errors: every record is retried
        logger.error("producer configuration is invalid", extra={"error": str(exc)})
        outcomes = [PublishResult.failed(exc)] * len(records)
    entries = [
        (record["messageId"], record.get("body", ""), str(outcome))
        for record, outcome in zip(records, outcomes, strict=True)
        if isinstance(outcome, ValidationError)
    ]
    not_parked = runtime().rejected.park(entries, "sqs") if entries else set()
    counts = count_outcomes(outcomes, parked_failures=len(not_parked))
    log_rejections(outcomes, "sqs")

    failures: dict[str, str] = {}
    for record, outcome in zip(records, outcomes, strict=True):
        if isinstance(outcome, PublishResult) and not outcome.published:
            failures[record["messageId"]] = outcome.error or "not acknowledged"
        elif record["messageId"] in not_parked:
            failures[record["messageId"]] = "rejected, and parking it failed"

    def record_handler(record: SQSRecord) -> None:
        reason = failures.get(record.message_id)
        if reason is not None:
            raise RecordNotPublishedError(reason)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    logger.info(
        "SQS batch",
        extra={
            "records": len(records),
            **counts,
            "reported_failed": len(response["batchItemFailures"]),
        },
    )
    return response


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    shape = event_shape(event)
    if shape == "sqs":
        return handle_sqs(event, context)
    if shape == "eventbridge":
        return handle_eventbridge(event, context)
    try:
        return handle_direct(event, context)
    except (PublishFailedError, ParkingError):
        raise
    except Exception as exc:  # a synchronous caller gets a clear answer, never a stack trace
        logger.exception("direct invocation failed")
        if isinstance(event, dict) and event.get("raise_on_failure") is True:
            raise
        return {
            "results": [],
            "published": 0,
            "rejected": 0,
            "failed": 0,
            "error": f"{type(exc).__name__}: {exc}",
        }
