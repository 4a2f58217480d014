"""A SASL_SSL front-end for Tansu (SCRAM-SHA-512 and AWS_MSK_IAM), speaking as Amazon MSK does.

Tansu 0.6.0 can do neither TLS nor SCRAM users, so this front-end does both in front of it:

1. it terminates TLS with a throwaway certificate (:mod:`tests.harness.certs`);
2. it relays ApiVersions requests to Tansu and Tansu's answers back unchanged;
3. it answers SaslHandshake itself (``SCRAM-SHA-512``, and ``AWS_MSK_IAM`` when given IAM
   test identities; any other mechanism gets UNSUPPORTED_SASL_MECHANISM and the connection
   is closed);
4. it answers SaslAuthenticate itself, as the server side of SCRAM-SHA-512 (RFC 5802,
   RFC 7677) against one configured username and password, or of AWS_MSK_IAM (a SigV4
   signed payload checked as MSK does, :mod:`tests.harness.msk_iam`); a failed login gets
   SASL_AUTHENTICATION_FAILED (58) with a message, and the connection is closed once the
   client has read that (see :meth:`SaslScramFrontEnd._linger`);
5. after a successful login it relays bytes both ways between the client and Tansu; when
   given Kafka ACLs (:mod:`tests.harness.acls`), every session's requests are relayed one
   by one instead: those the ACLs deny a SCRAM session, and the ACL APIs (CreateAcls,
   DescribeAcls, DeleteAcls, which it adds to Tansu's ApiVersions answer), are answered by
   the front-end as Kafka would.

Any other request before a successful login closes the connection (Apache Kafka answers
ILLEGAL_SASL_STATE where it can; clients treat both as a failed connection).

Wire format (Kafka protocol): a frame is an int32 size and a payload. A request payload
starts with a header: api_key int16, api_version int16, correlation_id int32, client_id
nullable string (int16 length, never compact), and, in header v2 (the request's flexible
versions), tagged fields. A response starts with correlation_id int32, plus tagged fields
in header v1 (flexible versions, except ApiVersions, whose responses always use v0).
SaslHandshake v0-1 is never flexible. SaslAuthenticate v0-1 uses int16/int32 lengths; v2 is
flexible (compact lengths as unsigned varint of length + 1, 0 meaning null). After a v0
SaslHandshake the SASL tokens travel as bare size-prefixed frames with no Kafka header.
Tansu advertises SaslHandshake 0-1 and SaslAuthenticate 0-2. Seen here: kafka-python
3.0.12 sends ApiVersions v4, SaslHandshake v1, SaslAuthenticate v2; librdkafka 2.16 sends
ApiVersions v3, SaslHandshake v1, SaslAuthenticate v1. The tests also drive v0 of both.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import ssl
import struct
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.acls import AclAuthorizer, advertise_acl_apis, denial
from tests.harness.certs import TlsFiles, make_tls_files
from tests.harness.msk_iam import MECHANISM as IAM_MECHANISM
from tests.harness.msk_iam import (
    TEST_ACCESS_KEY_ID,
    TEST_REGION,
    TEST_SECRET_ACCESS_KEY,
    IamError,
    IamIdentity,
    MskIamServer,
    default_identity,
)
from tests.harness.relay import FaultyRelay, Link, RelayedBroker

MECHANISM = "SCRAM-SHA-512"
SASL_HANDSHAKE = 17
API_VERSIONS = 18
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58
MAX_PRE_AUTH_FRAME = 1 << 20
INVALID_CREDENTIALS = (
    "Authentication failed during authentication due to invalid credentials with SASL "
    f"mechanism {MECHANISM}"
)


class ScramError(Exception):
    """A SCRAM exchange failed; the message is sent to the client."""


@dataclass(frozen=True)
class ScramCredential:
    """What a server stores for one SCRAM-SHA-512 user (never the password itself)."""

    username: str
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(
        cls, username: str, password: str, iterations: int = 4096, salt: bytes | None = None
    ) -> ScramCredential:
        salt = salt if salt is not None else os.urandom(16)
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(
            username=username,
            salt=salt,
            iterations=iterations,
            stored_key=hashlib.sha512(client_key).digest(),
            server_key=_hmac(salted, b"Server Key"),
        )


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha512).digest()


def _attributes(message: str) -> list[tuple[str, str]]:
    pairs = []
    for part in message.split(","):
        name, equals, value = part.partition("=")
        if len(name) != 1 or not equals:
            raise ScramError(f"Invalid SCRAM message attribute {part!r}")
        pairs.append((name, value))
    return pairs


def _saslname(value: str) -> str:
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise ScramError("Invalid SCRAM username encoding")
    return value.replace("=2C", ",").replace("=3D", "=")


class ScramSha512Server:
    """The server side of one SCRAM-SHA-512 exchange: call :meth:`first`, then :meth:`final`.

    Passwords are used as UTF-8 bytes without SASLprep, as Apache Kafka and kafka-python do.
    """

    def __init__(self, credential: ScramCredential) -> None:
        self.credential = credential
        self._gs2_header = ""
        self._nonce = ""
        self._auth_message_start = ""
        self._started = False
        self.authenticated = False

    def step(self, client_token: bytes) -> bytes:
        """Answer the client's next message (first, then final); raises :class:`ScramError`."""
        if self._started:
            return self.final(client_token)
        self._started = True
        return self.first(client_token)

    def first(self, client_first: bytes) -> bytes:
        """Answer ``client-first-message`` with ``server-first-message``."""
        try:
            text = client_first.decode()
            cbind, authzid, bare = text.split(",", 2)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ScramError("Invalid SCRAM client-first message") from exc
        if cbind not in ("n", "y"):
            raise ScramError("SCRAM channel binding is not supported")
        attributes = _attributes(bare)
        if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r":
            raise ScramError("Invalid SCRAM client-first message")
        username = _saslname(attributes[0][1])
        client_nonce = attributes[1][1]
        if authzid and authzid != f"a={attributes[0][1]}":
            raise ScramError("SCRAM authorization id differs from the username")
        if not client_nonce or username != self.credential.username:
            raise ScramError(INVALID_CREDENTIALS)
        self._gs2_header = f"{cbind},{authzid},"
        self._nonce = client_nonce + secrets.token_urlsafe(18)
        salt = base64.b64encode(self.credential.salt).decode()
        server_first = f"r={self._nonce},s={salt},i={self.credential.iterations}"
        self._auth_message_start = f"{bare},{server_first}"
        return server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        """Check ``client-final-message``; return ``server-final-message`` if the proof holds."""
        if not self._nonce:
            raise ScramError("SCRAM client-final message before client-first message")
        try:
            text = client_final.decode()
        except UnicodeDecodeError as exc:
            raise ScramError("Invalid SCRAM client-final message") from exc
        without_proof, separator, proof_b64 = text.rpartition(",p=")
        attributes = dict(_attributes(without_proof)) if separator else {}
        channel_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attributes.get("c") != channel_binding or attributes.get("r") != self._nonce:
            raise ScramError("Invalid SCRAM client-final message")
        auth_message = f"{self._auth_message_start},{without_proof}".encode()
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError as exc:
            raise ScramError(INVALID_CREDENTIALS) from exc
        signature = _hmac(self.credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError(INVALID_CREDENTIALS)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha512(client_key).digest(), self.credential.stored_key):
            raise ScramError(INVALID_CREDENTIALS)
        self.authenticated = True
        server_signature = _hmac(self.credential.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)


class _Reader:
    """Decode Kafka primitive types from a request payload."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise ValueError("truncated Kafka request")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("varint too long")

    def nullable_string(self) -> str | None:
        length = self.int16()
        return None if length < 0 else self.take(length).decode()

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


@dataclass(frozen=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def parse_request(payload: bytes) -> tuple[RequestHeader, _Reader]:
    """Split a request payload into its header and a reader positioned at the body.

    Only SaslAuthenticate v2+ and ApiVersions v3+ among the requests handled here use
    request header v2 (with tagged fields).
    """
    reader = _Reader(payload)
    api_key, api_version, correlation_id = reader.int16(), reader.int16(), reader.int32()
    header = RequestHeader(api_key, api_version, correlation_id, reader.nullable_string())
    if (api_key == SASL_AUTHENTICATE and api_version >= 2) or (
        api_key == API_VERSIONS and api_version >= 3
    ):
        reader.skip_tagged_fields()
    return header, reader


def handshake_response(
    correlation_id: int, error_code: int, mechanisms: tuple[str, ...] = (MECHANISM,)
) -> bytes:
    """SaslHandshake response v0/v1 (identical): error_code, [mechanisms]."""
    body = struct.pack(">hi", error_code, len(mechanisms))
    body += b"".join(_string(mechanism) for mechanism in mechanisms)
    return _frame(struct.pack(">i", correlation_id) + body)


def authenticate_token(version: int, body: _Reader) -> bytes:
    """The ``auth_bytes`` of a SaslAuthenticate request body."""
    if version >= 2:
        length = body.uvarint() - 1
        if length < 0:
            raise ValueError("null auth_bytes")
        return body.take(length)
    return body.take(body.int32())


def authenticate_response(
    version: int, correlation_id: int, error_code: int, message: str | None, token: bytes
) -> bytes:
    """SaslAuthenticate response v0-2 (session_lifetime_ms 0: no re-authentication)."""
    if version >= 2:
        encoded = message.encode() if message is not None else None
        payload = struct.pack(">i", correlation_id) + b"\x00"
        payload += struct.pack(">h", error_code)
        payload += _uvarint(0) if encoded is None else _uvarint(len(encoded) + 1) + encoded
        payload += _uvarint(len(token) + 1) + token
        payload += struct.pack(">q", 0) + b"\x00"
        return _frame(payload)
    payload = struct.pack(">ih", correlation_id, error_code)
    payload += struct.pack(">h", -1) if message is None else _string(message)
    payload += struct.pack(">i", len(token)) + token
    if version >= 1:
        payload += struct.pack(">q", 0)
    return _frame(payload)


SaslServer = ScramSha512Server | MskIamServer


class SaslScramFrontEnd(FaultyRelay):
    """Terminates TLS and SASL (SCRAM-SHA-512, and AWS_MSK_IAM) before relaying to Tansu.

    It inherits the fault commands of :class:`FaultyRelay` (cut, refuse, blackhole, heal).
    ``logins`` and ``failed_logins`` count the outcomes of SASL exchanges (both mechanisms);
    ``iam_principals`` lists the principal of each IAM login and ``last_failure`` the reason
    the latest login was refused.

    ``iam_identities`` (access key id to :class:`IamIdentity`) turns AWS_MSK_IAM on;
    signatures must be for ``iam_host`` (the name clients use for this broker) and
    ``iam_region``, and are checked against ``clock`` (seconds since the epoch).
    """

    def __init__(
        self,
        tls: TlsFiles,
        username: str,
        password: str,
        target_port: int | None = None,
        *,
        listen_port: int = 0,
        iam_identities: Mapping[str, IamIdentity] | None = None,
        iam_host: str = "127.0.0.1",
        iam_region: str = TEST_REGION,
        clock: Callable[[], float] = time.time,
        acls: AclAuthorizer | None = None,
    ) -> None:
        super().__init__(target_port, listen_port=listen_port)
        self.tls = tls
        self.ssl_context = tls.server_context()
        self.credential = ScramCredential.from_password(username, password)
        self.iam_identities = dict(iam_identities or {})
        self.iam_host = iam_host
        self.iam_region = iam_region
        self.clock = clock
        self.logins = 0
        self.failed_logins = 0
        self.iam_principals: list[str] = []
        self.last_failure: str | None = None
        # Kafka ACLs for SCRAM sessions (None: everything allowed, MSK's default).
        self.acls = acls
        self.denied_requests = 0
        self._principals: dict[Link, str | None] = {}
        self.failed_authentication_delay = 1.0

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return (MECHANISM, IAM_MECHANISM) if self.iam_identities else (MECHANISM,)

    def _sasl_server(self, mechanism: str) -> SaslServer:
        if mechanism == IAM_MECHANISM:
            return MskIamServer(
                self.iam_host, self.iam_identities, self.iam_region, clock=self.clock
            )
        return ScramSha512Server(self.credential)

    async def _read_frame(self, link: Link) -> bytes:
        (size,) = struct.unpack(">i", await self.read_client(link, 4))
        if not 0 < size <= MAX_PRE_AUTH_FRAME:
            raise ValueError(f"unexpected frame size {size} before authentication")
        return await self.read_client(link, size)

    async def _relay_api_versions(self, link: Link, payload: bytes) -> None:
        if link.upstream_writer is None:
            await self.connect_upstream(link)
        assert link.upstream_reader is not None
        assert link.upstream_writer is not None
        link.upstream_writer.write(_frame(payload))
        await link.upstream_writer.drain()
        size_bytes = await link.upstream_reader.readexactly(4)
        (size,) = struct.unpack(">i", size_bytes)
        answer = await link.upstream_reader.readexactly(size)
        if self.acls is None:
            await self.write_client(link, size_bytes + answer)
            return
        request_version = int.from_bytes(payload[2:4], "big", signed=True)
        await self.write_client(link, advertise_acl_apis(answer, request_version))

    async def open_session(self, link: Link) -> bool:
        """Run the pre-authentication conversation; True once the client has logged in."""
        scram: SaslServer | None = None
        bare_tokens = False
        while True:
            payload = await self._read_frame(link)
            if bare_tokens:
                assert scram is not None
                token = self._scram_step(scram, payload)
                if token is None:
                    return False
                await self.write_client(link, _frame(token))
                if scram.authenticated:
                    return await self._logged_in(link, scram)
                continue
            header, body = parse_request(payload)
            if header.api_key == API_VERSIONS and scram is None:
                await self._relay_api_versions(link, payload)
            elif header.api_key == SASL_HANDSHAKE and scram is None:
                mechanism = body.take(body.int16()).decode()
                ok = mechanism in self.mechanisms
                error = 0 if ok else UNSUPPORTED_SASL_MECHANISM
                response = handshake_response(header.correlation_id, error, self.mechanisms)
                await self.write_client(link, response)
                if not ok:
                    await self._linger(link)
                    return False
                scram = self._sasl_server(mechanism)
                bare_tokens = header.api_version == 0
            elif header.api_key == SASL_AUTHENTICATE and scram is not None:
                client_token = authenticate_token(header.api_version, body)
                token = self._scram_step(scram, client_token)
                failed = (SASL_AUTHENTICATION_FAILED, self._failure_message(scram))
                error, message = (0, None) if token is not None else failed
                response = authenticate_response(
                    header.api_version, header.correlation_id, error, message, token or b""
                )
                await self.write_client(link, response)
                if token is None:
                    await self._linger(link)
                    return False
                if scram.authenticated:
                    return await self._logged_in(link, scram)
            else:
                return False

    async def _linger(self, link: Link) -> None:
        """Give the client time to read a final error answer before the connection closes.

        Waits until the client closes (kafka-python and librdkafka do at once) or for
        ``failed_authentication_delay`` seconds.

        kafka-python drops data that arrives together with the end of the stream, so closing
        right after the answer would hide SaslAuthenticationFailed from it. Apache Kafka also
        waits (``connection.failed.authentication.delay.ms``) before closing.
        """
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(self.failed_authentication_delay):
                while await link.client_reader.read(4096):
                    pass

    def _scram_step(self, scram: SaslServer, client_token: bytes) -> bytes | None:
        """Next server token, or None (counted as a failed login) if the exchange failed."""
        try:
            token = scram.step(client_token)
        except (ScramError, IamError) as exc:
            self.failed_logins += 1
            self.last_failure = str(exc)
            return None
        if isinstance(scram, MskIamServer) and scram.principal is not None:
            self.iam_principals.append(scram.principal)
        return token

    def _failure_message(self, server: SaslServer) -> str:
        """What the client is told: SCRAM says only "invalid credentials", as Kafka does;
        IAM says why, as MSK's IAM listener does."""
        if isinstance(server, MskIamServer):
            return f"[{IAM_MECHANISM}] Access denied: {self.last_failure}"
        return INVALID_CREDENTIALS

    async def _logged_in(self, link: Link, server: SaslServer) -> bool:
        self.logins += 1
        # None: an IAM session (IAM policies decide on MSK; here only the ACL APIs answer).
        principal = None
        if isinstance(server, ScramSha512Server):
            principal = f"User:{server.credential.username}"
        self._principals[link] = principal
        if link.upstream_writer is None:
            await self.connect_upstream(link)
        return True

    async def _relay(self, link: Link) -> None:
        logged_in = link in self._principals
        principal = self._principals.pop(link, None)
        if self.acls is None or not logged_in:
            await super()._relay(link)
            return
        assert link.upstream_reader is not None
        assert link.upstream_writer is not None
        # Answers go back in request order: None stands for one that Tansu will send, bytes
        # for a denial the front-end wrote itself (sent once the earlier answers are out).
        pending: collections.deque[bytes | None] = collections.deque()
        link.pumps = [
            asyncio.create_task(self._authorize_requests(link, principal, pending)),
            asyncio.create_task(self._relay_answers(link, pending)),
        ]
        await asyncio.wait(link.pumps, return_when=asyncio.FIRST_COMPLETED)
        for writer in (link.client_writer, link.upstream_writer):
            await self._close_gracefully(writer)

    async def _authorize_requests(
        self, link: Link, principal: str | None, pending: collections.deque[bytes | None]
    ) -> None:
        assert self.acls is not None
        assert link.upstream_writer is not None
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
            while True:
                size_bytes = await link.client_reader.readexactly(4)
                (size,) = struct.unpack(">i", size_bytes)
                payload = await link.client_reader.readexactly(size)
                check = denial(self.acls, principal, payload)
                if check.answer is None:
                    if check.expects_response:
                        pending.append(None)
                    link.upstream_writer.write(size_bytes + payload)
                    await link.upstream_writer.drain()
                    continue
                if check.denied:
                    self.denied_requests += 1
                if pending:
                    pending.append(check.answer)
                else:
                    await self.write_client(link, check.answer)

    async def _relay_answers(self, link: Link, pending: collections.deque[bytes | None]) -> None:
        assert link.upstream_reader is not None
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
            while True:
                size_bytes = await link.upstream_reader.readexactly(4)
                (size,) = struct.unpack(">i", size_bytes)
                answer = size_bytes + await link.upstream_reader.readexactly(size)
                if pending and pending[0] is None:
                    pending.popleft()
                await self.write_client(link, answer)
                while pending and pending[0] is not None:
                    denied = pending.popleft()
                    assert denied is not None
                    await self.write_client(link, denied)


class SaslSslBroker(RelayedBroker):
    """Tansu behind a :class:`SaslScramFrontEnd`, with per-instance credentials and CA.

    Clients connect with SASL_SSL / SCRAM-SHA-512 (or AWS_MSK_IAM with the test identity:
    :meth:`iam_client_env`) to :attr:`bootstrap`, trusting :attr:`cafile`. The TLS files live
    in a temporary directory removed by :meth:`stop`.
    """

    def __init__(
        self,
        username: str = "harness-user",
        password: str | None = None,
        iam_identities: Mapping[str, IamIdentity] | None = None,
        *,
        port: int = 0,
        acls: AclAuthorizer | None = None,
    ) -> None:
        self.username = username
        self.password = password if password is not None else secrets.token_urlsafe(16)
        self._directory = tempfile.TemporaryDirectory(prefix="kafka-harness-tls-")
        self.tls = make_tls_files(Path(self._directory.name))
        identities = (
            iam_identities
            if iam_identities is not None
            else {TEST_ACCESS_KEY_ID: default_identity()}
        )
        super().__init__(
            SaslScramFrontEnd(
                self.tls,
                self.username,
                self.password,
                listen_port=port,
                iam_identities=identities,
                acls=acls,
            )
        )

    @property
    def cafile(self) -> str:
        return str(self.tls.ca_cert)

    @property
    def front_end(self) -> SaslScramFrontEnd:
        assert isinstance(self.relay, SaslScramFrontEnd)
        return self.relay

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._directory.cleanup()

    def client_env(self) -> dict[str, str]:
        """The environment variables the project's clients read to reach this broker."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([self.bootstrap]),
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": MECHANISM,
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD": self.password,
            "KAFKA_SSL_CAFILE": self.cafile,
        }

    def iam_client_env(self) -> dict[str, str]:
        """What a deployed IAM client's environment holds for this broker (its broker string
        in ``KAFKA_BOOTSTRAP_BROKERS``, ``KAFKA_AUTH_MODE=iam``), plus the test credentials
        and region botocore signs with, and the private CA."""
        return {
            "KAFKA_AUTH_MODE": "iam",
            "KAFKA_BOOTSTRAP_BROKERS": self.bootstrap,
            "KAFKA_SSL_CAFILE": self.cafile,
            "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": TEST_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.front_end.iam_region,
        }

    def kafka_python_iam_config(self) -> dict[str, Any]:
        """kafka-python settings for an AWS_MSK_IAM login (credentials from the environment)."""
        return {
            "bootstrap_servers": [self.bootstrap],
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": IAM_MECHANISM,
            "ssl_cafile": self.cafile,
        }

    def kafka_python_config(self) -> dict[str, Any]:
        return {
            **super().kafka_python_config(),
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_cafile": self.cafile,
        }

    def confluent_config(self) -> dict[str, Any]:
        return {
            **super().confluent_config(),
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": self.username,
            "sasl.password": self.password,
            "ssl.ca.location": self.cafile,
        }
