"""The one way this project opens a kafka-python client, and says why it could not.

Every client (the producer Lambda's producer, the topic custom resource's admin client, the
app sender's producer through the publisher, the operator commands' consumer and admin
client) is opened with :func:`open_client`: within a deadline, failing at once where
waiting cannot help, and with one exception type, :class:`KafkaConnectError`, whose
``kind`` says what went wrong (:class:`FailureKind`) with a one-line ``message`` and a
``hint`` of what to check. Callers word their own reports (a CloudFormation reason, a CLI
error) from that one exception.

Why this needs more than ``KafkaProducer(...)``: kafka-python 3.0.12 retries a failed
bootstrap until ``bootstrap_timeout_ms`` and then raises only ``KafkaTimeoutError``; the
cause (refused, unresolved, untrusted certificate, rejected login) is the failure of the
connection's ``init_future``, which it logs and drops. It also checks that deadline only
between attempts, so a TLS handshake that gets no answer would hold the constructor for
good. So the client is built on a helper thread, and kafka-python is handed (through its
documented ``kafka_client`` option) a network client whose connection manager reports
every connection's failure here, as an exception object: no log records are read. A
failure that waiting cannot heal ends the wait at once; past the deadline the attempt is
abandoned and its I/O loop stopped.

Every use of kafka-python internals is in this module, each with a comment saying why; each
is pinned by a test in tests/test_kafka_connect.py that fails when an upgrade changes it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import kafka.errors as kafka_errors

# kafka-python's network layer: what its `kafka_client` option expects to be built from.
from kafka.net.compat import KafkaNetClient
from kafka.net.manager import KafkaConnectionManager
from kafka.net.selector import NetworkSelector

from document_exceptions.connection import AWS_REGION_VARIABLE, ConfigurationError, KafkaConnection

log = logging.getLogger(__name__)

# The version whose internals this module was written against (pinned where declared).
KAFKA_PYTHON_VERSION = "3.0.12"
CLIENT_ID_PREFIX = "document-exceptions"
# Beyond the bootstrap timeout, how long kafka-python may take to give up by itself.
GRACE_S = 0.5
# How long an abandoned constructor gets to return once its I/O loop was told to stop.
ABANDON_JOIN_S = 2.0
POLL_S = 0.05
# How often a caller's progress callback hears that the brokers are still being tried.
PROGRESS_EVERY_S = 2.0
# kafka-python's default reconnect backoff grows to 30 s, longer than any caller waits.
RECONNECT_BACKOFF_MAX_MS = 1000
# MSK's SASL/SCRAM and IAM listeners: what hints point at when the port or protocol looks wrong.
MSK_SCRAM_PORT = 9096
MSK_IAM_PORT = 9098
# The IAM actions a client's policy needs to open any session on an IAM-enabled MSK cluster.
IAM_CONNECT_ACTION = "kafka-cluster:Connect"

ClientT = TypeVar("ClientT")
Progress = Callable[[str], None]


class FailureKind(StrEnum):
    """Why a client could not connect, in the words an operator acts on."""

    UNREACHABLE = "unreachable"  # refused, name not resolved, no route
    TLS_TRUST = "tls-trust"  # the brokers' certificate is not signed by a trusted CA
    HOSTNAME = "hostname"  # the certificate does not name the host connected to
    AUTHENTICATION = "authentication"  # the SASL login was rejected
    CLOSED_IN_HANDSHAKE = "closed-in-handshake"  # closed before the TLS/Kafka handshake ended
    TIMEOUT = "timeout"  # no answer within the deadline


@dataclass(frozen=True)
class Diagnosis:
    """One connection failure, classified.

    ``final``: waiting cannot heal it (a rejected login, an untrusted certificate); a
    refused or unresolved address is final only once every bootstrap server gave it.
    """

    kind: FailureKind
    detail: str
    final: bool = False

    @property
    def unreachable_address(self) -> bool:
        return self.kind is FailureKind.UNREACHABLE and self.detail in (REFUSED, UNRESOLVED)


REFUSED = "connection refused"
UNRESOLVED = "broker name not resolved"
NO_ANSWER = "no answer"
# OpenSSL's verify codes for a certificate that does not name the host or IP connected to.
_HOSTNAME_MISMATCH_CODES = (62, 64)
# How a connection failure reads in kafka-python 3.0.12's messages (see classify).
_CONNECT_ERRNO = re.compile(r"\b(\d+) (E[A-Z]+)\b")
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
_CLOSED_IN_TLS = re.compile(
    r"UNEXPECTED_EOF|EOF occurred in violation of protocol|Connection reset|"
    r"Connection aborted|Broken pipe|closed",
    re.IGNORECASE,
)


class KafkaConnectError(Exception):
    """A Kafka client could not be opened (or lost its login): which kind, and what to check.

    ``str()`` is the one-line ``message``; ``hint`` says what to check; ``detail`` is the
    underlying failure in a few words. Never carries the password.
    """

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        hint: str,
        *,
        detail: str = "",
        servers: tuple[str, ...] = (),
        waited_s: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        self.detail = detail
        self.servers = servers
        self.waited_s = waited_s


# --- classification ------------------------------------------------------------------------


def classify(error: BaseException) -> Diagnosis | None:
    """The kind of connection failure ``error`` is, or None if it is not one.

    Reads the exception and what it was raised from: kafka-python 3.0.12 wraps a failed TLS
    handshake as ``KafkaConnectionError("Handshake failed: ...")`` raised while handling the
    ``ssl`` error, and a failed connect as ``KafkaConnectionError("111 ECONNREFUSED")`` or
    ``("DNS Resolution failure")``. The rules are tried in order of precedence, each over
    the whole chain: a rejected login explains more than the connection it closed.
    """
    chain = _chain(error)
    for rule in _RULES:
        for link in chain:
            diagnosis = rule(link, _one_line(link))
            if diagnosis is not None:
                return diagnosis
    return None


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain and len(chain) < 8:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain


def _login(link: BaseException, _text: str) -> Diagnosis | None:
    if isinstance(link, kafka_errors.SaslAuthenticationFailedError):
        return Diagnosis(FailureKind.AUTHENTICATION, "SASL login rejected", final=True)
    if isinstance(link, kafka_errors.UnsupportedSaslMechanismError):
        return Diagnosis(FailureKind.AUTHENTICATION, "SASL mechanism not offered", final=True)
    return None


def _verification(link: BaseException, text: str) -> Diagnosis | None:
    if isinstance(link, ssl.SSLCertVerificationError):
        message = link.verify_message or text
        mismatch = link.verify_code in _HOSTNAME_MISMATCH_CODES or "mismatch" in message
    elif "CERTIFICATE_VERIFY_FAILED" in text:
        message = text.split("certificate verify failed: ", 1)[-1]
        mismatch = "mismatch" in message
    else:
        return None
    kind = FailureKind.HOSTNAME if mismatch else FailureKind.TLS_TRUST
    return Diagnosis(kind, _tls_detail(message), final=True)


def _tls_handshake(link: BaseException, text: str) -> Diagnosis | None:
    if "WRONG_VERSION_NUMBER" in text:
        return Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, "the port does not speak TLS", final=True)
    tls = isinstance(link, ssl.SSLError) or "Handshake failed" in text
    if tls and (isinstance(link, ssl.SSLEOFError) or _CLOSED_IN_TLS.search(text)):
        return Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, _tls_detail(text))
    return None


def _address(link: BaseException, text: str) -> Diagnosis | None:
    errno_name = match.group(2) if (match := _CONNECT_ERRNO.search(text)) else ""
    if isinstance(link, ConnectionRefusedError) or errno_name == "ECONNREFUSED":
        return Diagnosis(FailureKind.UNREACHABLE, REFUSED)
    if isinstance(link, socket.gaierror) or "DNS Resolution failure" in text:
        return Diagnosis(FailureKind.UNREACHABLE, UNRESOLVED)
    if errno_name in ("EHOSTUNREACH", "ENETUNREACH"):
        return Diagnosis(FailureKind.UNREACHABLE, "no route to the brokers")
    return None


def _silence(link: BaseException, text: str) -> Diagnosis | None:
    timeouts = kafka_errors.KafkaTimeoutError | kafka_errors.RequestTimedOutError | TimeoutError
    if isinstance(link, timeouts) or "timed out" in text.lower():
        return Diagnosis(FailureKind.TIMEOUT, NO_ANSWER)
    return None


def _closed(link: BaseException, text: str) -> Diagnosis | None:
    if isinstance(link, ConnectionResetError | EOFError) or "ECONNRESET" in text:
        return Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, "connection reset before the answer")
    if isinstance(link, kafka_errors.KafkaConnectionError):
        return Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, "connection closed before the answer")
    if isinstance(link, ssl.SSLError):
        return Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, _tls_detail(text))
    return None


_RULES: tuple[Callable[[BaseException, str], Diagnosis | None], ...] = (
    _login,
    _verification,
    _tls_handshake,
    _address,
    _silence,
    _closed,
)


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def _tls_detail(text: str) -> str:
    """An ssl error's words without the ``(_ssl.c:1006)`` source position, short."""
    text = text.split("Handshake failed: ", 1)[-1]
    return _SSL_SOURCE.sub("", text).strip()[:160]


# --- wording ---------------------------------------------------------------------------------


def connect_error(
    connection: KafkaConnection, diagnosis: Diagnosis, waited_s: float
) -> KafkaConnectError:
    """The :class:`KafkaConnectError` for ``diagnosis``: a message naming the brokers, a hint."""
    servers = ", ".join(connection.bootstrap_servers)
    ports = ", ".join(sorted({s.rpartition(":")[2] for s in connection.bootstrap_servers}))
    protocol = connection.security_protocol
    network = (
        "the brokers are running, this machine has a network path to them (MSK brokers are "
        "private: run inside the cluster's VPC), and the cluster's security group allows "
        f"this client on port {ports}"
    )
    kind, detail = diagnosis.kind, diagnosis.detail
    listener = (
        f"IAM listener is {MSK_IAM_PORT}"
        if connection.uses_iam
        else f"SASL/SCRAM listener is {MSK_SCRAM_PORT}"
    )
    msk_port = MSK_IAM_PORT if connection.uses_iam else MSK_SCRAM_PORT
    broker_string = "IAM" if connection.uses_iam else "SASL/SCRAM"
    if kind is FailureKind.AUTHENTICATION and "mechanism" in detail and connection.uses_iam:
        message = f"the brokers {servers} do not offer SASL mechanism {connection.sasl_mechanism}"
        hint = (
            f"IAM access control is enabled on the cluster and the broker string is the IAM one "
            f"(port {MSK_IAM_PORT}); the SASL/SCRAM listener ({MSK_SCRAM_PORT}) takes "
            "SCRAM-SHA-512 only"
        )
    elif kind is FailureKind.AUTHENTICATION and "mechanism" in detail:
        message = f"the brokers {servers} do not offer SASL mechanism {connection.sasl_mechanism}"
        hint = f"MSK's SASL/SCRAM listener (port {MSK_SCRAM_PORT}) takes SCRAM-SHA-512 only"
    elif kind is FailureKind.AUTHENTICATION and connection.uses_iam:
        message = (
            f"the brokers {servers} rejected the IAM (AWS_MSK_IAM) login of this process's "
            "AWS credentials"
        )
        hint = (
            f"the role's policy allows {IAM_CONNECT_ACTION} on the cluster's ARN (and the "
            "topic's kafka-cluster actions, e.g. WriteData and DescribeTopic, on the topic's "
            "ARN), the credentials are current, the region (AWS_DEFAULT_REGION) is the "
            "cluster's, and the broker string is the IAM one (port "
            f"{MSK_IAM_PORT}) naming the brokers as the cluster does"
        )
    elif kind is FailureKind.AUTHENTICATION:
        message = (
            f"the brokers {servers} rejected the SASL/{connection.sasl_mechanism} login as "
            f"{connection.sasl_username!r}"
        )
        hint = (
            "the secret's username and password are current, and the secret is associated "
            "with the cluster (a new association takes a few minutes)"
        )
    elif kind is FailureKind.TLS_TRUST:
        message = f"the TLS certificate of the brokers {servers} is not trusted ({detail})"
        hint = (
            "the CA file (KAFKA_SSL_CAFILE / --cafile) is the one that signed the brokers' "
            "certificates; MSK's certificates are publicly trusted, so leave it unset there"
        )
    elif kind is FailureKind.HOSTNAME:
        message = (
            f"the TLS certificate of the brokers {servers} does not name the address "
            f"connected to ({detail})"
        )
        hint = "the broker string uses the brokers' names from the cluster, not IPs or aliases"
    elif kind is FailureKind.CLOSED_IN_HANDSHAKE:
        stage = "TLS" if protocol in ("SSL", "SASL_SSL") else "Kafka"
        message = (
            f"the brokers {servers} closed the connection during the {stage} handshake ({detail})"
        )
        hint = (
            f"the broker string is the {broker_string} one (port {msk_port}), the security "
            f"protocol ({protocol}) matches the listener, and {network}"
        )
    elif kind is FailureKind.UNREACHABLE and detail == UNRESOLVED:
        message = f"the broker names {servers} do not resolve"
        hint = (
            "the broker string is current (it changes when the cluster is replaced) and this "
            "machine uses the VPC's DNS resolver"
        )
    elif kind is FailureKind.UNREACHABLE and detail == REFUSED:
        message = f"the brokers {servers} refused the connection"
        hint = (
            f"the brokers are running and listen on port {ports} ({protocol}; MSK's "
            f"{listener}), and the cluster's security group allows this client on that port"
        )
    elif kind is FailureKind.UNREACHABLE:
        message = f"the brokers {servers} cannot be reached ({detail})"
        hint = network
    else:
        message = f"no answer from the brokers {servers} within {waited_s:g} s"
        hint = network
    return KafkaConnectError(
        kind,
        message,
        hint,
        detail=detail,
        servers=connection.bootstrap_servers,
        waited_s=waited_s,
    )


# --- watching connections ------------------------------------------------------------------


class _WatchedConnectionManager(KafkaConnectionManager):
    """kafka-python's connection manager, reporting each connection's failure.

    Internal: ``KafkaConnectionManager(net, **configs)`` and ``get_connection(node_id,
    ...)`` returning a connection whose public ``init_future`` fails with the reason the
    connection could not be set up (TCP, TLS, SASL). Overriding ``get_connection`` is the
    one place every connection, bootstrap or not, passes through.
    """

    def __init__(
        self, net: NetworkSelector, report: Callable[[str, BaseException], None], **configs: Any
    ) -> None:
        super().__init__(net, **configs)
        self._report = report
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()

    def get_connection(self, node_id: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            conn = super().get_connection(node_id, *args, **kwargs)
        except kafka_errors.SaslAuthenticationFailedError as exc:  # a login failure it cached
            self._report(str(node_id), exc)
            raise
        if conn not in self._watched:
            self._watched.add(conn)
            conn.init_future.add_errback(lambda exc: self._report(str(node_id), exc))
        return conn


@dataclass
class _Made:
    """One network client kafka-python had us build, with the parts needed to stop it."""

    net: NetworkSelector
    manager: _WatchedConnectionManager
    client: KafkaNetClient


class ConnectionWatch:
    """What the connections of one client went through: counts per kind, the latest failure.

    Serves as kafka-python's ``kafka_client`` factory (a documented option: a callable taking
    the client's configuration and returning a ``KafkaNetClient``). Thread-safe: failures are
    reported on kafka-python's I/O thread. Keeps counts, not a list, so a producer that
    retries a lost login for hours holds no more memory than one that never failed.
    """

    def __init__(self, connection: KafkaConnection) -> None:
        self.connection = connection
        self._lock = threading.Lock()
        self._made: list[_Made] = []
        self._counts: dict[FailureKind, int] = {}
        self._latest: dict[FailureKind, tuple[int, Diagnosis]] = {}
        self._seen = 0
        self._last: Diagnosis | None = None
        self._unreachable_nodes: set[str] = set()
        self._bootstrap_nodes: set[str] = set()
        self._final: Diagnosis | None = None
        self._ignoring = False

    def __call__(self, **configs: Any) -> KafkaNetClient:
        # Internal: KafkaNetClient(net=, manager=, **configs) is how kafka-python 3.0.12
        # builds its own; the selector is kept to stop an abandoned client's I/O loop.
        net = NetworkSelector(**configs)
        manager = _WatchedConnectionManager(net, self._connection_failed, **configs)
        client = KafkaNetClient(net=net, manager=manager, **configs)
        with self._lock:
            self._made.append(_Made(net, manager, client))
            # Internal: ClusterMetadata.bootstrap_brokers() lists the bootstrap servers
            # as the nodes kafka-python connects to first ("bootstrap-0", ...).
            self._bootstrap_nodes = {
                str(broker.node_id) for broker in manager.cluster.bootstrap_brokers()
            }
        return client

    def _connection_failed(self, node_id: str, error: BaseException) -> None:
        diagnosis = classify(error)
        if diagnosis is None:
            return
        with self._lock:
            if self._ignoring:
                return
            self._counts[diagnosis.kind] = self._counts.get(diagnosis.kind, 0) + 1
            self._seen += 1
            self._latest[diagnosis.kind] = (self._seen, diagnosis)
            self._last = diagnosis
            if diagnosis.unreachable_address and node_id in self._bootstrap_nodes:
                self._unreachable_nodes.add(node_id)
                if self._unreachable_nodes >= self._bootstrap_nodes:
                    diagnosis = Diagnosis(diagnosis.kind, diagnosis.detail, final=True)
            if diagnosis.final and self._final is None:
                self._final = diagnosis

    def count(self, *kinds: FailureKind) -> int:
        """How many connection failures of these kinds were seen so far."""
        with self._lock:
            return sum(self._counts.get(kind, 0) for kind in kinds)

    def latest(self, *kinds: FailureKind) -> KafkaConnectError | None:
        """The most recent failure of one of these kinds, worded, or None."""
        with self._lock:
            found = [self._latest[kind] for kind in kinds if kind in self._latest]
        if not found:
            return None
        _, diagnosis = max(found, key=lambda seen: seen[0])
        return connect_error(self.connection, diagnosis, 0.0)

    @property
    def final(self) -> Diagnosis | None:
        with self._lock:
            return self._final

    def diagnosis(self, error: BaseException | None) -> Diagnosis:
        """The most telling reason an open failed: a final failure, else the last one seen,
        else what the constructor raised, else no answer."""
        with self._lock:
            seen = self._final or self._last
        if seen is not None:
            return seen
        raised = classify(error) if error is not None else None
        return raised or Diagnosis(FailureKind.TIMEOUT, NO_ANSWER)

    def abandon(self) -> None:
        """Stop listening (what a loop being stopped reports is not a reason) and end every
        bootstrap: ``manager.close()`` run on the client's own I/O loop makes kafka-python's
        bootstrap loop give up at once."""
        with self._lock:
            self._ignoring = True
            made = list(self._made)
        for part in made:
            # Internal: NetworkSelector.call_soon_threadsafe schedules onto the I/O loop,
            # whichever thread drives it; KafkaConnectionManager.close ends the bootstrap.
            with contextlib.suppress(Exception):
                part.net.call_soon_threadsafe(part.manager.close)

    def close_all(self) -> None:
        """Close every network client made (stopping an I/O thread one may have started)."""
        with self._lock:
            made = list(self._made)
        for part in made:
            try:
                part.client.close()  # closes the manager, then the selector (and its thread)
            except Exception:  # best effort: the open has failed already
                log.debug("closing an abandoned Kafka network client failed", exc_info=True)


_watches: weakref.WeakKeyDictionary[Any, ConnectionWatch] = weakref.WeakKeyDictionary()


def connection_watch(client: Any) -> ConnectionWatch | None:
    """The watch of a client opened with :func:`open_client` (None for any other)."""
    return _watches.get(client)


# --- opening ---------------------------------------------------------------------------------


class _Construction:
    """``client_class(**kwargs)`` on a helper thread, which the caller may give up on."""

    def __init__(self, client_class: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self._client_class = client_class
        self._kwargs = kwargs
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.client: Any = None
        self.error: BaseException | None = None
        self.abandoned = False

    def run(self) -> None:
        try:
            client = self._client_class(**self._kwargs)
        except BaseException as exc:  # handed to the waiting thread
            with self.lock:
                self.error = exc
            self.done.set()
            return
        with self.lock:
            late = self.abandoned
            if not late:
                self.client = client
        self.done.set()
        if late:
            close_quietly(client)


def open_client(
    client_class: Callable[..., ClientT],
    connection: KafkaConnection,
    *,
    timeout_s: float,
    client_id: str | None = None,
    on_progress: Progress | None = None,
    **configs: Any,
) -> ClientT:
    """``client_class(**connection settings, **configs)``, connected within ``timeout_s``.

    ``client_class`` is kafka-python's ``KafkaProducer``, ``KafkaConsumer`` or
    ``KafkaAdminClient``. Raises :class:`KafkaConnectError`: at once for a rejected login,
    an untrusted or mismatched certificate, a port that does not speak TLS, or an address
    that every bootstrap server refused (or whose name does not resolve); otherwise after
    ``timeout_s`` (plus a small grace) with the last failure seen. While waiting,
    ``on_progress`` (if given) hears every few seconds that the brokers are still being
    tried. Errors that are not about connecting (invalid settings) are raised unchanged.
    """
    redact_client_configuration_logs()
    if connection.uses_iam:
        check_iam_signer()
    client_id = client_id or f"{CLIENT_ID_PREFIX}-{uuid.uuid4().hex[:10]}"
    watch = ConnectionWatch(connection)
    kwargs: dict[str, Any] = {
        **connection.client_kwargs(),
        "client_id": client_id,
        "bootstrap_timeout_ms": max(1, int(timeout_s * 1000)),
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **configs,
        "kafka_client": watch,
    }
    construction = _Construction(client_class, kwargs)
    worker = threading.Thread(target=construction.run, name=f"{client_id}-connect", daemon=True)
    started = time.monotonic()
    deadline = started + timeout_s + GRACE_S
    next_progress = started + PROGRESS_EVERY_S
    worker.start()
    while not construction.done.wait(POLL_S):
        now = time.monotonic()
        if watch.final is not None or now >= deadline:
            break
        if on_progress is not None and now >= next_progress:
            on_progress(_progress_line(connection, watch, now - started, timeout_s))
            next_progress += PROGRESS_EVERY_S
    with construction.lock:
        if construction.client is not None:
            _watches[construction.client] = watch
            return construction.client
        construction.abandoned = True
        error = construction.error
    if error is not None and classify(error) is None:
        _stop(worker, watch)
        raise error
    waited = time.monotonic() - started
    failure = connect_error(connection, watch.diagnosis(error), round(timeout_s, 1))
    _stop(worker, watch)
    log.debug("Kafka client %s not opened after %.1f s: %s", client_id, waited, failure)
    raise failure


def check_iam_signer() -> None:
    """Fail at once, naming the setting, where kafka-python's AWS_MSK_IAM signer would fail.

    kafka-python 3.0.12 builds a botocore session per login and raises, inside its I/O loop,
    when that session has no region or no credentials; the connection then just never comes
    up, and the caller would wait for its deadline and hear "no answer". The same lookup here
    (botocore's default session: environment, profile, container or instance role) turns that
    into a :class:`ConfigurationError`.
    """
    from botocore.session import Session  # noqa: PLC0415 - only IAM connections need botocore

    session = Session()
    if not session.get_config_variable("region"):
        raise ConfigurationError(
            AWS_REGION_VARIABLE,
            "not set: the AWS_MSK_IAM login is signed for the cluster's region (Lambda sets "
            "it; elsewhere export it, or pass --region to the operator commands)",
        )
    if session.get_credentials() is None:
        raise ConfigurationError(
            "AWS credentials",
            "none found for the AWS_MSK_IAM login (environment, AWS profile or role)",
        )


def _stop(worker: threading.Thread, watch: ConnectionWatch) -> None:
    """End the abandoned constructor and every I/O loop it started; if the constructor does
    not return in time, finish in the background."""
    watch.abandon()
    worker.join(ABANDON_JOIN_S)
    if not worker.is_alive():
        watch.close_all()
        return

    def finish() -> None:
        worker.join()
        watch.close_all()

    threading.Thread(target=finish, name=f"{worker.name}-cleanup", daemon=True).start()


def _progress_line(
    connection: KafkaConnection, watch: ConnectionWatch, elapsed: float, timeout_s: float
) -> str:
    seen = watch.diagnosis(None)
    last = "" if seen.detail == NO_ANSWER else f"; last: {seen.detail}"
    return (
        f"still trying to reach the Kafka brokers {', '.join(connection.bootstrap_servers)} "
        f"({elapsed:.0f} s of {timeout_s:g} s{last})"
    )


def close_quietly(client: Any) -> None:
    """Close a kafka-python client, ignoring errors (closing is best effort)."""
    with contextlib.suppress(Exception):
        client.close()


def close_producer(producer: Any, timeout_s: float) -> None:
    """Close a producer; if that fails, still stop its sender thread.

    kafka-python 3.0.12: once a batch that was already sent expires, an idempotent producer
    is stuck (no new producer id; pending batches neither complete nor expire) and close()
    raises. Its thread would then live on with the process (a Lambda container), so it is
    force-closed. Internal: ``producer._sender`` (a thread) and its ``force_close()``.
    """
    try:
        producer.close(timeout=timeout_s)
    except Exception as exc:  # the records' fate is already reported
        log.warning("Kafka producer did not close cleanly (%s); stopping its thread", exc)
        sender = getattr(producer, "_sender", None)
        if sender is not None and hasattr(sender, "force_close"):
            sender.force_close()
            sender.join(timeout_s)


# --- the password in kafka-python's debug log -------------------------------------------------

# kafka-python loggers that log a client's whole configuration at DEBUG, SASL password
# included (kafka-python 3.0.12: KafkaAdminClient's constructor).
CONFIGURATION_LOGGERS = ("kafka.admin.client",)
REDACTED = "[redacted]"


class _RedactSecrets(logging.Filter):
    """Replaces the values of ``*password*`` keys in a record's mapping arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = _redacted(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        return True


def _redacted(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {
        key: REDACTED if "password" in str(key).lower() and item is not None else item
        for key, item in value.items()
    }


_redaction = _RedactSecrets()


def redact_client_configuration_logs(names: Iterable[str] = CONFIGURATION_LOGGERS) -> None:
    """Install the redacting filter on the loggers that log client configurations (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if _redaction not in logger.filters:
            logger.addFilter(_redaction)
