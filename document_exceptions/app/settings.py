"""The app-side library's configuration, read and validated once at start-up.

Every setting has one name, used alike as an environment variable, a Django setting and a
key of the seed's development ``config.json``. Where several give a value, the first of
these wins:

1. ``overrides`` passed to :func:`document_exceptions.app.configure` (code, e.g. tests);
2. environment variables (the seed's production way);
3. Django settings (``settings.KAFKA_BOOTSTRAP_SERVERS = [...]``), when Django is configured;
4. the ``config.json`` named by ``DOCUMENT_EXCEPTIONS_CONFIG_FILE`` (the seed's development way).

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
``DOCUMENT_EXCEPTIONS_CONFIG_FILE``         path of the seed's ``config.json``
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

import math
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
    SEED_VARIABLES,
    ConfigurationError,
    KafkaConnection,
    from_seed_settings,
    load_config_file,
)
from document_exceptions.contract import ENVIRONMENT_VARIABLES as CONTRACT_VARIABLES
from document_exceptions.contract import ContractError, ContractSettings
from document_exceptions.publisher import (
    ProducerSettings,
    ProducerSettingsError,
    environment_variable,
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
CONFIG_FILE = "DOCUMENT_EXCEPTIONS_CONFIG_FILE"
ORDERS_API_URL = "DOCUMENT_ORDERS_API_URL"
ORDERS_API_TIMEOUT = "DOCUMENT_ORDERS_API_TIMEOUT"
ORDERS_API_MAX_ATTEMPTS = "DOCUMENT_ORDERS_API_MAX_ATTEMPTS"

PRODUCER_VARIABLES = tuple(environment_variable(f.name) for f in fields(ProducerSettings))
VARIABLES = (
    *SEED_VARIABLES,
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
) -> dict[str, Any]:
    """All sources merged per variable: overrides, then environment, Django, config.json."""
    environ = os.environ if environ is None else environ
    django = django_settings() if django is None else django
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {*VARIABLES, CONFIG_FILE})
    if unknown:
        raise ConfigurationError(unknown[0], f"unknown setting; known: {', '.join(VARIABLES)}")
    config_path = (
        config_file
        or overrides.get(CONFIG_FILE)
        or environ.get(CONFIG_FILE)
        or django.get(CONFIG_FILE)
    )
    merged: dict[str, Any] = {}
    if config_path:
        try:
            merged.update(load_config_file(config_path))
        except ConfigurationError as exc:
            raise ConfigurationError(CONFIG_FILE, str(exc)) from None
    for layer in (django, {name: environ[name] for name in VARIABLES if environ.get(name)}):
        merged.update({name: value for name, value in layer.items() if name in VARIABLES})
    merged.update(overrides)
    return merged


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
    transport = _choice(values, TRANSPORT, TRANSPORTS, "kafka")
    connection = None
    lambda_function = _text(values, LAMBDA_FUNCTION)
    if transport == "kafka":
        if not values.get("KAFKA_BOOTSTRAP_SERVERS"):
            raise ConfigurationError(
                "KAFKA_BOOTSTRAP_SERVERS",
                f'required with {TRANSPORT}=kafka; a JSON list like ["host:9096"]',
            )
        connection = from_seed_settings(values)
    elif not lambda_function:
        raise ConfigurationError(LAMBDA_FUNCTION, f"required with {TRANSPORT}=lambda")
    try:
        contract = ContractSettings.from_environment(
            {name: values[name] for name in CONTRACT_VARIABLES.values() if name in values}
        )
    except ContractError as exc:
        raise ConfigurationError(exc.setting, exc.problem) from None
    given_spool_dir = _text(values, SPOOL_DIR)
    spool_dir = Path(given_spool_dir).expanduser() if given_spool_dir else default_spool_dir()
    if check_spool_dir and spool_dir is not None:
        _ensure_writable_dir(spool_dir)
    try:
        producer = ProducerSettings.from_environment(
            {name: str(values[name]) for name in PRODUCER_VARIABLES if name in values}
        )
    except ProducerSettingsError as exc:
        raise ConfigurationError(exc.name, exc.problem) from None
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
        lambda_region=_text(values, LAMBDA_REGION),
        buffer_size=int(_number(values, BUFFER_SIZE, 10_000, minimum=1, integer=True)),
        full_buffer_policy=_choice(values, FULL_BUFFER_POLICY, FULL_BUFFER_POLICIES, "spool"),
        spool_dir=spool_dir,
        strict=_strict(values),
        producer=producer,
        replay_interval=_number(values, REPLAY_INTERVAL, 15.0, minimum=0.05, maximum=3600.0),
        exit_timeout=_number(values, EXIT_TIMEOUT, 10.0, minimum=0.0, maximum=900.0),
        orders_api=load_orders_api_settings(values),
    )


def load_orders_api_settings(values: Mapping[str, Any]) -> OrdersApiSettings:
    """The document-orders API part of the settings (URL optional until first use)."""
    url = _text(values, ORDERS_API_URL)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(ORDERS_API_URL, f"{url!r} is not an http(s) URL")
    return OrdersApiSettings(
        url=url,
        timeout=_number(values, ORDERS_API_TIMEOUT, 5.0, minimum=0.01, maximum=300.0),
        max_attempts=int(
            _number(values, ORDERS_API_MAX_ATTEMPTS, 3, minimum=1, maximum=10, integer=True)
        ),
    )


def _text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigurationError(name, f"expected text, got {type(value).__name__}")
    return value.strip() or None


def _choice(values: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (_text(values, name) or default).lower()
    if value not in choices:
        raise ConfigurationError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _number(
    values: Mapping[str, Any],
    name: str,
    default: float,
    *,
    minimum: float,
    maximum: float | None = None,
    integer: bool = False,
) -> float:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ConfigurationError(name, f"expected a number, got {raw!r}")
    try:
        number = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise ConfigurationError(name, f"expected {kind}, got {raw!r}") from None
    if math.isnan(number) or number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigurationError(name, f"{raw!r} is out of range; expected {bounds}")
    return number


def _strict(values: Mapping[str, Any]) -> bool | None:
    raw = values.get(STRICT)
    if isinstance(raw, bool):  # a Django setting or an override
        return raw
    return STRICT_CHOICES[_choice(values, STRICT, tuple(STRICT_CHOICES), "auto")]


def _ensure_writable_dir(path: Path) -> None:
    try:
        check_directory(path)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-")  # noqa: SIM115
        probe.close()
    except OSError as exc:
        raise ConfigurationError(SPOOL_DIR, f"{path} is not a usable directory ({exc})") from None
