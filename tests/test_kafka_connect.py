"""The one Kafka connection module: classification, one real-broker test per failure kind,
the password kept out of kafka-python's debug log, and pins of every kafka-python internal
the module relies on (each fails when an upgrade changes what it pins).

The real-broker tests replace the copies each caller used to have ("wrong password fails
fast", "untrusted CA", ...); the callers' tests keep only their own wording.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import ssl
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import kafka
import kafka.errors as kafka_errors
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.net.compat import KafkaNetClient
from kafka.net.manager import KafkaConnectionManager
from kafka.net.selector import NetworkSelector

from document_exceptions import cli, kafka_connect
from document_exceptions.connection import KafkaConnection, from_kafka_settings
from document_exceptions.kafka_connect import (
    ConnectionWatch,
    Diagnosis,
    FailureKind,
    KafkaConnectError,
    classify,
    close_producer,
    connect_error,
    open_client,
)
from tests.harness.broker import free_port
from tests.harness.certs import make_tls_files
from tests.harness.relay import RelayedBroker
from tests.harness.sasl_front_end import SaslScramFrontEnd, SaslSslBroker, ScramCredential
from tests.ops_helpers import without_kafka_environment

REPO = Path(__file__).resolve().parent.parent
CLIENTS = (KafkaProducer, KafkaConsumer, KafkaAdminClient)
# A failure that waiting cannot heal is reported well within this.
AT_ONCE_S = 1.0
pytestmark = pytest.mark.timeout(60)


def kafka_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("kafka-io", "dx-"))]


def opened(
    client_class: Callable[..., Any], connection: KafkaConnection, timeout_s: float = 3.0, **kw
) -> tuple[KafkaConnectError, float]:
    """Open a client that must fail; the error and how long it took."""
    started = time.monotonic()
    with pytest.raises(KafkaConnectError) as failed:
        open_client(client_class, connection, timeout_s=timeout_s, client_id="dx-t", **kw)
    return failed.value, time.monotonic() - started


@pytest.fixture
def secure(secure_kafka_broker: SaslSslBroker) -> KafkaConnection:
    return from_kafka_settings(secure_kafka_broker.client_env())


# --- classification (table) -----------------------------------------------------------------


def raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner``, as kafka-python wraps a handshake error."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - implicit chaining is what kafka-python does
    except BaseException as exc:
        return exc


def cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code, error.verify_message = code, message
    return error


HANDSHAKE = "Handshake failed: [SSL: {}] {} (_ssl.c:1006)"

CLASSIFICATION = [
    # (what kafka-python 3.0.12 reports, kind, detail, final)
    (kafka_errors.SaslAuthenticationFailedError("invalid credentials"), "authentication",
     "SASL login rejected", True),
    (kafka_errors.UnsupportedSaslMechanismError("x"), "authentication",
     "SASL mechanism not offered", True),
    (kafka_errors.KafkaConnectionError(HANDSHAKE.format(
        "CERTIFICATE_VERIFY_FAILED",
        "certificate verify failed: unable to get local issuer certificate")),
     "tls-trust", "unable to get local issuer certificate", True),
    (raised_from(kafka_errors.KafkaConnectionError("Handshake failed: x"),
                 cert_error(20, "unable to get local issuer certificate")),
     "tls-trust", "unable to get local issuer certificate", True),
    (raised_from(kafka_errors.KafkaConnectionError("Handshake failed: x"),
                 cert_error(62, "Hostname mismatch, certificate is not valid for 'b-1'.")),
     "hostname", "Hostname mismatch, certificate is not valid for 'b-1'.", True),
    (kafka_errors.KafkaConnectionError(HANDSHAKE.format(
        "CERTIFICATE_VERIFY_FAILED",
        "certificate verify failed: IP address mismatch, certificate is not valid for "
        "'127.0.0.1'.")),
     "hostname", "IP address mismatch, certificate is not valid for '127.0.0.1'.", True),
    (kafka_errors.KafkaConnectionError(HANDSHAKE.format("WRONG_VERSION_NUMBER",
                                                        "wrong version number")),
     "closed-in-handshake", "the port does not speak TLS", True),
    (kafka_errors.KafkaConnectionError(HANDSHAKE.format(
        "UNEXPECTED_EOF_WHILE_READING", "EOF occurred in violation of protocol")),
     "closed-in-handshake",
     "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol", False),
    (kafka_errors.KafkaConnectionError("111 ECONNREFUSED"), "unreachable",
     "connection refused", False),
    (ConnectionRefusedError(111, "Connection refused"), "unreachable",
     "connection refused", False),
    (kafka_errors.KafkaConnectionError("DNS Resolution failure"), "unreachable",
     "broker name not resolved", False),
    (kafka_errors.KafkaConnectionError("113 EHOSTUNREACH"), "unreachable",
     "no route to the brokers", False),
    (kafka_errors.KafkaConnectionError("Connection timed out"), "timeout", "no answer", False),
    (kafka_errors.KafkaTimeoutError("Unable to bootstrap from ['h:1']"), "timeout",
     "no answer", False),
    (kafka_errors.RequestTimedOutError("Request timed out after 1000 ms"), "timeout",
     "no answer", False),
    (kafka_errors.KafkaConnectionError("104 ECONNRESET"), "closed-in-handshake",
     "connection reset before the answer", False),
    (kafka_errors.KafkaConnectionError(), "closed-in-handshake",
     "connection closed before the answer", False),
    (ValueError("Not supported codec: brotli"), None, None, None),
    (kafka_errors.KafkaConfigurationError("Unrecognized configs"), None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("error", "kind", "detail", "final"), CLASSIFICATION)
def test_classification(
    error: BaseException, kind: str | None, detail: str | None, final: bool | None
) -> None:
    diagnosis = classify(error)
    if kind is None:
        assert diagnosis is None
    else:
        assert diagnosis == Diagnosis(FailureKind(kind), detail or "", final=bool(final))


CONNECTION = KafkaConnection(
    ("b-1.example:9096", "b-2.example:9096"),
    "SASL_SSL",
    "SCRAM-SHA-512",
    "app-user",
    "the-password",
)


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_kind_has_a_one_line_message_and_hint_naming_the_brokers(kind: FailureKind) -> None:
    error = connect_error(CONNECTION, Diagnosis(kind, "some detail"), 10.0)

    assert error.kind is kind
    assert str(error) == error.message
    assert "b-1.example:9096, b-2.example:9096" in error.message
    for text in (error.message, error.hint):
        assert "\n" not in text
        assert text
        assert "the-password" not in text


# --- one real-broker test per failure kind ----------------------------------------------------


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_unreachable_a_refused_local_port_fails_at_once(client_class: Any) -> None:
    connection = KafkaConnection((f"127.0.0.1:{free_port()}",))
    progress: list[str] = []

    error, elapsed = opened(client_class, connection, timeout_s=10, on_progress=progress.append)

    assert (error.kind, error.detail) == (FailureKind.UNREACHABLE, "connection refused")
    assert error.message == f"the brokers {connection.bootstrap_servers[0]} refused the connection"
    assert elapsed < AT_ONCE_S
    assert progress == []


def test_unreachable_a_refused_port_waits_while_another_bootstrap_server_may_answer(
    kafka_broker: RelayedBroker,
) -> None:
    """Refused by one of two servers is not final: the other one could still answer."""
    kafka_broker.relay.blackhole()
    connection = KafkaConnection((f"127.0.0.1:{free_port()}", kafka_broker.bootstrap))

    error, elapsed = opened(KafkaProducer, connection, timeout_s=1.5)

    assert error.kind in (FailureKind.UNREACHABLE, FailureKind.TIMEOUT)  # whichever came last
    assert elapsed >= 1.5


def test_unreachable_a_name_that_does_not_resolve_fails_at_once() -> None:
    error, elapsed = opened(KafkaProducer, KafkaConnection(("broker.invalid:9096",)), 10)

    assert (error.kind, error.detail) == (FailureKind.UNREACHABLE, "broker name not resolved")
    assert "do not resolve" in error.message
    assert elapsed < AT_ONCE_S


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_tls_trust_an_untrusted_ca_fails_at_once(
    client_class: Any, secure: KafkaConnection, secure_kafka_broker: SaslSslBroker, tmp_path: Path
) -> None:
    other_ca = make_tls_files(tmp_path / "other-ca").ca_cert
    logins = secure_kafka_broker.front_end.logins

    error, elapsed = opened(client_class, replace(secure, ssl_cafile=str(other_ca)), 10)

    assert error.kind is FailureKind.TLS_TRUST
    assert error.message.startswith(
        f"the TLS certificate of the brokers {secure_kafka_broker.bootstrap} is not trusted ("
    )
    assert "KAFKA_SSL_CAFILE" in error.hint
    assert elapsed < AT_ONCE_S
    assert secure_kafka_broker.front_end.logins == logins  # no login over an untrusted link


@pytest.fixture(scope="module")
def misnamed_front_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslScramFrontEnd]:
    """A TLS front-end whose certificate names another host (no broker behind it)."""
    tls = make_tls_files(
        tmp_path_factory.mktemp("misnamed"), dns_names=("elsewhere.invalid",), ip_addresses=()
    )
    with SaslScramFrontEnd(tls, "user", "password") as front_end:
        yield front_end


def test_hostname_a_certificate_for_another_name_fails_at_once(
    misnamed_front_end: SaslScramFrontEnd,
) -> None:
    connection = KafkaConnection(
        (misnamed_front_end.bootstrap,),
        "SASL_SSL",
        "SCRAM-SHA-512",
        "user",
        "password",
        str(misnamed_front_end.tls.ca_cert),
    )

    error, elapsed = opened(KafkaProducer, connection, 10)

    assert error.kind is FailureKind.HOSTNAME
    assert "mismatch" in error.detail
    assert "127.0.0.1" in error.detail
    assert elapsed < AT_ONCE_S


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_authentication_a_wrong_password_fails_at_once(
    client_class: Any, secure: KafkaConnection, secure_kafka_broker: SaslSslBroker
) -> None:
    failed_logins = secure_kafka_broker.front_end.failed_logins

    error, elapsed = opened(client_class, replace(secure, sasl_password="not-the-password"), 10)

    assert error.kind is FailureKind.AUTHENTICATION
    assert error.message == (
        f"the brokers {secure_kafka_broker.bootstrap} rejected the SASL/SCRAM-SHA-512 login "
        "as 'harness-user'"
    )
    assert "associated with the cluster" in error.hint
    assert "not-the-password" not in error.message + error.hint
    assert elapsed < AT_ONCE_S
    assert secure_kafka_broker.front_end.failed_logins == failed_logins + 1  # one try, no retry
    assert kafka_threads() == []


def test_closed_in_handshake_a_tls_listener_that_hangs_up_is_retried_until_the_timeout(
    secure: KafkaConnection, secure_kafka_broker: SaslSslBroker
) -> None:
    secure_kafka_broker.relay.refuse()  # accepts, then closes: not a refused address
    progress: list[str] = []

    error, elapsed = opened(KafkaProducer, secure, 2.5, on_progress=progress.append)

    assert error.kind is FailureKind.CLOSED_IN_HANDSHAKE
    assert "during the TLS handshake" in error.message
    assert "port 9096" in error.hint
    assert 2.5 <= elapsed < 2.5 + kafka_connect.GRACE_S + 1
    assert progress
    assert "still trying" in progress[0]


def test_closed_in_handshake_a_plaintext_listener_that_hangs_up(
    kafka_broker: RelayedBroker,
) -> None:
    kafka_broker.relay.refuse()

    error, _ = opened(KafkaAdminClient, KafkaConnection((kafka_broker.bootstrap,)), 1.5)

    assert error.kind is FailureKind.CLOSED_IN_HANDSHAKE
    assert "during the Kafka handshake" in error.message


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_timeout_a_blackhole_says_it_is_still_trying_then_gives_up(
    client_class: Any, kafka_broker: RelayedBroker
) -> None:
    kafka_broker.relay.blackhole()
    progress: list[str] = []

    error, elapsed = opened(
        client_class, KafkaConnection((kafka_broker.bootstrap,)), 2.5, on_progress=progress.append
    )

    assert error.kind is FailureKind.TIMEOUT
    assert error.message == f"no answer from the brokers {kafka_broker.bootstrap} within 2.5 s"
    assert 2.5 <= elapsed < 2.5 + kafka_connect.GRACE_S + kafka_connect.ABANDON_JOIN_S
    assert progress == [
        f"still trying to reach the Kafka brokers {kafka_broker.bootstrap} (2 s of 2.5 s)"
    ]
    assert kafka_threads() == []  # the abandoned client's I/O thread was stopped


def test_timeout_an_unanswered_tls_handshake_is_abandoned_at_the_deadline(
    secure: KafkaConnection, secure_kafka_broker: SaslSslBroker
) -> None:
    """kafka-python alone would wait for the handshake's answer forever."""
    secure_kafka_broker.relay.blackhole()

    error, elapsed = opened(KafkaProducer, secure, 1.0)

    assert error.kind is FailureKind.TIMEOUT
    assert elapsed < 1.0 + kafka_connect.GRACE_S + kafka_connect.ABANDON_JOIN_S
    assert kafka_threads() == []
    assert not any(t.name.startswith("dx-t-connect") for t in threading.enumerate())


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_every_client_opens_over_sasl_ssl_and_is_watched(
    client_class: Any, secure: KafkaConnection
) -> None:
    client = open_client(client_class, secure, timeout_s=5)
    try:
        watch = kafka_connect.connection_watch(client)
        assert isinstance(watch, ConnectionWatch)
        assert watch.count(*FailureKind) == 0
    finally:
        client.close()


def test_a_login_lost_after_opening_is_counted_for_that_client(
    secure: KafkaConnection, secure_kafka_broker: SaslSslBroker, fresh_topic: Any
) -> None:
    """What the publisher relies on to stop waiting for acknowledgements early."""
    topic = secure_kafka_broker.create_topic(fresh_topic(), 1, 1)
    producer = open_client(KafkaProducer, secure, timeout_s=5, request_timeout_ms=1000)
    watch = kafka_connect.connection_watch(producer)
    assert watch is not None
    front_end = secure_kafka_broker.front_end
    original = front_end.credential
    try:
        producer.send(topic, b"before").get(5)
        front_end.credential = ScramCredential.from_password("harness-user", "rotated")
        front_end.cut()
        producer.send(topic, b"after")
        deadline = time.monotonic() + 5
        while watch.count(FailureKind.AUTHENTICATION) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        front_end.credential = original
        close_producer(producer, 2)
    lost = watch.latest(FailureKind.AUTHENTICATION)
    assert lost is not None
    assert "rejected the SASL/SCRAM-SHA-512 login" in lost.message


def test_settings_errors_are_raised_unchanged(kafka_broker: RelayedBroker) -> None:
    with pytest.raises(ValueError, match="codec"):
        open_client(
            KafkaProducer,
            KafkaConnection((kafka_broker.bootstrap,)),
            timeout_s=5,
            compression_type="brotli",
        )


# --- the password stays out of kafka-python's debug log ----------------------------------------


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_debug_logging_shows_no_password_when_a_client_opens(
    client_class: Any, secure: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="kafka")  # whatever another module set it to

    kafka_connect.close_quietly(open_client(client_class, secure, timeout_s=5))

    assert secure.sasl_password
    assert any(record.name.startswith("kafka.") for record in caplog.records)
    assert secure.sasl_password not in caplog.text


def test_the_admin_client_logs_its_configuration_with_the_password_redacted(
    secure: KafkaConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """Pins the logger that needs the filter: without it, the password would be here."""
    caplog.set_level(logging.DEBUG, logger="kafka.admin.client")

    kafka_connect.close_quietly(open_client(KafkaAdminClient, secure, timeout_s=5))

    (record,) = [r for r in caplog.records if "with configuration" in r.getMessage()]
    assert record.name in kafka_connect.CONFIGURATION_LOGGERS
    assert f"'sasl_plain_password': '{kafka_connect.REDACTED}'" in record.getMessage()


# --- pins: kafka-python internals this module relies on --------------------------------------


SKIPPED = {"node_modules", "cdk.out"}


def requirement_files(root: Path) -> list[Path]:
    """Every requirements*.txt of the repository (not of its virtualenv or node_modules)."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = [f for f in folders if not f.startswith(".") and f not in SKIPPED]
        found += [Path(folder, name) for name in files if re.match(r"requirements.*\.txt$", name)]
    return found


def test_kafka_python_is_the_pinned_version_everywhere_it_is_declared() -> None:
    pin = f"kafka-python=={kafka_connect.KAFKA_PYTHON_VERSION}"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = [d for d in pyproject["project"]["dependencies"] if d.startswith("kafka-python")]
    requirements = [
        line.strip()
        for path in requirement_files(REPO)
        for line in path.read_text().splitlines()
        if re.match(r"kafka-python\b", line.strip())
    ]

    assert declared == [pin]
    assert requirements
    assert set(requirements) == {pin}
    assert kafka.__version__ == kafka_connect.KAFKA_PYTHON_VERSION


def test_pin_clients_take_a_kafka_client_factory() -> None:
    for client_class in CLIENTS:
        assert "kafka_client" in client_class.DEFAULT_CONFIG


def test_pin_a_net_client_is_built_from_a_selector_and_a_manager_we_pass() -> None:
    watch = ConnectionWatch(KafkaConnection(("127.0.0.1:9",)))
    client = watch(bootstrap_servers=["127.0.0.1:9"], client_id="dx-pin")
    try:
        assert isinstance(client, KafkaNetClient)
        assert isinstance(client._manager, kafka_connect._WatchedConnectionManager)
        assert isinstance(client._net, NetworkSelector)
        assert client._manager._net is client._net
        assert watch._bootstrap_nodes == {"bootstrap-0"}  # ClusterMetadata.bootstrap_brokers
    finally:
        client.close()


def test_pin_connection_manager_signatures() -> None:
    init = inspect.signature(KafkaConnectionManager.__init__)
    assert list(init.parameters)[:2] == ["self", "net"]
    get_connection = inspect.signature(KafkaConnectionManager.get_connection)
    assert list(get_connection.parameters)[:2] == ["self", "node_id"]
    assert callable(KafkaConnectionManager.close)
    assert callable(NetworkSelector.call_soon_threadsafe)
    close = inspect.signature(KafkaNetClient.close)
    assert list(close.parameters) == ["self", "node_id"]


@pytest.mark.timeout(60)
def test_pin_a_stuck_idempotent_producer_is_still_closed_through_its_sender(
    kafka_broker: RelayedBroker, fresh_topic: Any
) -> None:
    """kafka-python 3.0.12 leaves an idempotent producer stuck after an in-flight batch
    expired (tests/test_harness.py); close_producer must still end its sender thread."""
    topic = kafka_broker.create_topic(fresh_topic(), 1, 1)
    producer = open_client(
        KafkaProducer,
        KafkaConnection((kafka_broker.bootstrap,)),
        timeout_s=5,
        client_id="dx-stuck-producer",
        request_timeout_ms=1000,
        delivery_timeout_ms=2000,
        max_block_ms=2000,
    )
    assert callable(producer._sender.force_close)
    producer.send(topic, b"acknowledged").get(5)
    kafka_broker.relay.blackhole()
    with pytest.raises(kafka_errors.KafkaTimeoutError):
        producer.send(topic, b"expired").get(10)
    kafka_broker.relay.heal()
    producer.send(topic, b"pending")

    close_producer(producer, 0.5)

    alive = [t.name for t in threading.enumerate() if "dx-stuck-producer" in t.name]
    assert alive == []


# --- the operator commands: a refused local port fails at once, a slow one says so -------------

CLI_SEND_FLAGS = [
    "--order-req-id", "SB1029435",
    "--s3-key", "documents/user123/contract.pdf",
    "--user-id", "user123",
    "--exception-type", "access_denied",
    "--error-message", "denied",
]  # fmt: skip
COMMANDS = {
    "doctor": ["doctor", "--topic", "DocumentExceptions", "--timeout", "{s}"],
    "tail": ["tail", "--topic", "DocumentExceptions", "--connect-timeout", "{s}"],
    "send": ["send", *CLI_SEND_FLAGS, "--topic", "DocumentExceptions", "--timeout", "{s}"],
}


def run_command(
    name: str, bootstrap: str, seconds: float, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, str, float]:
    """Run the command against ``bootstrap``: exit code, stdout + stderr, seconds taken."""
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f'["{bootstrap}"]')
    argv = [arg.format(s=seconds) for arg in COMMANDS[name]]
    started = time.monotonic()
    code = cli.main(argv)
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    return code, captured.out + captured.err, elapsed


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_fails_at_once_on_a_refused_local_port(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output, elapsed = run_command(
        command, f"127.0.0.1:{free_port()}", 10, monkeypatch, capsys
    )

    assert code == 1
    assert "refused the connection" in output
    assert "still trying" not in output
    assert elapsed < AT_ONCE_S


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_says_it_is_still_trying_a_silent_broker(
    command: str,
    kafka_broker: RelayedBroker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kafka_broker.relay.blackhole()

    code, output, _ = run_command(command, kafka_broker.bootstrap, 3, monkeypatch, capsys)

    assert code == 1
    assert (
        f"still trying to reach the Kafka brokers {kafka_broker.bootstrap} (2 s of 3 s)" in output
    )


# --- MSK IAM wording --------------------------------------------------------------------------


def test_iam_failures_point_at_iam_policies_and_the_iam_listener() -> None:
    from document_exceptions.connection import msk_iam_connection  # noqa: PLC0415
    from document_exceptions.kafka_connect import (  # noqa: PLC0415
        Diagnosis,
        FailureKind,
        connect_error,
    )

    connection = msk_iam_connection(["b-1.example:9098"])
    refused = connect_error(
        connection, Diagnosis(FailureKind.AUTHENTICATION, "SASL login rejected", final=True), 0
    )
    assert "rejected the IAM (AWS_MSK_IAM) login" in refused.message
    assert "kafka-cluster:Connect on the cluster's ARN" in refused.hint
    assert "AWS_DEFAULT_REGION" in refused.hint
    not_offered = connect_error(
        connection,
        Diagnosis(FailureKind.AUTHENTICATION, "SASL mechanism not offered", final=True),
        0,
    )
    assert "IAM access control is enabled" in not_offered.hint
    assert "port 9098" in not_offered.hint
    closed = connect_error(
        connection, Diagnosis(FailureKind.CLOSED_IN_HANDSHAKE, "connection reset"), 0
    )
    assert "the broker string is the IAM one (port 9098)" in closed.hint
