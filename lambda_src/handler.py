"""The producer Lambda (`handler.handler`): document-access exceptions to Kafka.

Event shapes, told apart by `event_shape`, each a plain function over `publishing.py` (one
flush per invocation) and `rejected_queue.py` (where invalid messages are parked):

- SQS batches (`ReportBatchItemFailures`): a record not acknowledged, or invalid and not
  parked, is a batch item failure; invalid records are parked with the reason.
- EventBridge (detail-type `DocumentAccessException`, the message in `detail`): invalid
  ones are parked; a failure raises `PublishFailedError` for Lambda's retries.
- Direct invocation (one message, a list, or `{"messages": [...]}`): one result per message
  (`published` with partition and offset, `rejected` with the field errors, `failed` with
  the error), never a stack trace. Asynchronous callers add `"raise_on_failure": true`:
  invalid messages are parked and any failure raises `PublishFailedError`.

Import does only cheap set-up: the producer, the secret and the SQS client are made on first
use and reused by later invocations of the same container.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger, Metrics

import publishing
from document_exceptions import names
from document_exceptions.contract import FieldError, ValidationError
from document_exceptions.publisher import Publisher
from rejected_queue import RejectedQueue

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700; see tune_garbage_collector

logger = Logger(service=os.environ.get(names.SERVICE_NAME_VARIABLE, names.SERVICE_NAME))
metrics = Metrics(
    namespace=os.environ.get(names.METRICS_NAMESPACE_VARIABLE, names.METRICS_NAMESPACE)
)

EventShape = Literal["sqs", "eventbridge", "direct"]


@functools.cache
def sqs_processor() -> BatchProcessor:
    """Powertools' SQS batch processor, made on the first SQS event.

    Its module imports asyncio and every event data class, most of what `import handler`
    would otherwise cost beyond kafka-python (`make bench`, cold start); direct and
    EventBridge invocations never need it.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class PublishFailedError(RuntimeError):
    """Messages were not published or parked (asynchronous invocations are retried on it)."""


class RecordNotPublishedError(Exception):
    """Raised by the SQS record handler for a record that is to be retried."""


@dataclass
class Runtime:
    """Per-container state, made on the first invocation and reused."""

    publisher: Publisher
    rejected: RejectedQueue


_runtime: Runtime | None = None


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections in a process that only runs this handler (inside Lambda).

    A batch allocates a few tracked objects per message that live until the flush; with
    CPython's default threshold the collector keeps scanning them (`make bench` measures the
    difference). The objects imported at cold start are frozen so full collections skip them.
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one per container, created lazily on purpose
    if _runtime is None:
        tune_garbage_collector()
        _runtime = Runtime(
            Publisher.from_environment(),
            RejectedQueue(os.environ.get(names.REJECTED_QUEUE_URL_VARIABLE) or None),
        )
    return _runtime


def reset() -> None:
    """Forget the per-container state (closing the producer): for tests and the benchmark."""
    global _runtime  # noqa: PLW0603
    if _runtime is not None:
        _runtime.publisher.close()
    _runtime = None


def event_shape(event: Any) -> EventShape:
    if isinstance(event, dict):
        records = event.get("Records")
        first = records[0] if isinstance(records, list) and records else None
        if isinstance(first, dict) and first.get("eventSource") == "aws:sqs":
            return "sqs"
        if "detail-type" in event and "detail" in event and "source" in event:
            return "eventbridge"
    return "direct"


def publish(
    items: list[Any],
    context: Any,
    shape: EventShape,
    *,
    park: bool,
    prepared: list[ValidationError] | None = None,
) -> publishing.Batch:
    """Publish (and park) one invocation's messages; log and count what happened."""
    try:
        state = runtime()
    except Exception as exc:  # configuration errors: every message fails with the cause
        logger.error("producer configuration is invalid", extra={"error": str(exc)})
        batch = publishing.failed_batch(len(items), exc)
    else:
        queue = state.rejected if park else None
        deadline = publishing.invocation_deadline(context)
        batch = publishing.publish_batch(
            items,
            state.publisher,
            deadline=deadline,
            rejected_queue=queue,
            origin=shape,
            prepared=prepared,
        )
    for name, unit, value in batch.metrics():
        metrics.add_metric(name=name, unit=unit, value=value)
    if batch.not_parked:
        logger.error("rejected messages could not be parked", extra={"count": batch.not_parked})
    if reasons := batch.rejection_reasons():
        extra = {"shape": shape, "count": len(reasons), "first_reasons": reasons[:5]}
        logger.warning("messages rejected by the contract", extra=extra)
    if logger.log_level <= logging.DEBUG:
        for line in batch.per_message():
            logger.debug(line.pop("message"), extra=line)
    return batch


def handle_sqs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    batch = publish([r.get("body", "") for r in records], context, "sqs", park=True)
    failures = {
        record["messageId"]: reason
        for record, outcome in zip(records, batch.outcomes, strict=True)
        if (reason := publishing.failure_reason(outcome)) is not None
    }

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in failures:
            raise RecordNotPublishedError(failures[record.message_id])

    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=sqs_processor(), context=context
    )
    extra = {"records": len(records), **batch.counts(), "reported_failed": len(failures)}
    logger.info("SQS batch", extra=extra)
    return response


def handle_eventbridge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail_type = event.get("detail-type")
    prepared = None
    if detail_type != names.EVENTBRIDGE_DETAIL_TYPE:
        problem = f"{detail_type!r} is not {names.EVENTBRIDGE_DETAIL_TYPE!r}"
        prepared = [ValidationError([FieldError("detail-type", problem)])]
    batch = publish([event.get("detail")], context, "eventbridge", park=True, prepared=prepared)
    logger.info("EventBridge event", extra={"event_id": event.get("id"), **batch.counts()})
    (outcome,) = batch.outcomes
    if (reason := publishing.failure_reason(outcome)) is not None:
        raise PublishFailedError(
            f"event {event.get('id')} was not acknowledged or parked: {reason}"
        )
    return {"results": [publishing.result_dict(0, outcome)], **batch.counts()}


def handle_direct(event: Any, context: Any) -> dict[str, Any]:
    asynchronous = isinstance(event, dict) and event.get("raise_on_failure") is True
    messages = event.get("messages", event) if isinstance(event, dict) else event
    items = messages if isinstance(messages, list) else [messages]
    prepared = None
    if isinstance(event, dict) and "messages" in event and not isinstance(messages, list):
        prepared = [ValidationError([FieldError("messages", "expected a list of messages")])]
    batch = publish(items, context, "direct", park=asynchronous, prepared=prepared)
    counts = batch.counts()
    logger.info("direct invocation", extra={"messages": len(items), **counts})
    if asynchronous and counts["failed"]:
        raise PublishFailedError(
            f"{counts['failed']} of {len(items)} messages were not acknowledged or parked"
        )
    return {
        "results": [publishing.result_dict(i, o) for i, o in enumerate(batch.outcomes)],
        **counts,
    }


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
    except PublishFailedError:
        raise
    except Exception as exc:  # a synchronous caller gets a clear answer, never a stack trace
        logger.exception("direct invocation failed")
        if isinstance(event, dict) and event.get("raise_on_failure") is True:
            raise
        error = f"{type(exc).__name__}: {exc}"
        return {"results": [], "published": 0, "rejected": 0, "failed": 0, "error": error}
