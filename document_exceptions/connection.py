"""Where the Kafka connection settings come from.

One resolution order for every client in this repository (producer Lambda, topic
bootstrap, app-side library, operator commands):

1. The seed's variables, when `KAFKA_BOOTSTRAP_SERVERS` is set: `KAFKA_BOOTSTRAP_SERVERS`
   (a JSON list), `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`,
   `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, plus `KAFKA_SSL_CAFILE` for a private CA.
   Values missing from the environment are taken from the seed's `config.json` when one
   is given; the environment wins.
2. In AWS: `KAFKA_SECRET_ARN` (the SCRAM secret: `{"username", "password"}`) and either
   `KAFKA_BOOTSTRAP_BROKERS` (the SASL/SCRAM broker string, filled in at deploy time) or
   `KAFKA_CLUSTER_ARN` (then `kafka:GetBootstrapBrokers` is called). The password never
   sits in an environment variable.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# What MSK's SASL/SCRAM listener (9096) speaks; the only way this project reaches MSK.
MSK_SECURITY_PROTOCOL = "SASL_SSL"
MSK_SASL_MECHANISM = "SCRAM-SHA-512"
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")

SEED_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
)
CAFILE_VARIABLE = "KAFKA_SSL_CAFILE"
SECRET_ARN_VARIABLE = "KAFKA_SECRET_ARN"  # noqa: S105 - the name of a variable holding an ARN
CLUSTER_ARN_VARIABLE = "KAFKA_CLUSTER_ARN"
BOOTSTRAP_BROKERS_VARIABLE = "KAFKA_BOOTSTRAP_BROKERS"


class ConfigurationError(ValueError):
    """A connection setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


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
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.ssl_cafile:
            kwargs["ssl_cafile"] = self.ssl_cafile
        return kwargs

    def describe(self) -> str:
        """A log-safe one-line description (never the password)."""
        auth = f"{self.sasl_mechanism} as {self.sasl_username}" if self.sasl_mechanism else "none"
        return (
            f"brokers={','.join(self.bootstrap_servers)} "
            f"protocol={self.security_protocol} auth={auth}"
        )


def parse_bootstrap_servers(raw: Any, variable: str = "KAFKA_BOOTSTRAP_SERVERS") -> tuple[str, ...]:
    """Accept the seed's JSON list (as text or already decoded) of `host:port` strings."""
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


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the seed's development `config.json`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(str(path), "config file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(str(path), f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigurationError(str(path), "expected a JSON object")
    return data


def _text_setting(settings: Mapping[str, Any], variable: str, *, strip: bool = True) -> str | None:
    """A string setting, None when empty; any other type is an error naming the variable."""
    value = settings.get(variable)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(variable, f"expected a string, got {type(value).__name__}")
    return (value.strip() if strip else value) or None


def from_seed_settings(settings: Mapping[str, Any]) -> KafkaConnection:
    """Build a connection from the seed's variables (environment, config.json or Django)."""
    servers = parse_bootstrap_servers(settings.get("KAFKA_BOOTSTRAP_SERVERS"))
    protocol = (_text_setting(settings, "KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigurationError(
            "KAFKA_SECURITY_PROTOCOL", f"{protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    mechanism = (_text_setting(settings, "KAFKA_SASL_MECHANISM") or "").upper() or None
    username = _text_setting(settings, "KAFKA_SASL_USERNAME", strip=False)
    password = _text_setting(settings, "KAFKA_SASL_PASSWORD", strip=False)
    if protocol.startswith("SASL_"):
        if mechanism is None:
            raise ConfigurationError("KAFKA_SASL_MECHANISM", f"required with {protocol}")
        if mechanism not in SASL_MECHANISMS:
            raise ConfigurationError(
                "KAFKA_SASL_MECHANISM", f"{mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
            )
        if not username:
            raise ConfigurationError("KAFKA_SASL_USERNAME", f"required with {protocol}")
        if not password:
            raise ConfigurationError("KAFKA_SASL_PASSWORD", f"required with {protocol}")
    elif mechanism is not None:
        raise ConfigurationError(
            "KAFKA_SASL_MECHANISM", f"set, but KAFKA_SECURITY_PROTOCOL is {protocol} (no SASL)"
        )
    cafile = _text_setting(settings, CAFILE_VARIABLE)
    if cafile and not Path(cafile).is_file():
        raise ConfigurationError(CAFILE_VARIABLE, f"{cafile} is not a readable file")
    return KafkaConnection(
        bootstrap_servers=servers,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=username if mechanism else None,
        sasl_password=password if mechanism else None,
        ssl_cafile=cafile,
    )


def from_environment(
    environ: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None
) -> KafkaConnection | None:
    """The seed's way: environment variables, then `config.json`. None when neither is set."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(load_config_file(config_file))
    merged.update(
        {name: environ[name] for name in (*SEED_VARIABLES, CAFILE_VARIABLE) if environ.get(name)}
    )
    if not merged.get("KAFKA_BOOTSTRAP_SERVERS"):
        return None
    return from_seed_settings(merged)


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


def fetch_bootstrap_brokers(cluster_arn: str, kafka_client: Any) -> tuple[str, ...]:
    """The SASL/SCRAM (9096) broker string of an MSK cluster."""
    response = kafka_client.get_bootstrap_brokers(ClusterArn=cluster_arn)
    brokers = response.get("BootstrapBrokerStringSaslScram")
    if not brokers:
        raise ConfigurationError(
            CLUSTER_ARN_VARIABLE, f"cluster {cluster_arn} has no SASL/SCRAM brokers (is SCRAM on?)"
        )
    return parse_broker_string(brokers)


def from_aws(environ: Mapping[str, str], client_factory: Callable[[str], Any]) -> KafkaConnection:
    """MSK with SASL/SCRAM: credentials from Secrets Manager, brokers from env or the MSK API."""
    secret_arn = environ.get(SECRET_ARN_VARIABLE)
    if not secret_arn:
        raise ConfigurationError(
            SECRET_ARN_VARIABLE, "not set (and KAFKA_BOOTSTRAP_SERVERS is not set either)"
        )
    if environ.get(BOOTSTRAP_BROKERS_VARIABLE):
        brokers = parse_broker_string(environ[BOOTSTRAP_BROKERS_VARIABLE])
    elif environ.get(CLUSTER_ARN_VARIABLE):
        brokers = fetch_bootstrap_brokers(environ[CLUSTER_ARN_VARIABLE], client_factory("kafka"))
    else:
        raise ConfigurationError(
            BOOTSTRAP_BROKERS_VARIABLE, f"not set, and neither is {CLUSTER_ARN_VARIABLE}"
        )
    username, password = read_scram_secret(secret_arn, client_factory("secretsmanager"))
    return msk_scram_connection(brokers, username, password, environ.get(CAFILE_VARIABLE))


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


# Secrets Manager / MSK API lookups give up well inside a Lambda's timeout (the producer's is
# 60 s): at most AWS_ATTEMPTS x (connect + read) plus botocore's back-off between attempts.
AWS_CONNECT_TIMEOUT_S = 3
AWS_READ_TIMEOUT_S = 5
AWS_ATTEMPTS = 3


def _boto3_client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - lazily: local runs and cold starts need no boto3
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        connect_timeout=AWS_CONNECT_TIMEOUT_S,
        read_timeout=AWS_READ_TIMEOUT_S,
        retries={"total_max_attempts": AWS_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client(service, config=config)


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
        client_factory: Callable[[str], Any] = _boto3_client,
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
