"""Move messages from the producer's dead-letter queue back to its queue.

SQS does the moving itself (a *message move task*, ``StartMessageMoveTask``): messages go
back in order, at a rate SQS chooses (or ``max_per_second``), without passing through this
machine, and the producer Lambda picks them up from its queue as usual. Only one task per
dead-letter queue runs at a time; ``list_moves`` shows the current and recent ones, and
``cancel_move`` stops the running one (what has moved stays moved).

Which queues: the producer queue's URL (a stack output or a flag) names the queue; its
``RedrivePolicy`` names the dead-letter queue, so the two can never be mismatched. Both can
also be given directly.

A dry run reads the dead-letter queue's approximate depth and peeks at a few messages with
a visibility timeout of 0 (they stay available; their receive count goes up by one, which
matters for no redrive here: the dead-letter queue has none).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from document_exceptions.ops.aws import aws_error_text
from document_exceptions.ops.errors import OpsError, UsageError
from document_exceptions.ops.text import printable

FINISHED_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
MAX_PEEK = 10
MOVE_PERMISSIONS = (
    "sqs:StartMessageMoveTask, sqs:ListMessageMoveTasks, sqs:CancelMessageMoveTask (for "
    "--cancel), and on the dead-letter queue "
    "sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes, sqs:GetQueueUrl; on the "
    "queue sqs:GetQueueAttributes, sqs:SendMessage; kms:Decrypt and kms:GenerateDataKey on "
    "the queues' key"
)


_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
# https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, the older https://REGION.queue.amazonaws.com/
# and VPC endpoint names (https://vpce-....sqs.REGION.vpce.amazonaws.com/).
_QUEUE_URL = re.compile(
    rf"^https?://(?:[^/]*\.)?(?:sqs\.(?P<sqs>{_REGION})|(?P<legacy>{_REGION})\.queue)\.[^/]*/"
)
_QUEUE_ARN = re.compile(
    rf"^arn:aws[a-z-]*:sqs:(?P<region>{_REGION}):\d{{12}}:[A-Za-z0-9_-]{{1,80}}(?:\.fifo)?$"
)


def queue_region(url_or_arn: str) -> str | None:
    """The region an SQS queue URL or ARN names (None for an endpoint of no known form,
    such as a local emulator's)."""
    match = _QUEUE_ARN.match(url_or_arn) or _QUEUE_URL.match(url_or_arn)
    if match is None:
        return None
    return next(region for region in match.groups() if region)


def check_queue_arguments(
    *,
    stack: str | None,
    region: str | None,
    queue_url: str | None = None,
    queue_arn_: str | None = None,
    dead_letter_url: str | None = None,
    dead_letter_arn_: str | None = None,
) -> str | None:
    """Check the queue flags before any AWS call; returns the region to use: ``region``,
    else the one the queues name (None: the AWS configuration's). Raises UsageError."""
    if not (stack or queue_url or queue_arn_):
        raise UsageError(
            "which queue? no producer queue given: pass --stack (its QueueUrl output), "
            "--queue-url or --queue-arn"
        )
    regions: dict[str, str] = {}
    for flag, value in (("--queue-url", queue_url), ("--dlq-url", dead_letter_url)):
        if value is not None and not value.startswith(("https://", "http://")):
            raise UsageError(f"{flag}: {printable(value[:80])!r} is not a queue URL (https://...)")
        if value and (found := queue_region(value)):
            regions[flag] = found
    for flag, value in (("--queue-arn", queue_arn_), ("--dlq-arn", dead_letter_arn_)):
        if value is not None and not _QUEUE_ARN.match(value):
            raise UsageError(
                f"{flag}: {printable(value[:80])!r} is not an SQS queue ARN "
                "(arn:aws:sqs:REGION:ACCOUNT:NAME)"
            )
        if value:
            regions[flag] = queue_region(value) or ""
    named = sorted(set(regions.values()))
    if len(named) > 1:
        listed = ", ".join(f"{flag} {where}" for flag, where in regions.items())
        raise UsageError(f"the queues are in different regions ({listed}); a move stays in one")
    if region and named and named[0] != region:
        flag = next(iter(regions))
        raise UsageError(f"--region {region}, but {flag} is in {named[0]}")
    return region or (named[0] if named else None)


@dataclass(frozen=True)
class Queues:
    """The dead-letter queue (source of the move) and the queue it goes back to."""

    dead_letter_arn: str
    dead_letter_url: str
    queue_arn: str


@dataclass(frozen=True)
class PeekedMessage:
    message_id: str
    sent: str | None
    receive_count: int | None
    order_req_id: str | None
    exception_type: str | None


@dataclass(frozen=True)
class Preview:
    """What a move would take: SQS's approximate counts and a few messages."""

    approximate: int
    in_flight: int
    sample: tuple[PeekedMessage, ...] = field(default_factory=tuple)


def _call(what: str, function: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except Exception as exc:
        raise OpsError(f"cannot {what}: {aws_error_text(exc)}", MOVE_PERMISSIONS) from None


def queue_arn(sqs: Any, queue_url: str) -> str:
    response = _call(
        f"read the attributes of {queue_url}",
        sqs.get_queue_attributes,
        QueueUrl=queue_url,
        AttributeNames=["QueueArn"],
    )
    return response["Attributes"]["QueueArn"]


def dead_letter_arn(sqs: Any, queue_url: str) -> str:
    """The dead-letter queue named by the queue's RedrivePolicy."""
    response = _call(
        f"read the redrive policy of {queue_url}",
        sqs.get_queue_attributes,
        QueueUrl=queue_url,
        AttributeNames=["RedrivePolicy"],
    )
    raw = response.get("Attributes", {}).get("RedrivePolicy")
    if not raw:
        raise OpsError(
            f"{queue_url} has no dead-letter queue (no RedrivePolicy)",
            "that this is the producer's queue (stack output QueueUrl), not one of its "
            "parking queues",
        )
    return json.loads(raw)["deadLetterTargetArn"]


def queue_url_of(sqs: Any, arn: str) -> str:
    """The URL of the queue ``arn`` (arn:aws:sqs:region:account:name)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise OpsError(f"{arn!r} is not an SQS queue ARN")
    response = _call(
        f"find the URL of {arn}",
        sqs.get_queue_url,
        QueueName=parts[5],
        QueueOwnerAWSAccountId=parts[4],
    )
    return response["QueueUrl"]


def resolve_queues(
    sqs: Any,
    *,
    queue_url: str | None = None,
    queue_arn_: str | None = None,
    dead_letter_url: str | None = None,
    dead_letter_arn_: str | None = None,
) -> Queues:
    """Fill in what was not given: the queue's ARN from its URL, the dead-letter queue from
    the queue's RedrivePolicy, URLs from ARNs."""
    if queue_arn_ is None:
        if queue_url is None:
            raise OpsError(
                "which queue? no producer queue given",
                "pass --stack (its QueueUrl output), --queue-url or --queue-arn",
            )
        queue_arn_ = queue_arn(sqs, queue_url)
    if dead_letter_arn_ is None and dead_letter_url is not None:
        dead_letter_arn_ = queue_arn(sqs, dead_letter_url)
    if dead_letter_arn_ is None:
        dead_letter_arn_ = dead_letter_arn(sqs, queue_url or queue_url_of(sqs, queue_arn_))
    if dead_letter_url is None:
        dead_letter_url = queue_url_of(sqs, dead_letter_arn_)
    if dead_letter_arn_ == queue_arn_:
        raise OpsError("the dead-letter queue and the queue are the same queue")
    return Queues(dead_letter_arn_, dead_letter_url, queue_arn_)


def preview(sqs: Any, queues: Queues, sample: int = 5) -> Preview:
    """Approximate depth of the dead-letter queue and up to ``sample`` message ids."""
    response = _call(
        f"read the depth of {queues.dead_letter_url}",
        sqs.get_queue_attributes,
        QueueUrl=queues.dead_letter_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    attributes = response.get("Attributes", {})
    peeked: list[PeekedMessage] = []
    if sample > 0:
        received = _call(
            f"peek at {queues.dead_letter_url}",
            sqs.receive_message,
            QueueUrl=queues.dead_letter_url,
            MaxNumberOfMessages=min(sample, MAX_PEEK),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        )
        peeked = [_peeked(message) for message in received.get("Messages", [])]
    return Preview(
        approximate=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        sample=tuple(peeked),
    )


def _peeked(message: dict[str, Any]) -> PeekedMessage:
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    count = attributes.get("ApproximateReceiveCount")
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    return PeekedMessage(
        message_id=message["MessageId"],
        sent=datetime.fromtimestamp(int(sent) / 1000, UTC).isoformat(timespec="seconds")
        if sent
        else None,
        receive_count=int(count) if count else None,
        order_req_id=_text(body.get("order_req_id")),
        exception_type=_text(body.get("exception_type")),
    )


def _text(value: Any) -> str | None:
    """A field of a dead-letter message, cut and made safe to print (whoever sent the
    message chose its text)."""
    return None if value is None else printable(str(value)[:64])


def start_move(sqs: Any, queues: Queues, max_per_second: int | None = None) -> str:
    """Start the move task; returns its TaskHandle."""
    kwargs: dict[str, Any] = {
        "SourceArn": queues.dead_letter_arn,
        "DestinationArn": queues.queue_arn,
    }
    if max_per_second is not None:
        kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
    try:
        response = sqs.start_message_move_task(**kwargs)
    except Exception as exc:
        text = aws_error_text(exc)
        hint = MOVE_PERMISSIONS
        if "running" in text.lower() or "exist" in text.lower():
            hint = "`document-exceptions replay --status`: only one move task per queue can run"
        raise OpsError(f"cannot start the message move task: {text}", hint) from None
    return response["TaskHandle"]


def list_moves(sqs: Any, queues: Queues, max_results: int = 10) -> list[dict[str, Any]]:
    """The dead-letter queue's recent move tasks, most recent first."""
    response = _call(
        "list the message move tasks",
        sqs.list_message_move_tasks,
        SourceArn=queues.dead_letter_arn,
        MaxResults=max_results,
    )
    return list(response.get("Results", []))


@dataclass(frozen=True)
class Cancelled:
    """A cancelled move task: its handle and how many messages had moved by then."""

    task_handle: str
    moved: int | None
    to_move: int | None


def running_move(sqs: Any, queues: Queues) -> dict[str, Any] | None:
    """The dead-letter queue's RUNNING move task (at most one runs), or None."""
    return next((t for t in list_moves(sqs, queues) if t.get("Status") == "RUNNING"), None)


def cancel_move(sqs: Any, task: dict[str, Any]) -> Cancelled:
    """Cancel the running ``task`` (from :func:`running_move`); messages moved stay moved."""
    handle = task["TaskHandle"]
    response = _call(
        f"cancel the message move task {handle}",
        sqs.cancel_message_move_task,
        TaskHandle=handle,
    )
    return Cancelled(
        task_handle=handle,
        moved=response.get("ApproximateNumberOfMessagesMoved"),
        to_move=task.get("ApproximateNumberOfMessagesToMove"),
    )


def wait_for_move(
    sqs: Any,
    queues: Queues,
    *,
    timeout_s: float,
    poll_s: float = 5.0,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the most recent task (one runs at a time) until it finishes or ``timeout_s``."""
    deadline = clock() + timeout_s
    while True:
        tasks = list_moves(sqs, queues, max_results=1)
        if not tasks:
            raise OpsError("the message move task is not listed", MOVE_PERMISSIONS)
        task = tasks[0]
        if on_progress is not None:
            on_progress(task)
        if task.get("Status") in FINISHED_STATUSES:
            return task
        if clock() + poll_s > deadline:
            raise OpsError(
                f"the message move task is still {task.get('Status')} after {timeout_s:g} s",
                "`document-exceptions replay --status` later; the task keeps running in SQS",
            )
        sleep(poll_s)


def describe_task(task: dict[str, Any]) -> str:
    moved = task.get("ApproximateNumberOfMessagesMoved", 0)
    total = task.get("ApproximateNumberOfMessagesToMove")
    started = task.get("StartedTimestamp")
    started_text = (
        datetime.fromtimestamp(int(started) / 1000, UTC).isoformat(timespec="seconds")
        if started
        else "?"
    )
    text = f"{task.get('Status', '?')}: {moved} of {'?' if total is None else total} moved"
    text += f" (started {started_text})"
    if task.get("FailureReason"):
        text += f"; failure: {task['FailureReason']}"
    return text
