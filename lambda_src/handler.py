"""The producer Lambda (`handler.handler`): document-access exceptions to Kafka.

Thin: `event_shapes.py` tells the three event shapes apart and unpacks them, `publishing.py`
publishes one invocation's messages (one flush) and parks invalid ones in the queue of
`rejected_queue.py`. Here, per shape, what the caller gets back:

- SQS batches (`ReportBatchItemFailures`): a record not acknowledged, or invalid and not
  parked, is a batch item failure; a malformed envelope is rejected and parked whole.
- EventBridge: invalid messages are parked; a failure raises `PublishFailedError` for
  Lambda's retries.
- Direct invocation: one result per message (`published` with partition and offset,
  `rejected` with the field errors, `failed` with a generic reason: the brokers and the login
  stay in the log), never a stack trace. Asynchronous callers (`"raise_on_failure": true`)
  get invalid messages parked and any failure raised as `PublishFailedError`.

Import does only cheap set-up: the producer, the secret and the SQS client are made on first
use and reused by later invocations of the same container.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics

import event_shapes
import publishing
from document_exceptions import names
from document_exceptions.echo import echo
from document_exceptions.publisher import Publisher
from event_shapes import EventShape, Prepared, event_shape
from rejected_queue import RejectedQueue

GC_YOUNG_THRESHOLD = 10_000  # CPython's default is 700; see tune_garbage_collector

logger = Logger(service=os.environ.get(names.SERVICE_NAME_VARIABLE, names.SERVICE_NAME))
metrics = Metrics(
    namespace=os.environ.get(names.METRICS_NAMESPACE_VARIABLE, names.METRICS_NAMESPACE)
)


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


def publish(
    items: list[Any],
    context: Any,
    shape: EventShape,
    *,
    park: bool,
    prepared: Prepared = None,
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


def handle_sqs(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the batch; report the records to retry (`batchItemFailures`).

    Every record is accounted for on its own: a malformed one is rejected and parked whole,
    and never stops the others (a rejected record without a usable id that could not be
    parked cannot be reported, so it is logged).
    """
    records = event["Records"]
    items, envelope = event_shapes.sqs_items(records)
    batch = publish(items, context, "sqs", park=True, prepared=envelope)
    failed: list[str] = []
    unreported = 0
    for record, outcome in zip(records, batch.outcomes, strict=True):
        if publishing.failure_reason(outcome) is None:
            continue
        if (message_id := event_shapes.sqs_message_id(record)) is not None:
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
    items, prepared = event_shapes.eventbridge_items(event)
    batch = publish(items, context, "eventbridge", park=True, prepared=prepared)
    event_id = echo(event.get("id"))
    logger.info("EventBridge event", extra={"event_id": event_id, **batch.counts()})
    (outcome,) = batch.outcomes
    if (reason := publishing.failure_reason(outcome)) is not None:
        raise PublishFailedError(f"event {event_id} was not acknowledged or parked: {reason}")
    return {"results": [publishing.result_dict(0, outcome)], **batch.counts()}


def handle_direct(event: Any, context: Any) -> dict[str, Any]:
    asynchronous = event_shapes.is_asynchronous(event)
    items, prepared = event_shapes.direct_messages(event)
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
        if event_shapes.is_asynchronous(event):
            raise
        error = f"the invocation failed ({publishing.LOG_HINT})"
        return {"results": [], "published": 0, "rejected": 0, "failed": 0, "error": error}
