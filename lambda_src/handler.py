"""The producer Lambda (`handler.handler`): document-access exceptions to Kafka.

Event shapes, told apart by `event_shape`, each a plain function over `publishing.py` (one
flush per invocation) and `rejected_queue.py` (where invalid messages are parked):

- SQS batches (`ReportBatchItemFailures`): a record not acknowledged, or invalid and not
  parked, is a batch item failure; invalid records are parked with the reason. A record
  whose envelope is malformed (not an object, no `messageId`, a `body` that is not a
  string: only a direct invocation shaped like SQS sends those) is rejected on its own,
  naming the field (`Records[2].body`), and parked whole.
- EventBridge (detail-type `DocumentAccessException`, the message in `detail`): invalid
  ones are parked; a failure raises `PublishFailedError` for Lambda's retries.
- Direct invocation (one message, a list, or `{"messages": [...]}`): one result per message
  (`published` with partition and offset, `rejected` with the field errors, `failed` with
  a generic reason: the brokers and the login stay in the log), never a stack trace.
  Asynchronous callers add `"raise_on_failure": true`: invalid messages are parked and any
  failure raises `PublishFailedError`.

Import does only cheap set-up: the producer, the secret and the SQS client are made on first
use and reused by later invocations of the same container.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics

import publishing
from document_exceptions import names
from document_exceptions.contract import FieldError, ValidationError
from document_exceptions.echo import echo
from document_exceptions.publisher import Publisher
from rejected_queue import RejectedQueue

GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700; see tune_garbage_collector

logger = Logger(service=os.environ.get(names.SERVICE_NAME_VARIABLE, names.SERVICE_NAME))
metrics = Metrics(
    namespace=os.environ.get(names.METRICS_NAMESPACE_VARIABLE, names.METRICS_NAMESPACE)
)

EventShape = Literal["sqs", "eventbridge", "direct"]


class PublishFailedError(RuntimeError):
    """Messages were not published or parked (asynchronous invocations are retried on it)."""


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
    prepared: list[ValidationError | None] | None = None,
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
    if details := batch.failure_details():
        extra = {"shape": shape, "count": batch.counts()["failed"], "errors": details[:5]}
        logger.error("messages not published", extra=extra)
    if reasons := batch.rejection_reasons():
        extra = {"shape": shape, "count": len(reasons), "first_reasons": reasons[:5]}
        logger.warning("messages rejected by the contract", extra=extra)
    if logger.log_level <= logging.DEBUG:
        for line in batch.per_message():
            logger.debug(line.pop("message"), extra=line)
    return batch


def sqs_envelope_error(index: int, record: Any) -> ValidationError | None:
    """What is wrong with an SQS record's envelope (SQS itself always sends a string body and
    a message id), naming the field; None for a well-formed record."""
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        return ValidationError([FieldError(where, f"expected an object, got {type_name(record)}")])
    errors = []
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        problem = "required" if message_id is None else f"{echo(message_id)} is not a message id"
        errors.append(FieldError(f"{where}.messageId", problem))
    if not isinstance(record.get("body"), str):
        problem = f"expected a string, got {type_name(record.get('body'))}"
        errors.append(FieldError(f"{where}.body", problem))
    return ValidationError(errors) if errors else None


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def handle_sqs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the batch; report the records to retry (`batchItemFailures`).

    Every record is accounted for on its own: a malformed one is rejected and parked whole,
    and never stops the others (a rejected record without a usable id that could not be
    parked cannot be reported, so it is logged).
    """
    records = event["Records"]
    envelope = [sqs_envelope_error(index, record) for index, record in enumerate(records)]
    items = [
        record if error is not None else record["body"]
        for record, error in zip(records, envelope, strict=True)
    ]
    batch = publish(items, context, "sqs", park=True, prepared=envelope)
    failed: list[str] = []
    unreported = 0
    for record, outcome in zip(records, batch.outcomes, strict=True):
        if publishing.failure_reason(outcome) is None:
            continue
        message_id = record.get("messageId") if isinstance(record, dict) else None
        if isinstance(message_id, str) and message_id:
            failed.append(message_id)
        else:
            unreported += 1
    if unreported:
        logger.error(
            "SQS records without a message id were not parked", extra={"count": unreported}
        )
    extra = {"records": len(records), **batch.counts(), "reported_failed": len(failed)}
    logger.info("SQS batch", extra=extra)
    return {"batchItemFailures": [{"itemIdentifier": id_} for id_ in dict.fromkeys(failed)]}


def handle_eventbridge(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail_type = event.get("detail-type")
    prepared = None
    if detail_type != names.EVENTBRIDGE_DETAIL_TYPE:
        problem = f"{echo(detail_type)} is not {names.EVENTBRIDGE_DETAIL_TYPE!r}"
        prepared = [ValidationError([FieldError("detail-type", problem)])]
    batch = publish([event.get("detail")], context, "eventbridge", park=True, prepared=prepared)
    event_id = echo(event.get("id"))
    logger.info("EventBridge event", extra={"event_id": event_id, **batch.counts()})
    (outcome,) = batch.outcomes
    if (reason := publishing.failure_reason(outcome)) is not None:
        raise PublishFailedError(f"event {event_id} was not acknowledged or parked: {reason}")
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
    except Exception:  # a synchronous caller gets a clear answer, never a stack trace
        logger.exception("direct invocation failed")
        if isinstance(event, dict) and event.get("raise_on_failure") is True:
            raise
        error = f"the invocation failed ({publishing.LOG_HINT})"
        return {"results": [], "published": 0, "rejected": 0, "failed": 0, "error": error}
