"""Step 2: Tansu behind the test harness's SASL_SSL + SCRAM-SHA-512 front-end, as MSK speaks.

The broker classes are the test harness's own (`tests.harness`): Tansu in memory, and in
front of it a TLS terminator with a throwaway private CA that performs the SCRAM-SHA-512
login itself. Clients get the guide's `KAFKA_*` variables plus `KAFKA_SSL_CAFILE`; the
demo puts them in its own environment, where every piece of code under demo reads them.
"""

from __future__ import annotations

import os
from dataclasses import replace

from demo.console import Console, StepFailedError
from document_exceptions.connection import from_environment
from document_exceptions.kafka_connect import FailureKind, KafkaConnectError
from document_exceptions.publisher import ProducerSettings, create_producer
from tests.harness import SaslSslBroker

WRONG_PASSWORD_TIMEOUT_MS = 5_000


def describe(console: Console, broker: SaslSslBroker) -> None:
    """Export the broker's client settings to this process and show them."""
    tansu = broker.broker
    if tansu is None or tansu.process is None:
        raise StepFailedError("the broker is not running")
    env = broker.client_env()
    os.environ.update(env)
    console.detail(
        f"Tansu pid {tansu.process.pid} on {tansu.bootstrap}, behind the TLS + SCRAM front-end "
        f"on {broker.bootstrap}"
    )
    console.detail(
        f"KAFKA_BOOTSTRAP_SERVERS={env['KAFKA_BOOTSTRAP_SERVERS']} "
        f"KAFKA_SECURITY_PROTOCOL={env['KAFKA_SECURITY_PROTOCOL']}"
    )
    console.detail(
        f"KAFKA_SASL_MECHANISM={env['KAFKA_SASL_MECHANISM']} "
        f"KAFKA_SASL_USERNAME={env['KAFKA_SASL_USERNAME']}"
    )


def check_wrong_password_is_refused(console: Console) -> None:
    """A producer with a wrong password must fail fast with an authentication error."""
    connection = from_environment()
    if connection is None:
        raise StepFailedError("KAFKA_BOOTSTRAP_SERVERS is not set")
    wrong = replace(connection, sasl_password=(connection.sasl_password or "") + "-wrong")
    settings = ProducerSettings(bootstrap_timeout_ms=WRONG_PASSWORD_TIMEOUT_MS)
    try:
        producer = create_producer(wrong, settings, client_id="document-exceptions-demo-wrong")
    except KafkaConnectError as exc:
        if exc.kind is not FailureKind.AUTHENTICATION:
            raise StepFailedError(f"a wrong password failed otherwise: {exc}") from None
        console.detail(f"a wrong password is refused: {exc.detail}")
        return
    producer.close(timeout=1)
    raise StepFailedError("the front-end accepted a wrong password")
