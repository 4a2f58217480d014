"""Publish prepared records to Kafka with kafka-python, reporting only what the broker acknowledged.

One `Publisher` per process (per Lambda container) owns one `KafkaProducer`, created on the
first `publish` (never at import) and reused across invocations. `publish` sends every
record, flushes, and reports each one as published only with the partition and offset from
the broker's acknowledgement; everything else is a failure carrying the error.

Recovery:
- authentication or TLS-trust failures: the connection resolver is invalidated (so the
  secret is read again, picking up a rotated password), the producer is replaced and the
  unacknowledged records are sent once more; a second failure is reported as is;
- any other failed record: the producer is closed and a new one is created on the next
  call (an idempotent producer can be left with expired batches, an unknown producer id or
  sequence gaps; a fresh producer id is the reliable way out).

Delivery is at-least-once: a record whose acknowledgement was lost is reported failed and
sent again by whoever retries (SQS, the caller).

The producer is opened with `kafka_connect.open_client`, which fails at once with the real
cause (a `KafkaConnectError`) on a wrong password or an untrusted certificate instead of
after the bootstrap timeout; during a publish, the same connection watch tells a login lost
on reconnect, which ends the wait for acknowledgements early.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import threading
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import kafka.errors as kafka_errors
from kafka import KafkaProducer
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd

from document_exceptions.connection import ConnectionResolver, ConnectionSource, KafkaConnection
from document_exceptions.contract import DEFAULT_SETTINGS, ContractSettings
from document_exceptions.kafka_connect import (
    ConnectionWatch,
    FailureKind,
    KafkaConnectError,
    Progress,
    close_producer,
    connection_watch,
    open_client,
)
from document_exceptions.names import PRODUCER_VARIABLE_PREFIX
from document_exceptions.record import Record
from document_exceptions.settings import ConfigurationError, Settings

logger = logging.getLogger(__name__)

COMPRESSION_CODECS: Mapping[str, Callable[[], bool]] = {
    "gzip": has_gzip,
    "snappy": has_snappy,
    "lz4": has_lz4,
    "zstd": has_zstd,
}
CLIENT_ID_PREFIX = "document-exceptions"
_producer_numbers = itertools.count(1)
# Beyond the delivery timeout, how long a publish waits for records kafka-python has not
# resolved (expiry runs on the sender thread's clock; a stuck producer resolves nothing).
DELIVERY_GRACE_S = 2.0
# How often a publish checks for authentication failures while waiting for acknowledgements.
FLUSH_SLICE_S = 0.2
# Failures that re-reading the credentials may fix (a rotated password; a changed CA file):
# the producer is replaced and the unacknowledged records are sent once more.
CREDENTIAL_FAILURES = (FailureKind.AUTHENTICATION, FailureKind.TLS_TRUST, FailureKind.HOSTNAME)


class ProducerSettingsError(ConfigurationError):
    """A producer setting is invalid; the message names the setting or its variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(name, problem)
        self.name = name


class NotAcknowledgedError(Exception):
    """The broker did not acknowledge the record before the deadline; it may still arrive."""


# Errors about the record itself (too large, malformed): sending it again cannot succeed.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidRecordError,
    kafka_errors.CorruptRecordError,
)


# The codec records are compressed with (chosen by measurement: see `compression_type`).
# Consumers must read it; the message format document (docs/message-format.md) names it from
# here.
DEFAULT_COMPRESSION = "gzip"


@dataclass(frozen=True)
class ProducerSettings:
    """kafka-python producer settings, each chosen by measurement.

    `python -m bench.bench_producer --sweep` measures one setting at a time against a local
    broker and `make bench` measures the codecs; the figures are in their output and in the
    README's Benchmarks section. Settings that hide network latency (in-flight requests,
    linger) matter more on MSK, where a round trip crosses availability zones, than on a
    loopback broker.
    """

    # Every in-sync replica has the record before it counts as published (RF 2 on MSK).
    acks: str = "all"
    # No duplicates or reordering from the producer's own retries; MSK 2.8.1 supports it.
    enable_idempotence: bool = True
    # Costs a direct invoke nothing (batches fill while the handler's send loop runs and
    # flush() sends the rest at once) and lets a burst from several threads (the app-side
    # library) share a batch.
    linger_ms: int = 5
    # Larger batches cut kafka-python's per-message CPU until about 512 KiB; even uncompressed
    # (PRODUCER_COMPRESSION_TYPE=none) such a batch stays below MSK's message.max.bytes.
    batch_size: int = 524_288
    # On MSK one request per cross-AZ round trip would bound throughput; 5 is the most
    # idempotence allows with ordering kept.
    max_in_flight_requests_per_connection: int = 5
    # gzip: the fewest bytes on the wire and on the brokers' disks (t3.small brokers: limited
    # network, 100 GB disks), readable by every Kafka client, and in the standard library, so
    # the Lambda asset carries no codec wheel (zstd's outweighs the rest of the asset; lz4
    # writes twice the bytes). It costs more producer CPU than zstd or lz4; `make bench`
    # prints the four codecs side by side.
    compression_type: str | None = DEFAULT_COMPRESSION
    # Largest request kafka-python will build; must hold max_record_bytes of the contract.
    max_request_size: int = 1_048_576
    # Per produce request; a broker that takes longer is retried within the delivery timeout.
    request_timeout_ms: int = 10_000
    # Upper bound for a record from send() to its acknowledgement, retries included; keeps
    # failures well inside the Lambda timeout (60 s by default) so they can be reported.
    delivery_timeout_ms: int = 30_000
    # How long send() may block waiting for topic metadata.
    max_block_ms: int = 10_000
    # How long creating the producer may take to reach a broker (after that: unavailable).
    # Wrong credentials or an untrusted certificate fail at once, not after this.
    bootstrap_timeout_ms: int = 10_000
    retry_backoff_ms: int = 100
    # kafka-python's default (30 s) would sit out most of a Lambda invocation after a blip.
    reconnect_backoff_max_ms: int = 1_000
    # Not a setting: buffer_memory. kafka-python 3.0 has no bounded buffer (its accumulator
    # grows as needed); memory is bounded by what one publish() holds (one SQS batch, at
    # most the Lambda payload limit of 6 MB).

    def __post_init__(self) -> None:
        if self.acks not in ("all", "1"):
            raise ProducerSettingsError(
                "acks", f"{self.acks!r}: only 'all' (or '1') report an acknowledgement"
            )
        for name, kind in _field_types().items():
            value = getattr(self, name)
            if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ProducerSettingsError(name, f"{value!r} is not an integer >= 0")
        if self.compression_type is not None:
            available = COMPRESSION_CODECS.get(self.compression_type)
            if available is None:
                raise ProducerSettingsError(
                    "compression_type",
                    f"{self.compression_type!r} is not one of: none, "
                    + ", ".join(COMPRESSION_CODECS),
                )
            if not available():
                raise ProducerSettingsError(
                    "compression_type", f"{self.compression_type} needs a library not installed"
                )
        if self.enable_idempotence and not 1 <= self.max_in_flight_requests_per_connection <= 5:
            raise ProducerSettingsError(
                "max_in_flight_requests_per_connection", "must be 1-5 with idempotence"
            )
        if self.enable_idempotence and self.acks != "all":
            raise ProducerSettingsError("acks", "must be 'all' with idempotence")
        if self.delivery_timeout_ms < self.linger_ms + self.request_timeout_ms:
            raise ProducerSettingsError(
                "delivery_timeout_ms", "must be at least linger_ms + request_timeout_ms"
            )
        if self.batch_size < 1 or self.batch_size > self.max_request_size:
            raise ProducerSettingsError("batch_size", "must be between 1 and max_request_size")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ProducerSettings:
        """Defaults overridden by `PRODUCER_<SETTING>` variables (`PRODUCER_LINGER_MS=10`,
        `PRODUCER_COMPRESSION_TYPE=none`, ...); errors name the variable."""
        return cls.from_settings(Settings(os.environ if environ is None else environ))

    @classmethod
    def from_settings(cls, settings: Settings) -> ProducerSettings:
        """Defaults overridden by the `PRODUCER_<SETTING>` values of `settings`, each read as
        its field's type; errors name the variable."""
        overrides: dict[str, Any] = {}
        try:
            for name, kind in _field_types().items():
                variable = environment_variable(name)
                if not settings.is_set(variable):
                    continue
                if kind is bool:
                    overrides[name] = settings.boolean(variable)
                elif kind is int:
                    overrides[name] = settings.integer(variable)
                else:
                    text = settings.text(variable) or ""
                    if kind == _OPTIONAL_TEXT:  # compression_type: a codec's name, or none
                        overrides[name] = None if text.lower() == "none" else text.lower()
                    else:
                        overrides[name] = text
        except ConfigurationError as exc:
            raise ProducerSettingsError(exc.variable, exc.problem) from None
        try:
            return cls(**overrides)
        except ProducerSettingsError as exc:
            raise ProducerSettingsError(environment_variable(exc.name), exc.problem) from None

    def kafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `KafkaProducer` (connection settings come separately)."""
        kwargs = {setting.name: getattr(self, setting.name) for setting in fields(self)}
        kwargs["acks"] = "all" if self.acks == "all" else 1
        return kwargs

    def with_overrides(self, **overrides: Any) -> ProducerSettings:
        return replace(self, **overrides)


def environment_variable(setting: str) -> str:
    return PRODUCER_VARIABLE_PREFIX + setting.upper()


_OPTIONAL_TEXT = str | None


@functools.cache
def _field_types() -> dict[str, Any]:
    """Each ProducerSettings field's type, as a type (the annotations are strings)."""
    hints = typing.get_type_hints(ProducerSettings)
    return {setting.name: hints[setting.name] for setting in fields(ProducerSettings)}


def create_producer(
    connection: KafkaConnection,
    settings: ProducerSettings,
    *,
    client_id: str | None = None,
    on_progress: Progress | None = None,
) -> KafkaProducer:
    """A connected `KafkaProducer`, or a `KafkaConnectError` saying which kind of failure.

    Fails at once on a rejected login, an untrusted certificate or a refused address, and
    after `bootstrap_timeout_ms` when no broker answers (see `kafka_connect.open_client`).
    """
    return open_client(
        KafkaProducer,
        connection,
        timeout_s=settings.bootstrap_timeout_ms / 1000,
        client_id=client_id or f"{CLIENT_ID_PREFIX}-{os.getpid()}-{next(_producer_numbers)}",
        on_progress=on_progress,
        **settings.kafka_kwargs(),
    )


# --- publishing ---------------------------------------------------------------------------


class PublishResult(NamedTuple):
    """The outcome of one record: published with partition and offset, or the exception."""

    published: bool
    partition: int | None = None
    offset: int | None = None
    error: BaseException | None = None

    @classmethod
    def acknowledged(cls, partition: int, offset: int) -> PublishResult:
        return cls(True, partition, offset)

    @classmethod
    def failed(cls, error: BaseException) -> PublishResult:
        return cls(False, error=error)

    @property
    def error_text(self) -> str | None:
        """`ExceptionType: message`, for answers and logs; None when published."""
        return None if self.error is None else describe_error(self.error)

    def to_dict(self) -> dict[str, Any]:
        if self.published:
            return {"status": "published", "partition": self.partition, "offset": self.offset}
        return {"status": "failed", "error": self.error_text}


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Publisher:
    """Sends `Record`s with one reused `KafkaProducer`; see the module docstring."""

    def __init__(
        self,
        resolver: ConnectionSource,
        settings: ProducerSettings | None = None,
        contract: ContractSettings = DEFAULT_SETTINGS,
        producer_factory: Callable[..., KafkaProducer] = create_producer,
        on_connect_progress: Progress | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ProducerSettings()
        self.contract = contract
        if contract.max_record_bytes > self.settings.max_request_size:
            raise ProducerSettingsError(
                "max_request_size",
                f"{self.settings.max_request_size} is below the contract's max_record_bytes "
                f"{contract.max_record_bytes}",
            )
        self._resolver = resolver
        self._producer_factory = producer_factory
        self._on_connect_progress = on_connect_progress
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self.producers_created = 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Publisher:
        """Connection, producer and contract settings all from the environment (cheap: no I/O)."""
        environ = os.environ if environ is None else environ
        return cls(
            ConnectionResolver(environ),
            ProducerSettings.from_environment(environ),
            ContractSettings.from_environment(environ),
        )

    @property
    def has_producer(self) -> bool:
        return self._producer is not None

    def publish(
        self, records: Sequence[Record], timeout_s: float | None = None
    ) -> list[PublishResult]:
        """Send all records, wait for their acknowledgements, return one result per record.

        `timeout_s` bounds the whole call (e.g. what is left of a Lambda invocation); records
        not acknowledged by then are failures. The wait never exceeds the delivery timeout
        (plus `DELIVERY_GRACE_S`) after the last send either: kafka-python resolves every
        record within it, except when its idempotent producer is stuck (see `close_producer`).
        """
        if not records:
            return []
        deadline = time.monotonic() + timeout_s if timeout_s is not None else math.inf
        with self._lock:
            results, auth_failed = self._attempt(records, deadline)
            if auth_failed:
                logger.warning("Kafka authentication failed; re-reading the credentials, retrying")
                self._resolver.invalidate()
                self._retire_producer()
                retry = [index for index, result in enumerate(results) if not result.published]
                retried, _ = self._attempt([records[index] for index in retry], deadline)
                for index, result in zip(retry, retried, strict=True):
                    results[index] = result
            return results

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush and close the producer (a later `publish` creates a new one)."""
        with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                close_producer(producer, timeout_s)

    def _ensure_producer(self) -> KafkaProducer:
        if self._producer is None:
            connection = self._resolver.get()
            client_id = f"{CLIENT_ID_PREFIX}-{os.getpid()}-{next(_producer_numbers)}"
            self._producer = self._producer_factory(
                connection,
                self.settings,
                client_id=client_id,
                on_progress=self._on_connect_progress,
            )
            self.producers_created += 1
            logger.info("Kafka producer created (%s)", connection.describe())
        return self._producer

    def _retire_producer(self) -> None:
        """Drop the producer; close it in the background so pending batches can expire."""
        producer, self._producer = self._producer, None
        if producer is not None:
            wait = self.settings.delivery_timeout_ms / 1000 + 5
            threading.Thread(
                target=close_producer,
                args=(producer, wait),
                name="retire-kafka-producer",
                daemon=True,
            ).start()

    def _attempt(
        self, records: Sequence[Record], deadline: float
    ) -> tuple[list[PublishResult], bool]:
        """One try with the current (or a new) producer: (results, authentication failed)."""
        try:
            producer = self._ensure_producer()
        except KafkaConnectError as exc:
            if exc.kind in CREDENTIAL_FAILURES:
                return [PublishResult.failed(exc)] * len(records), True
            logger.error("Kafka producer could not be created: %s (check: %s)", exc, exc.hint)
            return [PublishResult.failed(exc)] * len(records), False
        except Exception as exc:  # bad configuration: every record fails
            logger.error("Kafka producer could not be created: %s", exc)
            return [PublishResult.failed(exc)] * len(records), False

        watch = connection_watch(producer)
        failures_before = _credential_failures(watch)
        futures = self._send_all(producer, records)
        delivery_bound = (
            time.monotonic() + self.settings.delivery_timeout_ms / 1000 + DELIVERY_GRACE_S
        )
        wait_until = min(deadline, delivery_bound)
        auth_failed = self._wait(producer, futures, wait_until, watch, failures_before)
        results = [_result(future, auth_failed, watch) for future in futures]
        if auth_failed or any(not result.published for result in results):
            self._retire_producer()
        return results, auth_failed

    def _send_all(self, producer: KafkaProducer, records: Sequence[Record]) -> list[Any]:
        """`send` each record; a send that raises leaves its exception in place of a future."""
        topic = self.contract.topic
        send = producer.send
        futures: list[Any] = []
        blocked: BaseException | None = None
        for record in records:
            if blocked is not None:
                futures.append(blocked)  # metadata unavailable: do not block once per record
                continue
            try:
                futures.append(
                    send(topic, value=record.value, key=record.key, headers=record.headers)
                )
            except kafka_errors.KafkaTimeoutError as exc:
                blocked = exc
                futures.append(exc)
            except (kafka_errors.KafkaError, ValueError, TypeError) as exc:
                futures.append(exc)
        return futures

    def _wait(
        self,
        producer: KafkaProducer,
        futures: list[Any],
        deadline: float,
        watch: ConnectionWatch | None,
        failures_before: int,
    ) -> bool:
        """Flush until every future is done or the deadline; True on an authentication failure."""
        while True:
            with suppress(kafka_errors.KafkaTimeoutError):  # checked below, future by future
                producer.flush(timeout=max(0.0, min(FLUSH_SLICE_S, deadline - time.monotonic())))
            pending = [f for f in futures if not isinstance(f, BaseException) and not f.is_done]
            if any(
                isinstance(_error_of(f), kafka_errors.SaslAuthenticationFailedError)
                for f in futures
            ):
                return True
            if not pending:
                return False
            if _credential_failures(watch) != failures_before:
                return True
            if time.monotonic() >= deadline:
                return False


def _error_of(future: Any) -> BaseException | None:
    if isinstance(future, BaseException):
        return future
    return future.exception if future.is_done else None


def _credential_failures(watch: ConnectionWatch | None) -> int:
    """Logins lost (or certificates refused) on the producer's connections so far."""
    return watch.count(*CREDENTIAL_FAILURES) if watch is not None else 0


def _result(future: Any, auth_failed: bool, watch: ConnectionWatch | None) -> PublishResult:
    if isinstance(future, BaseException):
        return PublishResult.failed(future)
    if not future.is_done:
        lost_login = watch.latest(*CREDENTIAL_FAILURES) if watch is not None else None
        if auth_failed and lost_login is not None:
            return PublishResult.failed(lost_login)
        return PublishResult.failed(NotAcknowledgedError("not acknowledged by the broker in time"))
    if future.exception is not None:
        return PublishResult.failed(future.exception)
    metadata = future.value
    return PublishResult.acknowledged(metadata.partition, metadata.offset)
