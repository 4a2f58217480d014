"""Open kafka-python clients for the operator commands: within a timeout, with the real cause.

kafka-python reports a failed bootstrap only as ``KafkaTimeoutError`` after
``bootstrap_timeout_ms``; why it failed (refused, unresolved name, untrusted certificate,
rejected login) exists only in its log records. :func:`open_client` listens to those records
for the client it creates, returns as soon as the failure cannot heal by waiting (a
rejected login, an untrusted certificate), and otherwise waits at most the timeout. Either
way the error says what to check.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import kafka.errors as kafka_errors

from document_exceptions.connection import KafkaConnection
from document_exceptions.kafka_bootstrap import BootstrapFailures, TrackedNetClients
from document_exceptions.ops.errors import OpsError

CLIENT_ID_PREFIX = "document-exceptions-cli"
# Extra wait beyond the bootstrap timeout for kafka-python to give up by itself.
GRACE_SECONDS = 1.0
POLL_SECONDS = 0.05

Kind = Literal["authentication", "tls", "unreachable"]
ClientT = TypeVar("ClientT")


class KafkaConnectError(OpsError):
    """The brokers could not be reached or refused us; ``kind`` says which."""

    def __init__(self, kind: Kind, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.kind = kind


def open_client(
    client_class: Callable[..., ClientT],
    connection: KafkaConnection,
    *,
    timeout_s: float,
    **configs: Any,
) -> ClientT:
    """``client_class(**connection settings, **configs)``, bootstrapped within ``timeout_s``.

    Raises :class:`KafkaConnectError` naming the cause: at once for a rejected login or an
    untrusted certificate, after at most ``timeout_s`` (plus a small grace) otherwise.
    """
    client_id = f"{CLIENT_ID_PREFIX}-{uuid.uuid4().hex[:10]}"
    recorder = BootstrapFailures(client_id, is_fatal=lambda failure: _kind_of(failure) is not None)
    net_clients = TrackedNetClients()

    timeout_ms = max(1, int(timeout_s * 1000))
    kwargs = {
        **connection.client_kwargs(),
        "client_id": client_id,
        "bootstrap_timeout_ms": timeout_ms,
        "request_timeout_ms": max(timeout_ms, 1000),
        "reconnect_backoff_max_ms": 1000,
        "kafka_client": net_clients,
        **configs,
    }
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def build() -> None:
        try:
            outcome["client"] = client_class(**kwargs)
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=build, name=f"{client_id}-connect", daemon=True)
    with recorder.recording():
        worker.start()
        deadline = time.monotonic() + timeout_s + GRACE_SECONDS
        while not done.wait(POLL_SECONDS):
            if recorder.fatal.is_set() or time.monotonic() >= deadline:
                break
    if "client" in outcome:
        return outcome["client"]
    threading.Thread(
        target=_clean_up,
        args=(worker, outcome, net_clients),
        name=f"{client_id}-cleanup",
        daemon=True,
    ).start()
    error = outcome.get("error")
    failures = [*recorder.failures, *([error] if isinstance(error, BaseException) else [])]
    raise connect_error(connection, timeout_s, failures)


def _clean_up(
    worker: threading.Thread, outcome: dict[str, Any], net_clients: TrackedNetClients
) -> None:
    """Once the abandoned constructor has given up, stop the I/O threads it left running."""
    worker.join()
    client = outcome.get("client")
    if client is not None:
        close_quietly(client)
    net_clients.stop_all()


def close_quietly(client: Any) -> None:
    with contextlib.suppress(Exception):  # closing is best effort
        client.close()


def _kind_of(failure: BaseException) -> Kind | None:
    if isinstance(
        failure,
        kafka_errors.SaslAuthenticationFailedError | kafka_errors.UnsupportedSaslMechanismError,
    ):
        return "authentication"
    text = str(failure)
    if isinstance(failure, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return "tls"
    if "WRONG_VERSION_NUMBER" in text:
        return "tls"
    return None


def connect_error(
    connection: KafkaConnection, timeout_s: float, failures: list[BaseException]
) -> KafkaConnectError:
    """The most telling of ``failures`` as an error with what to check."""
    return _login_or_tls_error(connection, failures) or _network_error(
        connection, timeout_s, failures
    )


def _login_or_tls_error(
    connection: KafkaConnection, failures: list[BaseException]
) -> KafkaConnectError | None:
    servers = ", ".join(connection.bootstrap_servers)
    for failure in failures:
        text = f"{type(failure).__name__}: {failure}"
        if isinstance(failure, kafka_errors.UnsupportedSaslMechanismError):
            return KafkaConnectError(
                "authentication",
                f"the brokers {servers} do not offer SASL mechanism {connection.sasl_mechanism}",
                "MSK's SASL/SCRAM listener (port 9096) takes SCRAM-SHA-512 only",
            )
        if isinstance(failure, kafka_errors.SaslAuthenticationFailedError):
            return KafkaConnectError(
                "authentication",
                f"the brokers {servers} rejected the SASL/{connection.sasl_mechanism} login "
                f"as {connection.sasl_username!r}",
                "the secret's username and password are current, and the secret is "
                "associated with the cluster (a new association takes a few minutes)",
            )
        if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(failure, ssl.SSLCertVerificationError):
            return KafkaConnectError(
                "tls",
                f"the TLS certificate of the brokers {servers} is not trusted "
                f"({_first_line(text)})",
                "the CA file (--cafile / KAFKA_SSL_CAFILE) is the one that signed the brokers' "
                "certificates; MSK's certificates are publicly trusted, so leave it unset there",
            )
        if "WRONG_VERSION_NUMBER" in text:
            return KafkaConnectError(
                "tls",
                f"the TLS handshake with the brokers {servers} failed ({_first_line(text)})",
                "the broker string is the SASL/SCRAM one (port 9096) and the security protocol "
                "matches the listener (SASL_SSL on MSK)",
            )
    return None


def _network_error(
    connection: KafkaConnection, timeout_s: float, failures: list[BaseException]
) -> KafkaConnectError:
    servers = ", ".join(connection.bootstrap_servers)
    texts = [f"{type(failure).__name__}: {failure}" for failure in failures]
    if any(
        isinstance(failure, socket.gaierror) or "gaierror" in text
        for failure, text in zip(failures, texts, strict=True)
    ):
        return KafkaConnectError(
            "unreachable",
            f"the broker names {servers} do not resolve",
            "the broker string is current (it changes when the cluster is replaced) and "
            "this machine uses the VPC's DNS resolver",
        )
    ports = ", ".join(
        sorted({server.rpartition(":")[2] for server in connection.bootstrap_servers})
    )
    hint = (
        "the brokers are running, this machine has a network path to them (MSK brokers are "
        "private: run inside the cluster's VPC or over a VPN), and the cluster's security "
        f"group allows this client on port {ports}"
    )
    if any(
        isinstance(failure, ConnectionRefusedError) or "refused" in text.lower()
        for failure, text in zip(failures, texts, strict=True)
    ):
        return KafkaConnectError(
            "unreachable", f"the brokers {servers} refused the connection", hint
        )
    if any(_closed(failure, text) for failure, text in zip(failures, texts, strict=True)):
        return KafkaConnectError(
            "unreachable",
            f"the brokers {servers} closed the connection before answering",
            f"{hint}; and that the broker string is the SASL/SCRAM one (port 9096)",
        )
    return KafkaConnectError(
        "unreachable", f"no answer from the brokers {servers} within {timeout_s:g} s", hint
    )


def _closed(failure: BaseException, text: str) -> bool:
    return isinstance(failure, ConnectionResetError | EOFError) or any(
        marker in text for marker in ("EOF occurred", "UNEXPECTED_EOF", "reset by peer")
    )


def _first_line(text: str) -> str:
    return text.splitlines()[0][:200] if text else ""
