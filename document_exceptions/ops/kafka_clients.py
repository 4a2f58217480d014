"""Open kafka-python clients for the operator commands: within a timeout, with the real cause.

Opening is ``document_exceptions.kafka_connect.open_client`` (fails at once on a rejected
login, an untrusted certificate or a refused local port; after the timeout otherwise);
here its :class:`~document_exceptions.kafka_connect.KafkaConnectError` becomes the
commands' error (a message and what to check), and a slow connection says on stderr that it
is still trying.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from document_exceptions import kafka_connect
from document_exceptions.connection import KafkaConnection
from document_exceptions.kafka_connect import FailureKind, Progress, close_quietly
from document_exceptions.ops.errors import OpsError

CLIENT_ID_PREFIX = "document-exceptions-cli"

ClientT = TypeVar("ClientT")

__all__ = ["BrokerConnectionError", "close_quietly", "open_client", "still_trying"]


class BrokerConnectionError(OpsError):
    """The brokers could not be reached or refused us; ``kind`` says which."""

    def __init__(self, kind: FailureKind, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.kind = kind

    @classmethod
    def of(cls, failure: kafka_connect.KafkaConnectError) -> BrokerConnectionError:
        return cls(failure.kind, failure.message, failure.hint)


def still_trying(line: str) -> None:
    """Progress for a slow connection, on stderr (stdout may be JSON)."""
    print(f"... {line}", file=sys.stderr, flush=True)


def open_client(
    client_class: Callable[..., ClientT],
    connection: KafkaConnection,
    *,
    timeout_s: float,
    on_progress: Progress | None = still_trying,
    **configs: Any,
) -> ClientT:
    """``client_class(**connection settings, **configs)``, bootstrapped within ``timeout_s``.

    Raises :class:`BrokerConnectionError` naming the cause: at once for a rejected login, an
    untrusted certificate or a refused connection, after at most ``timeout_s`` (plus a small
    grace) otherwise.
    """
    timeout_ms = max(1, int(timeout_s * 1000))
    configs.setdefault("request_timeout_ms", max(timeout_ms, 1000))
    try:
        return kafka_connect.open_client(
            client_class,
            connection,
            timeout_s=timeout_s,
            client_id=f"{CLIENT_ID_PREFIX}-{uuid.uuid4().hex[:10]}",
            on_progress=on_progress,
            **configs,
        )
    except kafka_connect.KafkaConnectError as failure:
        raise BrokerConnectionError.of(failure) from None
