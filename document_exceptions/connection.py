"""Where the Kafka connection settings come from.

One resolution order for every client in this repository (producer Lambda, topic
bootstrap, app-side library, operator commands):

1. The guide's variables, when `KAFKA_BOOTSTRAP_SERVERS` is set: `KAFKA_BOOTSTRAP_SERVERS`
   (a JSON list), `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`,
   `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, plus `KAFKA_SSL_CAFILE` for a private CA.
   Values missing from the environment are taken from the development `config.json` when
   one is given; the environment wins. `KAFKA_SECURITY_PROTOCOL` defaults to PLAINTEXT
   (the guide's development `config.json` leaves it empty); SASL `PLAIN` is refused
   without TLS, because it sends the password as it is. `KAFKA_SASL_MECHANISM=AWS_MSK_IAM`
   signs in with the process's AWS credentials instead of a username and password.
2. In AWS, by `KAFKA_AUTH_MODE` (`names.KAFKA_AUTH_VARIABLE`): brokers from
   `KAFKA_BOOTSTRAP_BROKERS` (the broker string, filled in at deploy time) or
   `KAFKA_CLUSTER_ARN` (then `kafka:GetBootstrapBrokers` is called), and
   - `scram` (the default when unset): the SASL/SCRAM broker string (9096) and
     `KAFKA_SECRET_ARN`, the SCRAM secret (`{"username", "password"}`); the password never
     sits in an environment variable;
   - `iam`: the IAM broker string (9098) and SASL `AWS_MSK_IAM`, signed by kafka-python with
     botocore's credentials and region (`AWS_DEFAULT_REGION`, which Lambda sets); no secret.

Values are read through `document_exceptions.settings`; the rules here are the connection's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from document_exceptions.aws_clients import aws_client
from document_exceptions.names import KAFKA_AUTH_IAM, KAFKA_AUTH_SCRAM, KAFKA_AUTH_VARIABLE
from document_exceptions.settings import (
    CONFIG_FILE_VARIABLE,
    ConfigurationError,
    Settings,
    read_settings,
)

logger = logging.getLogger(__name__)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# What MSK's SASL/SCRAM listener (9096) speaks.
MSK_SECURITY_PROTOCOL = "SASL_SSL"
MSK_SASL_MECHANISM = "SCRAM-SHA-512"
# What MSK's IAM listener (9098) speaks: a SigV4-signed payload, no username or password.
MSK_IAM_MECHANISM = "AWS_MSK_IAM"
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", MSK_IAM_MECHANISM)
AUTH_MODES = (KAFKA_AUTH_SCRAM, KAFKA_AUTH_IAM)
# Where kafka-python's AWS_MSK_IAM signer (botocore) reads its region.
AWS_REGION_VARIABLE = "AWS_DEFAULT_REGION"

CONNECTION_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
)
CAFILE_VARIABLE = "KAFKA_SSL_CAFILE"
# MSK broker host names: b-1.<cluster>.<id>.c2.kafka.<region>.amazonaws.com. Port 9092 is their
# plaintext listener, 9094 TLS, 9096 SASL/SCRAM over TLS.
MSK_HOST = re.compile(r"\.kafka\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$", re.IGNORECASE)
MSK_PLAINTEXT_PORT = "9092"
MSK_SCRAM_PORT = "9096"
SECRET_ARN_VARIABLE = "KAFKA_SECRET_ARN"  # noqa: S105 - the name of a variable holding an ARN
CLUSTER_ARN_VARIABLE = "KAFKA_CLUSTER_ARN"
BOOTSTRAP_BROKERS_VARIABLE = "KAFKA_BOOTSTRAP_BROKERS"


__all__ = ["CONFIG_FILE_VARIABLE", "ConfigurationError"]  # re-exported: errors of this module


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach and authenticate to the brokers."""

    bootstrap_servers: tuple[str, ...]
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by kafka-python's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
        if self.sasl_mechanism and not self.uses_iam:
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.ssl_cafile:
            kwargs["ssl_cafile"] = self.ssl_cafile
        return kwargs

    @property
    def uses_iam(self) -> bool:
        """Signs in with AWS credentials (MSK IAM access control) rather than a password."""
        return self.sasl_mechanism == MSK_IAM_MECHANISM

    def describe(self) -> str:
        """A log-safe one-line description (never the password)."""
        if self.uses_iam:
            auth = f"{MSK_IAM_MECHANISM} with this process's AWS credentials"
        elif self.sasl_mechanism:
            auth = f"{self.sasl_mechanism} as {self.sasl_username}"
        else:
            auth = "none"
        return (
            f"brokers={','.join(self.bootstrap_servers)} "
            f"protocol={self.security_protocol} auth={auth}"
        )


def parse_bootstrap_servers(raw: Any, variable: str = "KAFKA_BOOTSTRAP_SERVERS") -> tuple[str, ...]:
    """Accept a JSON list (as text or already decoded) of `host:port` strings."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                variable, f'not valid JSON ({exc.msg}); expected a list like ["host:9096"]'
            ) from None
    if not isinstance(value, list) or not value:
        raise ConfigurationError(variable, 'expected a non-empty JSON list like ["host:9096"]')
    servers = []
    for item in value:
        if not isinstance(item, str) or not _is_host_port(item):
            raise ConfigurationError(variable, f"{item!r} is not a 'host:port' string")
        servers.append(item)
    return tuple(servers)


def parse_broker_string(raw: str, variable: str = BOOTSTRAP_BROKERS_VARIABLE) -> tuple[str, ...]:
    """MSK's comma-separated broker string, as `GetBootstrapBrokers` returns it."""
    servers = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not servers or not all(_is_host_port(server) for server in servers):
        raise ConfigurationError(variable, f"{raw!r} is not a comma-separated list of host:port")
    return servers


def _is_host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def from_kafka_settings(values: Mapping[str, Any] | Settings) -> KafkaConnection:
    """Build a connection from the `KAFKA_*` settings (environment, config.json or Django)."""
    settings = values if isinstance(values, Settings) else Settings(values)
    servers = parse_bootstrap_servers(settings.raw("KAFKA_BOOTSTRAP_SERVERS"))
    protocol = settings.choice(
        "KAFKA_SECURITY_PROTOCOL", SECURITY_PROTOCOLS, "PLAINTEXT", normalize=str.upper
    )
    mechanism = settings.choice("KAFKA_SASL_MECHANISM", SASL_MECHANISMS, None, normalize=str.upper)
    username = settings.text("KAFKA_SASL_USERNAME", strip=False)
    password = settings.text("KAFKA_SASL_PASSWORD", strip=False)
    if protocol.startswith("SASL_"):
        if mechanism is None:
            raise ConfigurationError("KAFKA_SASL_MECHANISM", f"required with {protocol}")
        if mechanism == "PLAIN" and protocol != "SASL_SSL":
            raise ConfigurationError(
                "KAFKA_SASL_MECHANISM",
                f"PLAIN sends the password as it is; use it with SASL_SSL, not {protocol}",
            )
        if mechanism == MSK_IAM_MECHANISM and protocol != MSK_SECURITY_PROTOCOL:
            raise ConfigurationError(
                "KAFKA_SECURITY_PROTOCOL", f"{MSK_IAM_MECHANISM} needs SASL_SSL, not {protocol}"
            )
        if mechanism == MSK_IAM_MECHANISM:
            username = password = None  # signed with AWS credentials, none to read
        elif not username:
            raise ConfigurationError("KAFKA_SASL_USERNAME", f"required with {protocol}")
        elif not password:
            raise ConfigurationError("KAFKA_SASL_PASSWORD", f"required with {protocol}")
    elif mechanism is not None:
        raise ConfigurationError(
            "KAFKA_SASL_MECHANISM", f"set, but KAFKA_SECURITY_PROTOCOL is {protocol} (no SASL)"
        )
    cafile = settings.text(CAFILE_VARIABLE)
    if cafile and not Path(cafile).is_file():
        raise ConfigurationError(CAFILE_VARIABLE, f"{cafile} is not a readable file")
    if protocol == "SASL_SSL":
        _warn_of_msk_plaintext_port(servers)
    return KafkaConnection(
        bootstrap_servers=servers,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=username if mechanism else None,
        sasl_password=password if mechanism else None,
        ssl_cafile=cafile,
    )


def _warn_of_msk_plaintext_port(servers: Sequence[str]) -> None:
    """MSK brokers at 9092 with SASL_SSL: 9092 is MSK's plaintext listener, SCRAM is on 9096."""
    wrong = [
        server
        for server in servers
        if server.rpartition(":")[2] == MSK_PLAINTEXT_PORT
        and MSK_HOST.search(server.rpartition(":")[0])
    ]
    if wrong:
        logger.warning(
            "KAFKA_BOOTSTRAP_SERVERS: %s %s MSK's plaintext port %s; with SASL_SSL (SASL/SCRAM) "
            "MSK listens on %s: use host:%s",
            ", ".join(wrong),
            "is" if len(wrong) == 1 else "are on",
            MSK_PLAINTEXT_PORT,
            MSK_SCRAM_PORT,
            MSK_SCRAM_PORT,
        )


def from_environment(
    environ: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
) -> KafkaConnection | None:
    """The `KAFKA_*` environment variables, then `config.json`. None when neither is set."""
    settings = read_settings(
        (*CONNECTION_VARIABLES, CAFILE_VARIABLE), environ=environ, config_file=config_file
    )
    if not settings.is_set("KAFKA_BOOTSTRAP_SERVERS"):
        return None
    return from_kafka_settings(settings)


def read_scram_secret(secret_arn: str, secretsmanager_client: Any) -> tuple[str, str]:
    """Username and password from an MSK SCRAM secret (`{"username", "password"}`)."""
    response = secretsmanager_client.get_secret_value(SecretId=secret_arn)
    try:
        value = json.loads(response["SecretString"])
        return value["username"], value["password"]
    except (KeyError, TypeError, json.JSONDecodeError):
        raise ConfigurationError(
            SECRET_ARN_VARIABLE, f"secret {secret_arn} is not JSON with 'username' and 'password'"
        ) from None


# The field of `kafka:GetBootstrapBrokers` holding each auth mode's (private) broker string.
BROKER_STRING_FIELDS = {
    KAFKA_AUTH_SCRAM: ("BootstrapBrokerStringSaslScram", "SASL/SCRAM", "SCRAM"),
    KAFKA_AUTH_IAM: ("BootstrapBrokerStringSaslIam", "IAM", "IAM access control"),
}


def auth_mode(environ: Mapping[str, str]) -> str:
    """`KAFKA_AUTH_MODE`: "iam" or "scram" (the default when unset or empty)."""
    mode = (environ.get(KAFKA_AUTH_VARIABLE) or KAFKA_AUTH_SCRAM).strip().lower()
    if mode not in AUTH_MODES:
        raise ConfigurationError(
            KAFKA_AUTH_VARIABLE, f"{mode!r} is not one of {', '.join(AUTH_MODES)}"
        )
    return mode


def fetch_bootstrap_brokers(
    cluster_arn: str, kafka_client: Any, mode: str = KAFKA_AUTH_SCRAM
) -> tuple[str, ...]:
    """The SASL/SCRAM (9096) or IAM (9098) broker string of an MSK cluster."""
    response = kafka_client.get_bootstrap_brokers(ClusterArn=cluster_arn)
    field_name, label, feature = BROKER_STRING_FIELDS[mode]
    brokers = response.get(field_name)
    if not brokers:
        raise ConfigurationError(
            CLUSTER_ARN_VARIABLE, f"cluster {cluster_arn} has no {label} brokers (is {feature} on?)"
        )
    return parse_broker_string(brokers)


def from_aws(environ: Mapping[str, str], client_factory: Callable[[str], Any]) -> KafkaConnection:
    """MSK by `KAFKA_AUTH_MODE`: IAM (no secret) or SASL/SCRAM (credentials from Secrets
    Manager); brokers from the environment or the MSK API."""
    mode = auth_mode(environ)
    secret_arn = environ.get(SECRET_ARN_VARIABLE)
    if mode == KAFKA_AUTH_SCRAM and not secret_arn:
        raise ConfigurationError(
            SECRET_ARN_VARIABLE, "not set (and KAFKA_BOOTSTRAP_SERVERS is not set either)"
        )
    if environ.get(BOOTSTRAP_BROKERS_VARIABLE):
        brokers = parse_broker_string(environ[BOOTSTRAP_BROKERS_VARIABLE])
    elif environ.get(CLUSTER_ARN_VARIABLE):
        brokers = fetch_bootstrap_brokers(
            environ[CLUSTER_ARN_VARIABLE], client_factory("kafka"), mode
        )
    else:
        raise ConfigurationError(
            BOOTSTRAP_BROKERS_VARIABLE, f"not set, and neither is {CLUSTER_ARN_VARIABLE}"
        )
    if mode == KAFKA_AUTH_IAM:
        return msk_iam_connection(brokers, environ.get(CAFILE_VARIABLE))
    assert secret_arn is not None
    username, password = read_scram_secret(secret_arn, client_factory("secretsmanager"))
    return msk_scram_connection(brokers, username, password, environ.get(CAFILE_VARIABLE))


def msk_iam_connection(brokers: Sequence[str], cafile: str | None = None) -> KafkaConnection:
    """SASL_SSL + AWS_MSK_IAM to MSK brokers (``cafile``: only for a private CA)."""
    return KafkaConnection(
        bootstrap_servers=tuple(brokers),
        security_protocol=MSK_SECURITY_PROTOCOL,
        sasl_mechanism=MSK_IAM_MECHANISM,
        ssl_cafile=cafile or None,
    )


def msk_scram_connection(
    brokers: Sequence[str], username: str, password: str, cafile: str | None = None
) -> KafkaConnection:
    """SASL_SSL + SCRAM-SHA-512 to MSK brokers (``cafile``: only for a private CA)."""
    return KafkaConnection(
        bootstrap_servers=tuple(brokers),
        security_protocol=MSK_SECURITY_PROTOCOL,
        sasl_mechanism=MSK_SASL_MECHANISM,
        sasl_username=username,
        sasl_password=password,
        ssl_cafile=cafile or None,
    )


class ConnectionSource(Protocol):
    """Where a publisher gets its connection: `ConnectionResolver`, or fixed settings."""

    def get(self) -> KafkaConnection: ...

    def invalidate(self) -> None:
        """Forget the cached connection (after an authentication failure)."""


class ConnectionResolver:
    """Resolves the connection once per process and caches it.

    `invalidate()` after an authentication failure makes the next `get()` read the secret
    (and brokers) again, which picks up a rotated password. `lookups` counts resolutions.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        client_factory: Callable[[str], Any] = aws_client,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._config_file = config_file
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._cached: KafkaConnection | None = None
        self.lookups = 0

    def get(self) -> KafkaConnection:
        with self._lock:
            if self._cached is None:
                self.lookups += 1
                self._cached = from_environment(self._environ, self._config_file) or from_aws(
                    self._environ, self._client_factory
                )
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
