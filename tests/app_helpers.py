"""Shared helpers of the app-library tests (tests/test_app_*.py, tests/test_django_example.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.app import api
from document_exceptions.app.settings import AppSettings
from tests.ops_helpers import message_fields

__all__ = [
    "FAST",
    "app_overrides",
    "configure_app",
    "configured_topic",
    "message_fields",
    "messages",
    "order_ids",
]

# Short producer timeouts so that outages resolve within a test's budget.
FAST = {
    "PRODUCER_DELIVERY_TIMEOUT_MS": "3000",
    "PRODUCER_REQUEST_TIMEOUT_MS": "1500",
    "PRODUCER_MAX_BLOCK_MS": "2000",
    "PRODUCER_BOOTSTRAP_TIMEOUT_MS": "2000",
    "DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL": "0.3",
    "DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT": "5",
}


def messages(records: Sequence[Any]) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in records]


def order_ids(records: Sequence[Any]) -> Counter[str]:
    return Counter(message["order_req_id"] for message in messages(records))


def app_overrides(bootstrap: str, topic: str, spool_dir: Path, **settings: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": json.dumps([bootstrap]),
        "KAFKA_TOPIC": topic,
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(spool_dir),
        **FAST,
        **settings,
    }


@pytest.fixture
def configure_app(tmp_path: Path) -> Iterator[Callable[..., AppSettings]]:
    """``configure(bootstrap, topic, **settings)`` for the process-wide API; shut down after."""

    def configure(bootstrap: str, topic: str, **settings: str) -> AppSettings:
        overrides = app_overrides(bootstrap, topic, tmp_path / "spool", **settings)
        return api.configure(overrides, environ={}, django={})

    yield configure
    api.shutdown(timeout=2)


@pytest.fixture
def configured_topic(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> str:
    """A new topic on the local broker, with the process-wide API configured to send to it."""
    name = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, name)
    return name
