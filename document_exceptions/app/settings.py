"""The app-side library's configuration, read and validated once at start-up.

Every setting has one name, used alike as an environment variable, a Django setting and a
key of the development ``config.json``. Where several give a value, the first of these wins
(``document_exceptions.settings`` reads them; the rules are this module's):

1. ``overrides`` passed to :func:`document_exceptions.app.configure` (code, e.g. tests);
2. environment variables (the guide's production way);
3. Django settings (``settings.KAFKA_BOOTSTRAP_SERVERS = [...]``), when Django is configured;
4. the ``config.json`` named by ``DOCUMENT_EXCEPTIONS_CONFIG_FILE`` (the guide's development
   way): a regular file of at most 64 KiB, private to its user when it holds a password.

A missing or malformed value raises :class:`ConfigurationError` naming the variable, so a bad
deployment fails when it starts, never at the first send.

==========================================  ==========================================
``KAFKA_BOOTSTRAP_SERVERS``                 JSON list of ``host:port`` (transport kafka)
``KAFKA_SECURITY_PROTOCOL``                 PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
``KAFKA_SASL_MECHANISM``                    SCRAM-SHA-512 (MSK), SCRAM-SHA-256, PLAIN
``KAFKA_SASL_USERNAME`` / ``_PASSWORD``     required with SASL_*
``KAFKA_SSL_CAFILE``                        private CA bundle (optional)
``KAFKA_TOPIC``                             default ``DocumentExceptions``
``MESSAGE_RECORD_KEY``, ``MESSAGE_KEY_BY``,
``MESSAGE_DEFAULT_SOURCE``,
``MESSAGE_MAX_RECORD_BYTES``                the message contract's settings, named as for the
                                            producer Lambda (see ``contract.ContractSettings``)
``DOCUMENT_EXCEPTIONS_TRANSPORT``           ``kafka`` (default) or ``lambda``
``DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION``     producer function name or ARN (transport lambda)
``DOCUMENT_EXCEPTIONS_LAMBDA_REGION``       its region (default: boto3's own resolution)
``DOCUMENT_EXCEPTIONS_BUFFER_SIZE``         in-process buffer, messages (default 10000)
``DOCUMENT_EXCEPTIONS_FULL_BUFFER_POLICY``  ``spool`` (default), ``drop_oldest``, ``drop_newest``
``DOCUMENT_EXCEPTIONS_SPOOL_DIR``           spool directory (default: a per-user state dir;
                                            in memory, with a warning, without a home)
``DOCUMENT_EXCEPTIONS_STRICT``              ``auto`` (default), ``true``, ``false``: whether
                                            ``send_document_access_exception`` raises
                                            ``ValidationError`` (true) or parks the report
                                            (false); auto: strict under tests and Django
                                            ``DEBUG``
``DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL``     seconds between spool replays / broker probes
``DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT``        seconds the exit hook waits for delivery
``DOCUMENT_EXCEPTIONS_CONFIG_FILE``         path of the development ``config.json``
``DOCUMENT_ORDERS_API_URL``                 document-orders endpoint (http or https)
``DOCUMENT_ORDERS_API_TIMEOUT``             seconds per attempt (default 5)
``DOCUMENT_ORDERS_API_MAX_ATTEMPTS``        attempts on 5xx / connection errors (default 3)
``PRODUCER_*``                              kafka-python producer settings, named and measured
                                            as for the producer Lambda (``publisher.py``):
                                            ``PRODUCER_DELIVERY_TIMEOUT_MS`` (how long a record
                                            may wait for its acknowledgement before it is
                                            spooled), ``PRODUCER_LINGER_MS``, ...
==========================================  ==========================================
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from document_exceptions.app.spool import check_directory
from document_exceptions.connection import (
    CAFILE_VARIABLE,
    CONNECTION_VARIABLES,
    KafkaConnection,
    from_kafka_settings,
)
from document_exceptions.contract import ENVIRONMENT_VARIABLES as CONTRACT_VARIABLES
from document_exceptions.contract import ContractSettings
from document_exceptions.publisher import ProducerSettings, environment_variable
from document_exceptions.settings import (
    CONFIG_FILE_VARIABLE,
    ConfigurationError,
    Settings,
    read_settings,
)

TRANSPORTS = ("kafka", "lambda")
FULL_BUFFER_POLICIES = ("spool", "drop_oldest", "drop_newest")
TRANSPORT = "DOCUMENT_EXCEPTIONS_TRANSPORT"
LAMBDA_FUNCTION = "DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION"
LAMBDA_REGION = "DOCUMENT_EXCEPTIONS_LAMBDA_REGION"
BUFFER_SIZE = "DOCUMENT_EXCEPTIONS_BUFFER_SIZE"
FULL_BUFFER_POLICY = "DOCUMENT_EXCEPTIONS_FULL_BUFFER_POLICY"
SPOOL_DIR = "DOCUMENT_EXCEPTIONS_SPOOL_DIR"
STRICT = "DOCUMENT_EXCEPTIONS_STRICT"
STRICT_CHOICES = {"auto": None, "true": True, "false": False}
REPLAY_INTERVAL = "DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL"
EXIT_TIMEOUT = "DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT"
CONFIG_FILE = CONFIG_FILE_VARIABLE
ORDERS_API_URL = "DOCUMENT_ORDERS_API_URL"
ORDERS_API_TIMEOUT = "DOCUMENT_ORDERS_API_TIMEOUT"
ORDERS_API_MAX_ATTEMPTS = "DOCUMENT_ORDERS_API_MAX_ATTEMPTS"

PRODUCER_VARIABLES = tuple(environment_variable(f.name) for f in fields(ProducerSettings))
VARIABLES = (
    *CONNECTION_VARIABLES,
    CAFILE_VARIABLE,
    *CONTRACT_VARIABLES.values(),
    *PRODUCER_VARIABLES,
    TRANSPORT,
    LAMBDA_FUNCTION,
    LAMBDA_REGION,
    BUFFER_SIZE,
    FULL_BUFFER_POLICY,
    SPOOL_DIR,
    STRICT,
    REPLAY_INTERVAL,
    EXIT_TIMEOUT,
    ORDERS_API_URL,
    ORDERS_API_TIMEOUT,
    ORDERS_API_MAX_ATTEMPTS,
)


def default_spool_dir() -> Path | None:
    """A per-user directory that survives restarts; None without a home directory.

    Never a shared directory such as /tmp: the spool holds user ids, IPs and stack traces.
    Without one the spool is kept in memory, with a warning (``spool.Spool``).
    """
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    if not os.path.isabs(state_home):  # "~" unexpanded: no usable home directory
        return None
    return Path(state_home) / "document-exceptions" / "spool"


@dataclass(frozen=True)
class OrdersApiSettings:
    """Where and how to post successful document accesses (see document_orders_service)."""

    url: str | None = None
    timeout: float = 5.0
    max_attempts: int = 3


@dataclass(frozen=True)
class AppSettings:
    """Validated settings of one process's sender; build with :func:`load_settings`."""

    transport: str = "kafka"
    connection: KafkaConnection | None = None
    contract: ContractSettings = field(default_factory=ContractSettings)
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    lambda_function: str | None = None
    lambda_region: str | None = None
    buffer_size: int = 10_000
    full_buffer_policy: str = "spool"
    spool_dir: Path | None = field(default_factory=default_spool_dir)
    strict: bool | None = None  # None: strict under tests and Django DEBUG (api.strict_mode)
    replay_interval: float = 15.0
    exit_timeout: float = 10.0
    orders_api: OrdersApiSettings = field(default_factory=OrdersApiSettings)

    @property
    def delivery_timeout(self) -> float:
        """Seconds a record may wait for its acknowledgement before it is spooled."""
        return self.producer.delivery_timeout_ms / 1000

    def describe(self) -> str:
        """A log-safe one-line description (never a password)."""
        target = (
            self.connection.describe()
            if self.connection is not None
            else f"lambda={self.lambda_function}"
        )
        return (
            f"transport={self.transport} topic={self.contract.topic} {target} "
            f"buffer={self.buffer_size} policy={self.full_buffer_policy} "
            f"spool={self.spool_dir or 'memory'}"
        )


def django_settings() -> dict[str, Any]:
    """Our variables as set in Django's settings, if the application uses Django.

    Django is never imported here: when the application has not imported it, there are no
    Django settings to read.
    """
    if "django.conf" not in sys.modules:
        return {}
    # Django is imported only when the application already has: it is optional here.
    from django.conf import settings  # noqa: PLC0415
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    try:
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return {}
        return {
            name: getattr(settings, name)
            for name in (*VARIABLES, CONFIG_FILE)
            if getattr(settings, name, None) not in (None, "")
        }
    except ImproperlyConfigured:
        return {}


def django_debug() -> bool:
    """Django's ``DEBUG``, when the application uses Django (never imported here)."""
    if "django.conf" not in sys.modules:
        return False
    from django.conf import settings  # noqa: PLC0415 - optional, already imported
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    try:
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return False
        return bool(getattr(settings, "DEBUG", False))
    except ImproperlyConfigured:
        return False


def merged_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    django: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """All sources merged per variable: overrides, then environment, Django, config.json."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {*VARIABLES, CONFIG_FILE})
    if unknown:
        raise ConfigurationError(unknown[0], f"unknown setting; known: {', '.join(VARIABLES)}")
    return read_settings(
        VARIABLES,
        overrides=overrides,
        environ=environ,
        django=django_settings() if django is None else django,
        config_file=config_file,
    )


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    django: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    *,
    check_spool_dir: bool = True,
) -> AppSettings:
    """Read, merge and validate every setting; raises ConfigurationError naming the variable."""
    values = merged_settings(overrides, environ, django, config_file)
    transport = values.choice(TRANSPORT, TRANSPORTS, "kafka")
    connection = None
    lambda_function = values.text(LAMBDA_FUNCTION)
    if transport == "kafka":
        if not values.is_set("KAFKA_BOOTSTRAP_SERVERS"):
            raise ConfigurationError(
                "KAFKA_BOOTSTRAP_SERVERS",
                f'required with {TRANSPORT}=kafka; a JSON list like ["host:9096"]',
            )
        connection = from_kafka_settings(values)
    elif not lambda_function:
        raise ConfigurationError(LAMBDA_FUNCTION, f"required with {TRANSPORT}=lambda")
    contract = ContractSettings.from_settings(values)
    given_spool_dir = values.text(SPOOL_DIR)
    spool_dir = Path(given_spool_dir).expanduser() if given_spool_dir else default_spool_dir()
    if check_spool_dir and spool_dir is not None:
        _ensure_writable_dir(spool_dir)
    producer = ProducerSettings.from_settings(values)
    if producer.max_request_size < contract.max_record_bytes:
        raise ConfigurationError(
            environment_variable("max_request_size"),
            f"{producer.max_request_size} is below MESSAGE_MAX_RECORD_BYTES "
            f"{contract.max_record_bytes}",
        )
    return AppSettings(
        transport=transport,
        connection=connection,
        contract=contract,
        lambda_function=lambda_function,
        lambda_region=values.text(LAMBDA_REGION),
        buffer_size=values.integer(BUFFER_SIZE, 10_000, minimum=1),
        full_buffer_policy=values.choice(FULL_BUFFER_POLICY, FULL_BUFFER_POLICIES, "spool"),
        spool_dir=spool_dir,
        strict=_strict(values),
        producer=producer,
        replay_interval=values.number(REPLAY_INTERVAL, 15.0, minimum=0.05, maximum=3600.0),
        exit_timeout=values.number(EXIT_TIMEOUT, 10.0, minimum=0.0, maximum=900.0),
        orders_api=load_orders_api_settings(values),
    )


def load_orders_api_settings(values: Mapping[str, Any] | Settings) -> OrdersApiSettings:
    """The document-orders API part of the settings (URL optional until first use)."""
    values = values if isinstance(values, Settings) else Settings(values)
    url = values.text(ORDERS_API_URL)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(ORDERS_API_URL, f"{url!r} is not an http(s) URL")
    return OrdersApiSettings(
        url=url,
        timeout=values.number(ORDERS_API_TIMEOUT, 5.0, minimum=0.01, maximum=300.0),
        max_attempts=values.integer(ORDERS_API_MAX_ATTEMPTS, 3, minimum=1, maximum=10),
    )


def _strict(values: Settings) -> bool | None:
    raw = values.raw(STRICT)
    if isinstance(raw, bool):  # a Django setting or an override
        return raw
    return STRICT_CHOICES[values.choice(STRICT, tuple(STRICT_CHOICES), "auto")]


def _ensure_writable_dir(path: Path) -> None:
    try:
        check_directory(path)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-")  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise ConfigurationError(SPOOL_DIR, f"{path} is not a usable directory ({exc})") from None
