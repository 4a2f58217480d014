"""Lambda entry point of the Kafka topic and ACL custom resources: ``handler.on_event``.

One function serves both resource types, chosen by the event's ``ResourceType``:
``Custom::KafkaTopic`` (topic_resource) and ``Custom::KafkaAcls`` (acl_resource).

The CDK Provider framework invokes ``on_event`` with CloudFormation's event, sends the
returned ``PhysicalResourceId`` and ``Data`` back as SUCCESS, and turns a raised exception
into FAILED with the exception's message as the reason: every failure here is raised with
a one-line message of at most MAX_REASON_BYTES.

This folder is the asset root, so its modules import each other by their own (unique)
names, and the shared connection code as ``document_exceptions.connection``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from acl_resource import handle_acl_event
from document_exceptions.connection import ConfigurationError
from document_exceptions.echo import echo
from document_exceptions.names import ACL_RESOURCE_TYPE, TOPIC_RESOURCE_TYPE
from topic_admin import Timeouts, TopicAdminError
from topic_planning import Refusal
from topic_properties import PropertyError
from topic_resource import EventError, LookupFailedError, Runtime, handle_event

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "topic-bootstrap")
copy_config_to_registered_loggers(
    source_logger=logger, include={"topic_admin", "topic_resource", "acl_resource", "topic_acls"}
)
# kafka-python logs its whole configuration, SASL password included, at DEBUG level.
logging.getLogger("kafka").setLevel(logging.WARNING)

EXPECTED_FAILURES = (
    Refusal,
    PropertyError,
    EventError,
    ConfigurationError,
    LookupFailedError,
    TopicAdminError,
)
AWS_CLIENT_ATTEMPTS = 3
# CloudFormation takes at most 4,096 bytes for a custom resource's whole response. The
# Provider framework sends this message as the reason with its own additions (the log
# group's name and its stack trace, about 1 KB), next to the stack, request and resource
# ids: the message gets a quarter of the budget.
MAX_REASON_BYTES = 1024
CUT_MARKER = " [cut: the function's log has the whole reason]"
UNEXPECTED_TEXT_CHARS = 300
RESOURCE_TYPES = (TOPIC_RESOURCE_TYPE, ACL_RESOURCE_TYPE)


class UnexpectedFailureError(RuntimeError):
    """A failure this code did not foresee, reduced to one line (the log has the rest)."""


class RequestFailedError(RuntimeError):
    """An expected failure whose own message was not one short line, as CloudFormation
    shows it (the log and ``__cause__`` have the original)."""


def failure_reason(text: str) -> str:
    """``text`` as one printable line of at most MAX_REASON_BYTES once JSON-encoded in the
    response: whitespace runs become a space, other control characters their escape."""
    line = " ".join(text.split())
    line = "".join(char if char.isprintable() else repr(char)[1:-1] for char in line)
    if _json_bytes(line) <= MAX_REASON_BYTES:
        return line
    budget = MAX_REASON_BYTES - _json_bytes(CUT_MARKER)
    kept = []
    for char in line:
        budget -= _json_bytes(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + CUT_MARKER


def _json_bytes(text: str) -> int:
    """Bytes of ``text`` inside a JSON string (the response body), quotes not counted."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create, update or delete the topic or the ACLs the event's ResourceProperties describe."""
    logger.append_keys(
        request_type=event.get("RequestType"),
        request_id=event.get("RequestId"),
        logical_resource_id=event.get("LogicalResourceId"),
        physical_resource_id=event.get("PhysicalResourceId"),
    )
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    try:
        runtime = Runtime(environ=os.environ, remaining_seconds=remaining, aws_client=aws_client)
        result = _handler_for(event)(event, runtime)
        logger.info("request succeeded", extra={"result": result})
        return result
    except EXPECTED_FAILURES as exc:
        message = str(exc)
        reason = failure_reason(message)
        logger.error("request failed", extra={"reason": message})
        if reason == message:
            raise
        raise RequestFailedError(reason) from exc
    except Exception as exc:
        logger.exception("unexpected failure")
        text = " ".join(str(exc).split())[:UNEXPECTED_TEXT_CHARS]
        raise UnexpectedFailureError(
            failure_reason(
                f"Unexpected {type(exc).__name__}: {text} (details in the function's log)"
            )
        ) from exc
    finally:
        logger.remove_keys(
            ["request_type", "request_id", "logical_resource_id", "physical_resource_id"]
        )


def _handler_for(event: dict[str, Any]) -> Callable[[Mapping[str, Any], Runtime], dict[str, Any]]:
    """The handler of the event's ResourceType, or `EventError` naming the field."""
    resource_type = event.get("ResourceType")
    if resource_type == TOPIC_RESOURCE_TYPE:
        return handle_event
    if resource_type == ACL_RESOURCE_TYPE:
        return handle_acl_event
    raise EventError(
        f"ResourceType: {echo(resource_type)} is not one of {', '.join(RESOURCE_TYPES)}"
    )


def aws_client(service: str, timeouts: Timeouts) -> Any:
    """A boto3 client that gives up within the resource's time budget."""
    import boto3  # noqa: PLC0415 - only the MSK path needs boto3; local runs never load it
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        connect_timeout=timeouts.connect_seconds,
        read_timeout=timeouts.request_seconds,
        retries={"max_attempts": AWS_CLIENT_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client(service, config=config)
