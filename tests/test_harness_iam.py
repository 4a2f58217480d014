"""The harness's AWS_MSK_IAM login (tests/harness/msk_iam.py behind the SASL_SSL front-end).

Each outcome is driven through kafka-python 3.0.12's own AWS_MSK_IAM client (which signs
with botocore's credentials), opened the project's way (``kafka_connect.open_client``), so
these tests also show how the project reports each refusal. The signature checks run on the
verifier alone too, with payloads kafka-python's signer builds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.net.sasl.msk import AwsMskIamClient
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from document_exceptions.connection import (
    ConfigurationError,
    KafkaConnection,
    msk_iam_connection,
)
from document_exceptions.kafka_connect import (
    FailureKind,
    KafkaConnectError,
    close_producer,
    open_client,
)
from tests.harness import SaslSslBroker
from tests.harness.msk_iam import (
    TEST_ACCESS_KEY_ID,
    TEST_PRINCIPAL,
    TEST_REGION,
    TEST_SECRET_ACCESS_KEY,
    IamError,
    MskIamServer,
    default_identity,
)
from tests.ops_helpers import throwaway_aws_credentials, use_harness_iam_credentials
from tests.test_harness import api_versions, assert_closed_by_peer, exchange, tls_connect

pytestmark = pytest.mark.timeout(60)
HOST = "127.0.0.1"
IDENTITIES = {TEST_ACCESS_KEY_ID: default_identity()}


@pytest.fixture
def iam_credentials(
    secure_kafka_broker: SaslSslBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The harness's test credentials and region, as botocore (and so kafka-python) reads
    them; nothing of the machine's AWS configuration."""
    throwaway_aws_credentials(monkeypatch, tmp_path)
    use_harness_iam_credentials(secure_kafka_broker, monkeypatch)


@pytest.fixture
def quick_refusal(secure_kafka_broker: SaslSslBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secure_kafka_broker.front_end, "failed_authentication_delay", 0.1)


def iam_connection(broker: SaslSslBroker, bootstrap: str | None = None) -> KafkaConnection:
    return msk_iam_connection([bootstrap or broker.bootstrap], broker.cafile)


def refusal(connection: KafkaConnection) -> KafkaConnectError:
    started = time.monotonic()
    with pytest.raises(KafkaConnectError) as caught:
        open_client(KafkaProducer, connection, timeout_s=10)
    assert time.monotonic() - started < 5, "a refused login is final: no waiting for the timeout"
    return caught.value


def assert_iam_refusal(error: KafkaConnectError) -> None:
    assert error.kind is FailureKind.AUTHENTICATION
    assert "IAM (AWS_MSK_IAM) login" in error.message
    assert "kafka-cluster:Connect" in error.hint


# -- through kafka-python, against the real broker ---------------------------------------------


@pytest.mark.usefixtures("iam_credentials")
def test_iam_login_is_accepted_and_produces_and_consumes(
    secure_kafka_broker: SaslSslBroker, fresh_topic: Callable[..., str]
) -> None:
    front_end = secure_kafka_broker.front_end
    principals = len(front_end.iam_principals)
    topic = secure_kafka_broker.create_topic(fresh_topic(), partitions=1)
    connection = iam_connection(secure_kafka_broker)
    producer = open_client(KafkaProducer, connection, timeout_s=10)
    try:
        producer.send(topic, b"signed-in-with-iam").get(timeout=10)
    finally:
        close_producer(producer, 5)
    consumer = KafkaConsumer(**connection.client_kwargs(), enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        records = [r for batch in consumer.poll(timeout_ms=5000).values() for r in batch]
    finally:
        consumer.close()
    assert [record.value for record in records] == [b"signed-in-with-iam"]
    assert front_end.iam_principals[principals:]
    assert set(front_end.iam_principals[principals:]) == {TEST_PRINCIPAL}


@pytest.mark.usefixtures("iam_credentials", "quick_refusal")
def test_iam_login_with_a_bad_signature_is_refused(
    secure_kafka_broker: SaslSslBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key")
    logins = secure_kafka_broker.front_end.logins
    assert_iam_refusal(refusal(iam_connection(secure_kafka_broker)))
    assert "signature does not match" in (secure_kafka_broker.front_end.last_failure or "")
    assert secure_kafka_broker.front_end.logins == logins


@pytest.mark.usefixtures("iam_credentials", "quick_refusal")
def test_iam_login_with_an_expired_signature_is_refused(
    secure_kafka_broker: SaslSslBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker's clock is 15 minutes and 1 second ahead: kafka-python's signature (valid
    900 s from its own clock) has expired by the broker's."""
    monkeypatch.setattr(secure_kafka_broker.front_end, "clock", lambda: time.time() + 901)
    assert_iam_refusal(refusal(iam_connection(secure_kafka_broker)))
    assert "expired" in (secure_kafka_broker.front_end.last_failure or "")


@pytest.mark.usefixtures("iam_credentials", "quick_refusal")
def test_iam_login_signed_for_another_host_is_refused(secure_kafka_broker: SaslSslBroker) -> None:
    """Connecting as ``localhost`` (which the TLS certificate names, so TLS succeeds):
    kafka-python signs for ``localhost``, and the broker is ``127.0.0.1``."""
    other = f"localhost:{secure_kafka_broker.relay.port}"
    assert_iam_refusal(refusal(iam_connection(secure_kafka_broker, other)))
    assert "not this broker '127.0.0.1'" in (secure_kafka_broker.front_end.last_failure or "")


@pytest.mark.usefixtures("iam_credentials", "quick_refusal")
def test_iam_refusal_reaches_the_client_as_sasl_authentication_failed(
    secure_kafka_broker: SaslSslBroker,
) -> None:
    """The wire answer, read with kafka-python's protocol classes: error 58 with the reason,
    then the connection closes (as after a refused SCRAM login)."""
    token = AwsMskIamClient(HOST, TEST_ACCESS_KEY_ID, "wrong", TEST_REGION).first_message()
    with tls_connect(secure_kafka_broker) as sock:
        assert api_versions(sock, version=3).error_code == 0
        handshake = exchange(
            sock,
            SaslHandshakeRequest(version=1, mechanism="AWS_MSK_IAM"),
            SaslHandshakeResponse,
            correlation_id=2,
        )
        assert handshake.error_code == 0
        answer = exchange(
            sock,
            SaslAuthenticateRequest(version=2, auth_bytes=token),
            SaslAuthenticateResponse,
            correlation_id=3,
        )
        assert answer.error_code == 58
        assert "signature does not match" in answer.error_message
        assert_closed_by_peer(sock)


@pytest.mark.usefixtures("quick_refusal")
@pytest.mark.parametrize("authenticate_version", [0, 1, 2])
def test_iam_login_answers_with_msk_s_json(
    secure_kafka_broker: SaslSslBroker, authenticate_version: int
) -> None:
    token = AwsMskIamClient(
        HOST, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TEST_REGION
    ).first_message()
    with tls_connect(secure_kafka_broker) as sock:
        exchange(
            sock,
            SaslHandshakeRequest(version=1, mechanism="AWS_MSK_IAM"),
            SaslHandshakeResponse,
            correlation_id=2,
        )
        answer = exchange(
            sock,
            SaslAuthenticateRequest(version=authenticate_version, auth_bytes=token),
            SaslAuthenticateResponse,
            correlation_id=3,
        )
        assert answer.error_code == 0
        assert json.loads(answer.auth_bytes)["version"] == "2020_10_22"
        relayed = api_versions(sock, version=0, correlation_id=4)
        assert {k.api_key for k in relayed.api_keys} >= {0, 3}


# -- the verifier alone --------------------------------------------------------------------


def signed(
    *,
    host: str = HOST,
    access_key: str = TEST_ACCESS_KEY_ID,
    secret_key: str = TEST_SECRET_ACCESS_KEY,
    region: str = TEST_REGION,
    token: str | None = None,
) -> bytes:
    return AwsMskIamClient(host, access_key, secret_key, region, token=token).first_message()


def edited(token: bytes, **changes: str) -> bytes:
    payload = json.loads(token)
    payload.update({key.replace("_", "-"): value for key, value in changes.items()})
    return json.dumps(payload).encode()


def server(clock: Callable[[], float] = time.time) -> MskIamServer:
    return MskIamServer(HOST, IDENTITIES, TEST_REGION, clock=clock)


def test_verifier_accepts_a_session_token_signature() -> None:
    verifier = server()
    answer = json.loads(verifier.step(signed(token="session-token")))
    assert answer["version"] == "2020_10_22"
    assert verifier.authenticated
    assert verifier.principal == TEST_PRINCIPAL


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: signed(secret_key="other"), "signature does not match"),
        (lambda: signed(access_key="AKIAOTHER"), "unknown key"),
        (lambda: signed(region="us-west-2"), "region 'us-west-2'"),
        (lambda: signed(host="b-1.other.kafka.eu-west-1.amazonaws.com"), "not this broker"),
        (lambda: edited(signed(), action="kafka-cluster:WriteData"), "Action must be"),
        (lambda: edited(signed(), x_amz_expires="3600"), "x-amz-expires must be"),
        (lambda: edited(signed(), version="2019"), "Unsupported AWS_MSK_IAM version"),
        # A token whose security token was added after signing: the signature covers it.
        (lambda: edited(signed(), **{"x-amz-security-token": "added"}), "does not match"),
        (lambda: b"not json", "not JSON"),
        (lambda: json.dumps({"version": "2020_10_22"}).encode(), "needs the fields"),
    ],
)
def test_verifier_refuses(token: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(IamError, match=reason):
        server().step(token())


def test_verifier_refuses_expired_and_future_signatures() -> None:
    token = signed()
    with pytest.raises(IamError, match="expired"):
        server(clock=lambda: time.time() + 901).step(token)
    with pytest.raises(IamError, match="in the future"):
        server(clock=lambda: time.time() - 301).step(token)
    assert server(clock=lambda: time.time() + 890).step(token)


def test_verifier_takes_one_token() -> None:
    verifier = server()
    verifier.step(signed())
    with pytest.raises(IamError, match="one token"):
        verifier.step(signed())


@pytest.mark.usefixtures("iam_credentials")
def test_without_a_region_the_iam_open_fails_at_once_naming_the_variable(
    secure_kafka_broker: SaslSslBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kafka-python would fail inside its I/O loop and leave the caller waiting for "no
    answer"; open_client names the missing setting before connecting."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    logins = secure_kafka_broker.front_end.logins + secure_kafka_broker.front_end.failed_logins
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as caught:
        open_client(KafkaProducer, iam_connection(secure_kafka_broker), timeout_s=10)
    assert time.monotonic() - started < 2
    assert caught.value.variable == "AWS_DEFAULT_REGION"
    front_end = secure_kafka_broker.front_end
    assert front_end.logins + front_end.failed_logins == logins
