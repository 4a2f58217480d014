"""Step 2: Tansu behind the test harness's SASL_SSL front-end (SCRAM-SHA-512 and AWS_MSK_IAM).

The broker classes are the test harness's own (`tests.harness`): Tansu in memory, and in
front of it a TLS terminator with a throwaway private CA that performs the SCRAM-SHA-512
login, and checks MSK IAM's SigV4-signed AWS_MSK_IAM login, itself. The Django library's
side gets the guide's `KAFKA_*` variables plus `KAFKA_SSL_CAFILE` (SCRAM), which the demo
puts in its own environment; the producer Lambda and the topic custom resource run inside
:func:`iam_environment`, the environment their constructs give them with IAM.

The demo signs its IAM logins with throwaway test credentials (the harness's), set in its
own process in place of any AWS credentials or profile of the machine: nothing it does can
reach AWS with real credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from demo.console import Console, StepFailedError
from document_exceptions.connection import CONNECTION_VARIABLES, from_environment
from document_exceptions.kafka_connect import FailureKind, KafkaConnectError
from document_exceptions.publisher import ProducerSettings, create_producer
from tests.harness import SaslSslBroker

WRONG_PASSWORD_TIMEOUT_MS = 5_000


# The machine's AWS settings that would otherwise take precedence over the test credentials.
MACHINE_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def describe(console: Console, broker: SaslSslBroker, region: str) -> None:
    """Export the broker's client settings and the test AWS credentials to this process, and
    show them (never a password or a secret key)."""
    tansu = broker.broker
    if tansu is None or tansu.process is None:
        raise StepFailedError("the broker is not running")
    env = broker.client_env()
    os.environ.update(env)
    for name in MACHINE_AWS_VARIABLES:
        os.environ.pop(name, None)
    broker.front_end.iam_region = region
    iam_env = broker.iam_client_env()
    os.environ.update({name: value for name, value in iam_env.items() if name.startswith("AWS_")})
    console.detail(
        f"Tansu pid {tansu.process.pid} on {tansu.bootstrap}, behind the TLS + SCRAM + IAM "
        f"front-end on {broker.bootstrap}"
    )
    console.detail(
        f"KAFKA_BOOTSTRAP_SERVERS={env['KAFKA_BOOTSTRAP_SERVERS']} "
        f"KAFKA_SECURITY_PROTOCOL={env['KAFKA_SECURITY_PROTOCOL']}"
    )
    console.detail(
        f"KAFKA_SASL_MECHANISM={env['KAFKA_SASL_MECHANISM']} "
        f"KAFKA_SASL_USERNAME={env['KAFKA_SASL_USERNAME']}"
    )


@contextmanager
def iam_environment(broker: SaslSslBroker) -> Iterator[None]:
    """While inside: this process's environment is what the constructs give the producer
    Lambda and the topic function with IAM (`KAFKA_AUTH_MODE=iam`, the IAM broker string in
    `KAFKA_BOOTSTRAP_BROKERS`, none of the guide's variables, no secret), plus the test
    credentials."""
    iam_env = broker.iam_client_env()
    touched = (*CONNECTION_VARIABLES, *iam_env)
    saved = {name: os.environ.get(name) for name in touched}
    for name in CONNECTION_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(iam_env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
