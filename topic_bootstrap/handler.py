"""Lambda entry point of the Kafka topic custom resource: ``handler.on_event``.

The CDK Provider framework invokes ``on_event`` with CloudFormation's event, sends the
returned ``PhysicalResourceId`` and ``Data`` back as SUCCESS, and turns a raised exception
into FAILED with the exception's message as the reason: every failure here is raised with
a one-line message.

This folder is the asset root, so its modules import each other by their own (unique)
names, and the shared connection code as ``document_exceptions.connection``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from document_exceptions.connection import ConfigurationError
from topic_admin import Timeouts, TopicAdminError
from topic_planning import Refusal
from topic_properties import PropertyError
from topic_resource import EventError, LookupFailedError, Runtime, handle_event

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "topic-bootstrap")
copy_config_to_registered_loggers(source_logger=logger, include={"topic_admin", "topic_resource"})
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


class UnexpectedFailureError(RuntimeError):
    """A failure this code did not foresee, reduced to one line (the log has the rest)."""


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create, update or delete the topic described by the event's ResourceProperties."""
    logger.append_keys(
        request_type=event.get("RequestType"),
        request_id=event.get("RequestId"),
        logical_resource_id=event.get("LogicalResourceId"),
        physical_resource_id=event.get("PhysicalResourceId"),
    )
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    try:
        runtime = Runtime(environ=os.environ, remaining_seconds=remaining, aws_client=aws_client)
        result = handle_event(event, runtime)
        logger.info("request succeeded", extra={"result": result})
        return result
    except EXPECTED_FAILURES as exc:
        logger.error("request failed", extra={"reason": str(exc)})
        raise
    except Exception as exc:
        logger.exception("unexpected failure")
        text = " ".join(str(exc).split())[:300]
        raise UnexpectedFailureError(
            f"Unexpected {type(exc).__name__}: {text} (details in the function's log)"
        ) from exc
    finally:
        logger.remove_keys(
            ["request_type", "request_id", "logical_resource_id", "physical_resource_id"]
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
