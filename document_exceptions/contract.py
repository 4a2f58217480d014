"""The document-exception message contract: the one source of truth.

Everything that knows what a message looks like reads it from here: the producer Lambda,
the app-side library, the demo and the benchmark. The fields and their checks are in
`document_exceptions.fields`, the JSON encoding in `document_exceptions.encoding`, the JSON
Schema shipped for consumers in `document_exceptions.json_schema`; this module completes,
encodes and sizes a message, and re-exports what callers of the contract use.

A message on the topic is the guide's JSON object with all 17 fields, in the guide's order,
encoded as compact UTF-8 JSON. What callers send may leave out everything but the five
required fields; `build_message` fills in the rest:

- `timestamp`: now, UTC, ISO 8601 with millisecond precision and `Z`;
- `topic` and `key`: the configured topic and record key (given values must match them);
- `source`: the configured default (`django_s3_app` in the guide);
- `http_status_code`: from `HTTP_STATUS_BY_EXCEPTION_TYPE`, `DEFAULT_HTTP_STATUS_CODE`
  for exception types not in that table;
- `additional_context`: `{}`; every other optional field: `null`.

Policies:
- Unknown fields are rejected (one error per field), not folded into
  `additional_context`: a misspelt field (`userid`) would otherwise pass silently while the
  real one is missing. Extra data belongs in `additional_context` explicitly.
- `order_req_id` and `user_id` accept integers (Django's `request.user.id`) and carry them
  as their decimal string; the message always holds strings.
- The free-text fields `error_message`, `user_agent` and `stack_trace` are truncated to
  `MAX_FIELD_CHARS` with a visible marker (`stack_trace` keeps its end, where the
  exception is); identifiers longer than their limit are rejected, never cut.
- The whole record (key, value, headers) must fit `ContractSettings.max_record_bytes`,
  below MSK's default `message.max.bytes` (1 MB).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from document_exceptions.echo import echo
from document_exceptions.encoding import (
    DECODES_PLAIN_JSON,
    JSON_ENCODER,
    encode_json,
    parse_message,
    unencodable_fields,
)
from document_exceptions.fields import (
    COMMON_EXCEPTION_TYPES,
    DEFAULT_HTTP_STATUS_CODE,
    EXCEPTION_TYPE_MAX_CHARS,
    EXCEPTION_TYPE_PATTERN,
    FIELD_SPECS,
    FIELDS,
    HTTP_STATUS_BY_EXCEPTION_TYPE,
    KAFKA_TOPIC_PATTERN,
    MAX_CONTEXT_DEPTH,
    MAX_FIELD_CHARS,
    REQUIRED_FIELDS,
    TIMESTAMP_PATTERN,
    TOPIC_RE,
    TRUNCATION_MARKER,
    UNKNOWN_FIELD_PROBLEM,
    FieldError,
    FieldSpec,
    ValidationError,
    check_fields,
    error_order,
    failed_fields,
    truncate,
)
from document_exceptions.record import Record
from document_exceptions.settings import ConfigurationError, Settings

# What callers of the contract use, wherever it is defined.
__all__ = [
    "COMMON_EXCEPTION_TYPES",
    "CONTENT_TYPE",
    "DEFAULT_HTTP_STATUS_CODE",
    "DEFAULT_MAX_RECORD_BYTES",
    "DEFAULT_SETTINGS",
    "ENVIRONMENT_VARIABLES",
    "EXCEPTION_TYPE_MAX_CHARS",
    "EXCEPTION_TYPE_PATTERN",
    "FIELDS",
    "FIELD_SPECS",
    "HEADER_CONTENT_TYPE",
    "HEADER_EXCEPTION_TYPE",
    "HEADER_SCHEMA_VERSION",
    "HEADER_SOURCE",
    "HTTP_STATUS_BY_EXCEPTION_TYPE",
    "JSON_ENCODER",
    "KAFKA_TOPIC_PATTERN",
    "MAX_CONTEXT_DEPTH",
    "MAX_FIELD_CHARS",
    "REQUIRED_FIELDS",
    "SCHEMA_VERSION",
    "TIMESTAMP_PATTERN",
    "TRUNCATION_MARKER",
    "UNKNOWN_FIELD_PROBLEM",
    "ContractError",
    "ContractSettings",
    "FieldError",
    "FieldSpec",
    "PreparedRecord",
    "ValidationError",
    "build_message",
    "encode_json",
    "parse_message",
    "prepare_json",
    "prepare_record",
    "record_size",
    "truncate",
    "utc_timestamp",
]

SCHEMA_VERSION = "1"

# Kafka's per-record and per-batch framing on top of key, value and headers (a v2 batch
# header is 61 bytes, a record's varints at most a few dozen): a safe upper bound.
RECORD_OVERHEAD_BYTES = 128
# MSK's default message.max.bytes is 1,048,588; stay clearly below it.
DEFAULT_MAX_RECORD_BYTES = 1_000_000
MIN_MAX_RECORD_BYTES = 16_384

HEADER_EXCEPTION_TYPE = "exception_type"
HEADER_SOURCE = "source"
HEADER_SCHEMA_VERSION = "schema_version"
HEADER_CONTENT_TYPE = "content-type"
CONTENT_TYPE = "application/json"


KeyBy = Literal["constant", "order_req_id"]
KEY_BY_CHOICES: tuple[str, ...] = ("constant", "order_req_id")

# ContractSettings attribute -> the Lambda environment variable that overrides it.
ENVIRONMENT_VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "topic": "KAFKA_TOPIC",
        "record_key": "MESSAGE_RECORD_KEY",
        "default_source": "MESSAGE_DEFAULT_SOURCE",
        "key_by": "MESSAGE_KEY_BY",
        "max_record_bytes": "MESSAGE_MAX_RECORD_BYTES",
    }
)


class ContractError(ConfigurationError):
    """A contract setting is invalid; the message names the setting (or its variable)."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(setting, problem)
        self.setting = setting


@dataclass(frozen=True)
class ContractSettings:
    """Where messages go and how they are keyed; validated on creation.

    `key_by="constant"` (the guide's way) keys every record `record_key`, which puts every
    message on ONE partition (ordered, but no parallelism); `key_by="order_req_id"` keys by
    the order, spreading messages over the partitions while keeping each order's messages in
    order. The message's own `key` field is `record_key` in both modes.
    """

    topic: str = "DocumentExceptions"
    record_key: str = "DocumentAccessLog"
    default_source: str = "django_s3_app"
    key_by: KeyBy = "constant"
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not TOPIC_RE.match(self.topic):
            raise ContractError(
                "topic", f"{self.topic!r} is not a Kafka topic name ([a-zA-Z0-9._-], 1-249 chars)"
            )
        if not isinstance(self.record_key, str) or not self.record_key:
            raise ContractError("record_key", f"{self.record_key!r} must be a non-empty string")
        if not isinstance(self.default_source, str) or not self.default_source:
            raise ContractError(
                "default_source", f"{self.default_source!r} must be a non-empty string"
            )
        if self.key_by not in KEY_BY_CHOICES:
            raise ContractError(
                "key_by", f"{self.key_by!r} is not one of {', '.join(KEY_BY_CHOICES)}"
            )
        if (
            not isinstance(self.max_record_bytes, int)
            or isinstance(self.max_record_bytes, bool)
            or self.max_record_bytes < MIN_MAX_RECORD_BYTES
        ):
            raise ContractError(
                "max_record_bytes",
                f"{self.max_record_bytes!r} must be an integer >= {MIN_MAX_RECORD_BYTES}",
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ContractSettings:
        """Defaults overridden by `ENVIRONMENT_VARIABLES`; errors name the variable."""
        return cls.from_settings(Settings(os.environ if environ is None else environ))

    @classmethod
    def from_settings(cls, settings: Settings) -> ContractSettings:
        """Defaults overridden by the `ENVIRONMENT_VARIABLES` of `settings`; errors name the
        variable."""
        kwargs: dict[str, Any] = {}
        try:
            for attribute, variable in ENVIRONMENT_VARIABLES.items():
                if not settings.is_set(variable):
                    continue
                if attribute == "max_record_bytes":
                    kwargs[attribute] = settings.integer(variable)
                else:
                    kwargs[attribute] = settings.text(variable, strip=False)
        except ConfigurationError as exc:
            raise ContractError(exc.variable, exc.problem) from None
        try:
            return cls(**kwargs)
        except ContractError as exc:
            raise ContractError(ENVIRONMENT_VARIABLES[exc.setting], exc.problem) from None


DEFAULT_SETTINGS = ContractSettings()


class PreparedRecord(NamedTuple):
    """A validated message: the `Record` that goes on the wire, and what was learnt making it.

    `message` is the message as serialized in the record's value; `truncated` names the
    free-text fields that were cut to fit. Only `record` travels on (sender, spool,
    publisher).
    """

    record: Record
    message: dict[str, Any]
    truncated: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Upper bound of the record's size on the wire, before compression."""
        record = self.record
        return record_size(record.key or b"", record.value, record.headers)


def record_size(key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> int:
    header_bytes = sum(len(name.encode()) + len(data) + 10 for name, data in headers)
    return len(key) + len(value) + header_bytes + RECORD_OVERHEAD_BYTES


_second_prefix: tuple[int, str] = (-1, "")


def utc_timestamp(now: datetime | None = None) -> str:
    """`now` (default: the current time) as UTC ISO 8601 with milliseconds and `Z`."""
    global _second_prefix  # noqa: PLW0603 - a one-entry cache: the date part changes once a second
    if now is None:
        clock = time.time()
        second = int(clock)
        if _second_prefix[0] != second:
            _second_prefix = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{_second_prefix[1]}.{int((clock - second) * 1000):03d}Z"
    # A naive time is taken as UTC, never as local time.
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.isoformat(timespec="milliseconds")[:-6] + "Z"  # drop "+00:00"


def build_message(
    fields: Mapping[str, Any],
    settings: ContractSettings = DEFAULT_SETTINGS,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Validate `fields` and return the complete message (17 fields, the guide's order).

    Raises `ValidationError` listing every problem found, one per field.
    """
    return _build(fields, settings, now, plain_json=False)[0]


def _build(
    fields: Mapping[str, Any], settings: ContractSettings, now: datetime | None, *, plain_json: bool
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Validate and complete `fields`: the checks, then the configured values and defaults."""
    message, errors, truncated = check_fields(fields, plain_json=plain_json)
    _check_complete(message, settings, errors)
    if errors:
        raise ValidationError(sorted(errors, key=error_order))
    _fill_defaults(message, settings, now)
    return message, tuple(truncated)


def _check_complete(
    message: dict[str, Any], settings: ContractSettings, errors: list[FieldError]
) -> None:
    """Required fields are present; `topic` and `key` match the configuration (or are filled)."""
    for name in REQUIRED_FIELDS:
        if message[name] is None and name not in failed_fields(errors):
            errors.append(FieldError(name, "required"))
    if message["topic"] is None:
        message["topic"] = settings.topic
    elif message["topic"] != settings.topic:
        errors.append(_mismatch("topic", message["topic"], "topic", settings.topic))
    if message["key"] is None:
        message["key"] = settings.record_key
    elif message["key"] != settings.record_key:
        errors.append(_mismatch("key", message["key"], "record key", settings.record_key))


def _mismatch(name: str, given: Any, what: str, configured: str) -> FieldError:
    """`topic` and `key` are filled in when absent and must match the configuration."""
    return FieldError(name, f"{echo(given)} is not the configured {what} {configured!r}")


def _fill_defaults(
    message: dict[str, Any], settings: ContractSettings, now: datetime | None
) -> None:
    if message["timestamp"] is None:
        message["timestamp"] = utc_timestamp(now)
    if message["source"] is None:
        message["source"] = settings.default_source
    if message["http_status_code"] is None:
        message["http_status_code"] = HTTP_STATUS_BY_EXCEPTION_TYPE.get(
            message["exception_type"], DEFAULT_HTTP_STATUS_CODE
        )
    if message["additional_context"] is None:
        message["additional_context"] = {}


_CONSTANT_HEADERS = (
    (HEADER_SCHEMA_VERSION, SCHEMA_VERSION.encode()),
    (HEADER_CONTENT_TYPE, CONTENT_TYPE.encode()),
)
# record_size() of everything but key, value and the two per-message header values.
_HEADER_OVERHEAD = record_size(
    b"", b"", [(HEADER_EXCEPTION_TYPE, b""), (HEADER_SOURCE, b""), *_CONSTANT_HEADERS]
)


def prepare_record(
    fields: Mapping[str, Any],
    settings: ContractSettings = DEFAULT_SETTINGS,
    now: datetime | None = None,
) -> PreparedRecord:
    """Validate, fill in, serialize and size-check one message, once.

    Raises `ValidationError` (including for a record larger than `max_record_bytes`).
    """
    return _prepare(fields, settings, now, plain_json=False)


def prepare_json(
    body: str | bytes,
    settings: ContractSettings = DEFAULT_SETTINGS,
    now: datetime | None = None,
) -> PreparedRecord:
    """`prepare_record` for a message given as JSON text (an SQS body, a stored message).

    Raises `ValidationError` for invalid JSON as for any other problem.
    """
    return _prepare(parse_message(body), settings, now, plain_json=DECODES_PLAIN_JSON)


def record_problems(
    record: Record, settings: ContractSettings = DEFAULT_SETTINGS
) -> list[FieldError]:
    """Why `record` is not exactly the record the contract makes of its value ([] when it is).

    For records read back from storage (the app's spool): the value must be a valid message
    and the key and headers those the contract gives it, so a stored row cannot carry a key
    or headers of its own choosing.
    """
    try:
        expected = prepare_json(record.value, settings).record
    except ValidationError as exc:
        return list(exc.errors)
    problems = []
    if record.key != expected.key:
        problems.append(FieldError("key", "is not the record key the contract gives this message"))
    if list(record.headers) != expected.headers:
        problems.append(
            FieldError("headers", "are not the headers the contract gives this message")
        )
    if record.value != expected.value:
        problems.append(FieldError("value", "is not the contract's serialization of its message"))
    return problems


def _prepare(
    fields: Mapping[str, Any], settings: ContractSettings, now: datetime | None, *, plain_json: bool
) -> PreparedRecord:
    message, truncated = _build(fields, settings, now, plain_json=plain_json)
    try:
        value = encode_json(message)
    except (TypeError, ValueError):
        raise ValidationError(unencodable_fields(message)) from None
    key = (
        settings.record_key if settings.key_by == "constant" else message["order_req_id"]
    ).encode()
    headers = [
        (HEADER_EXCEPTION_TYPE, message["exception_type"].encode()),
        (HEADER_SOURCE, message["source"].encode()),
        *_CONSTANT_HEADERS,
    ]
    size = len(key) + len(value) + len(headers[0][1]) + len(headers[1][1]) + _HEADER_OVERHEAD
    if size > settings.max_record_bytes:
        largest = max(message, key=lambda name: len(encode_json(message[name])))
        raise ValidationError(
            [
                FieldError(
                    "message",
                    f"record is {size} bytes, more than max_record_bytes "
                    f"{settings.max_record_bytes} (largest field: {largest})",
                )
            ]
        )
    return PreparedRecord(Record(key, value, headers), message, truncated)
