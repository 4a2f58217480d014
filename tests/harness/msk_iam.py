"""The server side of MSK's ``AWS_MSK_IAM`` SASL mechanism, for the local harness.

A client sends one SaslAuthenticate token: a JSON object that is a SigV4 presigned request
(``GET https://HOST/?Action=kafka-cluster%3AConnect&X-Amz-...``, service ``kafka-cluster``,
signed header ``host``, empty payload), as aws-msk-iam-auth and kafka-python 3.0.12
(``kafka/net/sasl/msk.py``) build it::

    {"version": "2020_10_22", "host": ..., "user-agent": ..., "action": "kafka-cluster:Connect",
     "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AKID/DATE/REGION/kafka-cluster/
     aws4_request", "x-amz-date": "YYYYMMDDTHHMMSSZ", "x-amz-signedheaders": "host",
     "x-amz-expires": "900", "x-amz-signature": ..., ["x-amz-security-token": ...]}

:class:`MskIamServer` checks it the way MSK's IAM listener documents it: the version, the
action, the broker's own host name, the region, the credential's access key (known test
credentials stand in for IAM), the signature recomputed with botocore's SigV4 code, and the
time window (``x-amz-date`` not in the future beyond a small skew, not older than
``x-amz-expires`` seconds, and ``x-amz-expires`` at most 15 minutes). It answers a good
token with MSK's JSON (``version``, ``request-id``); any failure raises :class:`IamError`
with the reason, which the front-end sends back as SASL_AUTHENTICATION_FAILED.

The signature is recomputed through botocore's ``SigV4QueryAuth`` with the request's own
timestamp: ``add_auth`` would stamp the current time, so its steps are called one by one
(``_modify_request_before_signing`` is botocore-internal: the harness test that a real
kafka-python login is accepted fails if botocore changes it).
"""

from __future__ import annotations

import datetime
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MECHANISM = "AWS_MSK_IAM"
VERSION = "2020_10_22"
SERVICE = "kafka-cluster"
CONNECT_ACTION = "kafka-cluster:Connect"
ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# SigV4 presigned requests live at most 15 minutes; MSK allows the usual 5 minutes of skew.
MAX_EXPIRES_S = 900
CLOCK_SKEW_S = 300
# moto's (and botocore's tests') fake credentials: what the harness trusts by default.
TEST_ACCESS_KEY_ID = "testing"
TEST_SECRET_ACCESS_KEY = "testing"
TEST_REGION = "eu-west-1"
TEST_PRINCIPAL = "arn:aws:iam::123456789012:role/document-exceptions-test"


class IamError(Exception):
    """An AWS_MSK_IAM token was refused; the message says why and is sent to the client."""


@dataclass(frozen=True)
class IamIdentity:
    """One set of test credentials the harness accepts, and the principal they stand for."""

    access_key_id: str
    secret_access_key: str
    principal: str


def default_identity() -> IamIdentity:
    return IamIdentity(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TEST_PRINCIPAL)


class MskIamServer:
    """The server side of one AWS_MSK_IAM exchange (one token, one answer).

    ``host`` is the broker's own name as clients connect to it; ``clock`` gives the current
    time in seconds since the epoch (the tests move it to expire a signature).
    """

    def __init__(
        self,
        host: str,
        identities: Mapping[str, IamIdentity],
        region: str = TEST_REGION,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.identities = identities
        self.region = region
        self.clock = clock
        self.authenticated = False
        self.principal: str | None = None

    def step(self, client_token: bytes) -> bytes:
        """Check the client's signed payload; MSK's JSON answer, or :class:`IamError`."""
        if self.authenticated:
            raise IamError("AWS_MSK_IAM takes one token")
        payload = _payload(client_token)
        if payload.get("version") != VERSION:
            raise IamError(f"Unsupported AWS_MSK_IAM version {payload.get('version')!r}")
        if payload.get("action") != CONNECT_ACTION:
            raise IamError(f"Action must be {CONNECT_ACTION}, got {payload.get('action')!r}")
        if payload.get("x-amz-algorithm") != ALGORITHM:
            raise IamError(f"Unsupported signing algorithm {payload.get('x-amz-algorithm')!r}")
        if payload.get("x-amz-signedheaders") != "host":
            raise IamError("The signed headers must be exactly 'host'")
        if payload.get("host") != self.host:
            raise IamError(
                f"The signature is for host {payload.get('host')!r}, not this broker {self.host!r}"
            )
        identity, date, region = self._credential(payload["x-amz-credential"])
        signed_at = self._check_time(payload, date)
        expected = self._signature(payload, identity, region, signed_at)
        if not hmac.compare_digest(expected, payload["x-amz-signature"]):
            raise IamError("The request signature does not match (wrong secret key or payload)")
        self.authenticated = True
        self.principal = identity.principal
        return json.dumps({"version": VERSION, "request-id": str(uuid.uuid4())}).encode()

    def _credential(self, credential: str) -> tuple[IamIdentity, str, str]:
        parts = credential.split("/")
        if len(parts) != 5 or parts[3] != SERVICE or parts[4] != "aws4_request":
            raise IamError(f"Malformed x-amz-credential for service {SERVICE}")
        access_key, date, region = parts[0], parts[1], parts[2]
        if region != self.region:
            raise IamError(f"The credential is scoped to region {region!r}, not {self.region!r}")
        identity = self.identities.get(access_key)
        if identity is None:
            raise IamError("The security token included in the request is invalid (unknown key)")
        return identity, date, region

    def _check_time(self, payload: Mapping[str, str], scope_date: str) -> str:
        stamp = payload["x-amz-date"]
        try:
            signed = datetime.datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(
                tzinfo=datetime.UTC
            )
            expires = int(payload["x-amz-expires"])
        except ValueError:
            raise IamError("Malformed x-amz-date or x-amz-expires") from None
        if stamp[:8] != scope_date:
            raise IamError("x-amz-date is not on the credential scope's date")
        if not 0 < expires <= MAX_EXPIRES_S:
            raise IamError(f"x-amz-expires must be 1 to {MAX_EXPIRES_S} seconds")
        now = self.clock()
        if signed.timestamp() > now + CLOCK_SKEW_S:
            raise IamError("The signature is dated in the future (check the client's clock)")
        if now > signed.timestamp() + expires:
            raise IamError(f"The signature expired at {stamp} + {expires} s")
        return stamp

    def _signature(
        self, payload: Mapping[str, str], identity: IamIdentity, region: str, timestamp: str
    ) -> str:
        """The SigV4 query signature MSK expects for ``payload``, recomputed by botocore."""
        credentials = Credentials(
            identity.access_key_id, identity.secret_access_key, payload.get("x-amz-security-token")
        )
        signer = SigV4QueryAuth(credentials, SERVICE, region, expires=int(payload["x-amz-expires"]))
        action = quote(CONNECT_ACTION, safe="")
        request = AWSRequest(
            method="GET",
            url=f"https://{payload['host']}/?Action={action}",
            headers={"host": payload["host"]},
        )
        request.context["timestamp"] = timestamp
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        return signer.signature(signer.string_to_sign(request, canonical), request)


def _payload(token: bytes) -> dict[str, str]:
    try:
        payload = json.loads(token.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IamError("The AWS_MSK_IAM token is not JSON") from None
    required = (
        "version",
        "host",
        "action",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signedheaders",
        "x-amz-expires",
        "x-amz-signature",
    )
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in required):
        raise IamError(f"The AWS_MSK_IAM token needs the fields {', '.join(required)}")
    return payload
