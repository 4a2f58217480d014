"""Pytest fixtures for tests that need a real Kafka-protocol broker.

Register in ``tests/conftest.py`` with ``pytest_plugins = ["tests.harness.fixtures"]``.

- ``kafka_broker`` (session): a :class:`~tests.harness.relay.RelayedBroker`, Tansu behind a
  :class:`~tests.harness.relay.FaultyRelay` (``.bootstrap``, ``.relay``, ``.create_topic``,
  ``.read_all``, ``.kafka_python_config()``, ``.confluent_config()``);
- ``secure_kafka_broker`` (session): a :class:`~tests.harness.sasl_front_end.SaslSslBroker`,
  Tansu behind the SASL_SSL / SCRAM-SHA-512 front-end (adds ``.cafile``, ``.username``,
  ``.password``, ``.client_env()``, ``.front_end``);
- ``fresh_topic`` (function): a factory of unique, valid topic names (it creates nothing).

Both brokers are shared by the whole session, so topics outlive tests: use ``fresh_topic``.
Faults left on a relay by a test are healed after that test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.harness.relay import RelayedBroker
from tests.harness.sasl_front_end import SaslSslBroker

_running: list[RelayedBroker] = []
BrokerT = TypeVar("BrokerT", bound=RelayedBroker)


def _serve(broker: BrokerT) -> Iterator[BrokerT]:
    """Start ``broker``, yield it, and stop it however the session ends."""
    with broker:
        _running.append(broker)
        try:
            yield broker
        finally:
            _running.remove(broker)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[RelayedBroker]:
    """Tansu behind a FaultyRelay; clients bootstrap at ``kafka_broker.bootstrap``."""
    yield from _serve(RelayedBroker())


@pytest.fixture(scope="session")
def secure_kafka_broker() -> Iterator[SaslSslBroker]:
    """Tansu behind the SASL_SSL + SCRAM-SHA-512 front-end, with a private CA."""
    yield from _serve(SaslSslBroker())


@pytest.fixture(autouse=True)
def _heal_relays() -> Iterator[None]:
    """Undo refuse/blackhole left by a test on the shared brokers' relays."""
    yield
    for broker in _running:
        if broker.relay.is_running:
            broker.relay.heal()


@pytest.fixture
def fresh_topic(request: pytest.FixtureRequest) -> Callable[..., str]:
    """Return ``make(prefix=None) -> str``: a new unique topic name on each call."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-.")[:80] or "topic"

    def make(prefix: str | None = None) -> str:
        return f"{prefix or stem}-{uuid.uuid4().hex[:12]}"

    return make
