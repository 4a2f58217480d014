"""Lambda entry points of the ACL enforcement custom resource: ``handler.on_event`` and
``handler.is_complete`` (CDK Provider framework, asynchronous).

Thin: each builds bounded boto3 clients (``document_exceptions.aws_clients``: every call
gives up well before the function's timeout) and calls the plain functions of
``cluster_configuration``. The framework turns a raised exception into FAILED with its
message as the reason, so every failure leaves here as one line; the log has the rest.

This folder is the asset root: its modules import each other by their own names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

import cluster_configuration
from document_exceptions.aws_clients import aws_client
from document_exceptions.names import SERVICE_NAME_VARIABLE

logger = Logger(service=os.environ.get(SERVICE_NAME_VARIABLE) or "acl-enforcement")
UNEXPECTED_TEXT_CHARS = 300
LOG_KEYS = ("request_type", "request_id", "logical_resource_id", "physical_resource_id")


class UnexpectedFailureError(RuntimeError):
    """A failure this code did not foresee, reduced to one line (the log has the rest)."""


def on_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create, Update or Delete: start switching the cluster's configuration if needed."""
    return _answer(
        "on_event",
        event,
        lambda: cluster_configuration.on_event(
            event, aws_client("kafka"), aws_client("cloudformation")
        ),
    )


def is_complete(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Whether the configuration switch `on_event` started has ended (raises if it failed)."""
    return _answer(
        "is_complete", event, lambda: cluster_configuration.is_complete(event, aws_client("kafka"))
    )


def _answer(step: str, event: Any, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    fields = event if isinstance(event, dict) else {}
    logger.append_keys(
        step=step,
        request_type=fields.get("RequestType"),
        request_id=fields.get("RequestId"),
        logical_resource_id=fields.get("LogicalResourceId"),
        physical_resource_id=fields.get("PhysicalResourceId"),
    )
    try:
        result = run()
        logger.info("request answered", extra={"result": result})
        return result
    except cluster_configuration.EnforcementError as exc:
        logger.error("request failed", extra={"reason": str(exc)})
        raise
    except Exception as exc:
        logger.exception("unexpected failure")
        text = cluster_configuration.one_line(str(exc), UNEXPECTED_TEXT_CHARS)
        raise UnexpectedFailureError(
            f"Unexpected {type(exc).__name__}: {text} (details in the function's log)"
        ) from exc
    finally:
        logger.remove_keys(["step", *LOG_KEYS])
