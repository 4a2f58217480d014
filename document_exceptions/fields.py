"""The message's fields: what each one is, how it is checked, how it is described.

`FIELD_SPECS` holds one `FieldSpec` per field (its check, its JSON Schema, its meaning), in
the order of the guide's message format; `check_fields` runs the checks over what a caller
gave. Completing a message (defaults, configured topic and key) and encoding it is
`document_exceptions.contract`'s job.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from document_exceptions.echo import echo, echo_name

FIELDS: tuple[str, ...] = (
    "timestamp",
    "topic",
    "key",
    "order_req_id",
    "s3_key",
    "user_id",
    "exception_type",
    "error_message",
    "source",
    "access_type",
    "ip_address",
    "user_agent",
    "session_id",
    "file_name",
    "http_status_code",
    "stack_trace",
    "additional_context",
)
REQUIRED_FIELDS: tuple[str, ...] = (
    "order_req_id",
    "s3_key",
    "user_id",
    "exception_type",
    "error_message",
)

COMMON_EXCEPTION_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "access_denied": "User doesn't have permission",
        "file_not_found": "Document not found in S3",
        "upload_failed": "File upload to S3 failed",
        "download_failed": "File download from S3 failed",
        "invalid_file_type": "Unsupported file type",
        "file_too_large": "File exceeds size limit",
        "quota_exceeded": "User/order quota exceeded",
        "authentication_failed": "Invalid authentication",
        "session_expired": "User session expired",
        "rate_limit_exceeded": "Too many requests",
    }
)

# The HTTP status the app answered (or would answer) for each common exception type.
HTTP_STATUS_BY_EXCEPTION_TYPE: Mapping[str, int] = MappingProxyType(
    {
        "access_denied": 403,  # Forbidden: authenticated, not allowed
        "file_not_found": 404,
        "upload_failed": 500,  # the S3 call failed on the server side
        "download_failed": 500,
        "invalid_file_type": 415,  # Unsupported Media Type
        "file_too_large": 413,  # Content Too Large
        "quota_exceeded": 429,  # a per-user/order quota is a rate limit over a longer window
        "authentication_failed": 401,
        "session_expired": 401,  # the client must authenticate again
        "rate_limit_exceeded": 429,
    }
)
# Exception types outside the table (such as the guide decorator's `document_download_error`)
# are exceptions the app did not classify: from the client's side, a server error.
DEFAULT_HTTP_STATUS_CODE = 500

EXCEPTION_TYPE_PATTERN = r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$"
EXCEPTION_TYPE_MAX_CHARS = 64
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$"
KAFKA_TOPIC_PATTERN = r"^[a-zA-Z0-9._-]{1,249}$"

# Free text: longer values are cut to this many characters, marker included.
MAX_FIELD_CHARS: Mapping[str, int] = MappingProxyType(
    {"error_message": 10_000, "user_agent": 1_000, "stack_trace": 100_000}
)
TRUNCATION_MARKER = "...[truncated: {original} characters in total]"

MAX_CONTEXT_DEPTH = 32
# Deeper JSON text is refused before it is parsed (the stdlib parser recurses once per
# level); the same depth orjson's encoder allows. Anything past MAX_CONTEXT_DEPTH is
# refused anyway, so this only bounds the work spent on finding out.
MAX_JSON_TEXT_DEPTH = 254

UNKNOWN_FIELD_PROBLEM = (
    "unknown field (the contract's fields are fixed; put extra data in additional_context)"
)

_EXCEPTION_TYPE_RE = re.compile(EXCEPTION_TYPE_PATTERN)
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
TOPIC_RE = re.compile(KAFKA_TOPIC_PATTERN)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a message."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


class ValidationError(ValueError):
    """A message breaks the contract; `errors` holds one `FieldError` per problem."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))

    def to_list(self) -> list[dict[str, str]]:
        return [error.to_dict() for error in self.errors]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(error.field for error in self.errors)


# --- field checks -------------------------------------------------------------------------
# Each check takes the given (non-null) value and returns the value to carry, or raises
# _Problem with a message for that field.


class _Problem(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, problem: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.errors = tuple(errors)


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


@dataclass(frozen=True, slots=True)
class _Text:
    """Check a string field: type, blankness, length; free text is truncated instead."""

    max_chars: int
    nonblank: bool = False
    allow_int: bool = False
    keep: Literal["head", "tail"] | None = None  # free text: which end survives truncation

    def __call__(self, value: Any) -> str:
        if self.allow_int and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _Problem(f"expected a string, got {type_name(value)}")
        if self.nonblank and not value.strip():
            raise _Problem("must not be empty")
        if len(value) <= self.max_chars:
            return value
        if self.keep is None:
            raise _Problem(f"is {len(value)} characters, more than the {self.max_chars} allowed")
        return truncate(value, self.max_chars, keep_end=self.keep == "tail")


def truncate(text: str, limit: int, *, keep_end: bool = False) -> str:
    """Cut `text` to `limit` characters including a marker saying how long it was."""
    marker = TRUNCATION_MARKER.format(original=len(text))
    keep = max(0, limit - len(marker))
    return marker + text[len(text) - keep :] if keep_end else text[:keep] + marker


def _timestamp(value: Any) -> str:
    if not isinstance(value, str):
        raise _Problem(f"expected an ISO 8601 string, got {type_name(value)}")
    if not _TIMESTAMP_RE.match(value):
        raise _Problem(
            f"{value[:40]!r} is not an ISO 8601 date-time with a timezone "
            "(like 2025-10-21T10:30:00Z)"
        )
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _Problem(f"{echo(value)} is not a valid date-time") from None
    return value


_VALID_EXCEPTION_TYPES: set[str] = set(COMMON_EXCEPTION_TYPES)
_VALID_EXCEPTION_TYPES_MAX = 4_096  # types repeat: remember the valid ones, within bounds


def _exception_type(value: Any) -> str:
    if type(value) is str and value in _VALID_EXCEPTION_TYPES:
        return value
    if not isinstance(value, str):
        raise _Problem(f"expected a string, got {type_name(value)}")
    if len(value) > EXCEPTION_TYPE_MAX_CHARS or not _EXCEPTION_TYPE_RE.match(value):
        raise _Problem(
            f"{value[:80]!r} is not a lower snake_case identifier of at most "
            f"{EXCEPTION_TYPE_MAX_CHARS} characters (like 'access_denied')"
        )
    if len(_VALID_EXCEPTION_TYPES) < _VALID_EXCEPTION_TYPES_MAX:
        _VALID_EXCEPTION_TYPES.add(value)
    return value


def _ip_address(value: Any) -> str:
    if not isinstance(value, str):
        raise _Problem(f"expected a string, got {type_name(value)}")
    # inet_pton first: the common case, an order of magnitude cheaper than ipaddress.
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
        except OSError:
            continue
        return value
    try:
        ipaddress.ip_address(value)  # also takes scoped IPv6 (fe80::1%eth0)
    except ValueError:
        raise _Problem(f"{value[:64]!r} is not an IPv4 or IPv6 address") from None
    return value


def _http_status(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Problem(f"expected an integer, got {type_name(value)}")
    if not 100 <= value <= 599:
        raise _Problem(f"{value} is not an HTTP status code (100-599)")
    return value


_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _UINT64_MAX else "integer outside the 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a JSON number"
    return f"a {type_name(value)} is not a JSON value"


_CONTAINERS = (dict, list, tuple)


def _json_problems(
    value: Any, path: str, errors: list[FieldError], *, scalars: bool = True
) -> None:
    """Append a FieldError for every part of `value` that is not plain, portable JSON.

    Portable: json and orjson encode it to the same value (no NaN, no non-string keys,
    no integers beyond 64 bits, nothing but JSON types), nested at most MAX_CONTEXT_DEPTH
    levels. `scalars=False` checks only the nesting (for what orjson decoded, which holds
    nothing else). A loop, not recursion: a value nested any depth cannot exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, _CONTAINERS):
            if depth >= MAX_CONTEXT_DEPTH:
                problem = f"nested deeper than {MAX_CONTEXT_DEPTH} levels"
                errors.append(FieldError(echo_name(path), problem))
                continue
            children: list[tuple[Any, str, int]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(key, str):
                        children.append((item, f"{path}.{echo_name(key)}", depth + 1))
                    else:
                        problem = f"key {echo(key)} is not a string"
                        errors.append(FieldError(echo_name(path), problem))
            else:
                children = [(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
            if not scalars:
                children = [child for child in children if isinstance(child[0], _CONTAINERS)]
            stack.extend(reversed(children))
        elif scalars and value is not None and not isinstance(value, str):
            problem = _scalar_problem(value)
            if problem is not None:
                errors.append(FieldError(echo_name(path), problem))


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether decoded JSON `value` holds containers more than `limit` levels deep (level by
    level, not recursion: safe on any depth; only containers are visited)."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        inner = []
        for container in level:
            for item in container.values() if isinstance(container, dict) else container:
                if isinstance(item, _CONTAINERS):
                    inner.append(item)
        level = inner
        depth += 1
    return False


def _additional_context(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(f"expected a JSON object, got {type_name(value)}")
    if value:
        errors: list[FieldError] = []
        _json_problems(value, "additional_context", errors)
        if errors:
            raise _Problem("not plain JSON", errors)
    return value


@dataclass(frozen=True)
class FieldSpec:
    """One field of the message: its check, its JSON Schema, its meaning."""

    name: str
    description: str
    schema: Mapping[str, Any]
    check: Callable[[Any], Any] = field(repr=False)
    required: bool = False


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [dict(schema), {"type": "null"}]}


_ID_CHARS = {"order_req_id": 128, "s3_key": 1024, "user_id": 256}
_OPTIONAL_CHARS = {"source": 128, "access_type": 64, "session_id": 256, "file_name": 1024}

FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "timestamp",
        "When the exception happened: ISO 8601 with a timezone; filled in (UTC, Z) when absent.",
        {"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN},
        _timestamp,
    ),
    FieldSpec(
        "topic",
        "The Kafka topic the message is published to; filled in when absent.",
        {"type": "string", "pattern": KAFKA_TOPIC_PATTERN},
        _Text(249, nonblank=True),
    ),
    FieldSpec(
        "key",
        "The configured record key (`DocumentAccessLog` by default); filled in when absent.",
        {"type": "string", "minLength": 1},
        _Text(256, nonblank=True),
    ),
    FieldSpec(
        "order_req_id",
        "The document order the access belongs to.",
        {"type": "string", "minLength": 1, "maxLength": _ID_CHARS["order_req_id"]},
        _Text(_ID_CHARS["order_req_id"], nonblank=True, allow_int=True),
        required=True,
    ),
    FieldSpec(
        "s3_key",
        "The S3 object key of the document.",
        {"type": "string", "minLength": 1, "maxLength": _ID_CHARS["s3_key"]},
        _Text(_ID_CHARS["s3_key"], nonblank=True),
        required=True,
    ),
    FieldSpec(
        "user_id",
        "Who accessed the document (integers are carried as their decimal string).",
        {"type": "string", "minLength": 1, "maxLength": _ID_CHARS["user_id"]},
        _Text(_ID_CHARS["user_id"], nonblank=True, allow_int=True),
        required=True,
    ),
    FieldSpec(
        "exception_type",
        "What went wrong: lower snake_case, at most 64 characters; the common types are "
        + ", ".join(COMMON_EXCEPTION_TYPES)
        + ", but the list is open.",
        {
            "type": "string",
            "pattern": EXCEPTION_TYPE_PATTERN,
            "maxLength": EXCEPTION_TYPE_MAX_CHARS,
            "examples": list(COMMON_EXCEPTION_TYPES),
        },
        _exception_type,
        required=True,
    ),
    FieldSpec(
        "error_message",
        "Human-readable description; truncated with a marker beyond the limit.",
        {"type": "string", "minLength": 1, "maxLength": MAX_FIELD_CHARS["error_message"]},
        _Text(MAX_FIELD_CHARS["error_message"], nonblank=True, keep="head"),
        required=True,
    ),
    FieldSpec(
        "source",
        "The application that reported the exception; the configured default when absent.",
        {"type": "string", "minLength": 1, "maxLength": _OPTIONAL_CHARS["source"]},
        _Text(_OPTIONAL_CHARS["source"], nonblank=True),
    ),
    FieldSpec(
        "access_type",
        "What the user tried, like upload or download.",
        _nullable({"type": "string", "maxLength": _OPTIONAL_CHARS["access_type"]}),
        _Text(_OPTIONAL_CHARS["access_type"]),
    ),
    FieldSpec(
        "ip_address",
        "The client's IPv4 or IPv6 address.",
        {
            "anyOf": [
                {"type": "string", "format": "ipv4"},
                {"type": "string", "format": "ipv6"},
                {"type": "null"},
            ]
        },
        _ip_address,
    ),
    FieldSpec(
        "user_agent",
        "The client's User-Agent header; truncated with a marker beyond the limit.",
        _nullable({"type": "string", "maxLength": MAX_FIELD_CHARS["user_agent"]}),
        _Text(MAX_FIELD_CHARS["user_agent"], keep="head"),
    ),
    FieldSpec(
        "session_id",
        "The user's session.",
        _nullable({"type": "string", "maxLength": _OPTIONAL_CHARS["session_id"]}),
        _Text(_OPTIONAL_CHARS["session_id"]),
    ),
    FieldSpec(
        "file_name",
        "The document's file name.",
        _nullable({"type": "string", "maxLength": _OPTIONAL_CHARS["file_name"]}),
        _Text(_OPTIONAL_CHARS["file_name"]),
    ),
    FieldSpec(
        "http_status_code",
        "The HTTP status answered; from the exception type when absent.",
        {"type": "integer", "minimum": 100, "maximum": 599},
        _http_status,
    ),
    FieldSpec(
        "stack_trace",
        "The traceback; truncated with a marker beyond the limit, keeping its end.",
        _nullable({"type": "string", "maxLength": MAX_FIELD_CHARS["stack_trace"]}),
        _Text(MAX_FIELD_CHARS["stack_trace"], keep="tail"),
    ),
    FieldSpec(
        "additional_context",
        "Anything else, as a JSON object; {} when absent.",
        {"type": "object"},
        _additional_context,
    ),
)
assert tuple(spec.name for spec in FIELD_SPECS) == FIELDS
assert tuple(spec.name for spec in FIELD_SPECS if spec.required) == REQUIRED_FIELDS

FIELD_INDEX = {name: index for index, name in enumerate(FIELDS)}
EMPTY_MESSAGE: dict[str, Any] = dict.fromkeys(FIELDS)
# name -> (check, plain_max, nonblank): a str of at most `plain_max` characters (and not
# blank where `nonblank`) passes its _Text check unchanged, so check_fields skips the call.
_CHECKS: dict[str, tuple[Callable[[Any], Any], int, bool]] = {
    spec.name: (
        spec.check,
        spec.check.max_chars if isinstance(spec.check, _Text) else -1,
        isinstance(spec.check, _Text) and spec.check.nonblank,
    )
    for spec in FIELD_SPECS
}


def check_fields(
    fields: Mapping[str, Any], *, plain_json: bool
) -> tuple[dict[str, Any], list[FieldError], list[str]]:
    """Check the fields given; the hot path of every publish, so kept lean.

    Returns the 17-field message (absent fields None, in the contract's order), the errors
    found and the free-text fields that were truncated. Only the fields given are looked at.
    `plain_json`: `fields` was decoded by orjson, so it holds nothing but portable JSON
    (orjson refuses NaN, infinities and lone surrogates) and additional_context needs no
    walk beyond its nesting, checked against the same limit as for objects.
    """
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise ValidationError(
            [FieldError("message", f"expected a JSON object, got {type_name(fields)}")]
        )
    errors: list[FieldError] = []
    truncated: list[str] = []
    message = EMPTY_MESSAGE.copy()
    for name, value in fields.items():
        spec = _CHECKS.get(name)
        if spec is None:
            errors.append(FieldError(echo_name(name), UNKNOWN_FIELD_PROBLEM))
            continue
        if value is None:
            continue
        check, plain_max, nonblank = spec
        if (
            type(value) is str
            and len(value) <= plain_max
            and not (nonblank and (not value or value.isspace()))
        ):
            message[name] = value  # the common case: a plain string within its limit
        elif plain_json and type(value) is dict and name == "additional_context":
            if value and nested_deeper_than(value, MAX_CONTEXT_DEPTH):  # as for objects
                _json_problems(value, name, errors, scalars=False)
            message[name] = value
        else:
            try:
                carried = check(value)
            except _Problem as problem:
                errors.extend(problem.errors or [FieldError(name, problem.problem)])
                continue
            if carried is not value and name in MAX_FIELD_CHARS:
                truncated.append(name)
            message[name] = carried
    return message, errors, truncated


def failed_fields(errors: Sequence[FieldError]) -> set[str]:
    """The top-level fields `errors` are about."""
    return {error.field.split(".", 1)[0].split("[", 1)[0] for error in errors}


def error_order(error: FieldError) -> tuple[int, str]:
    """Sort key: unknown fields first, then the contract's order."""
    root = error.field.split(".", 1)[0].split("[", 1)[0]
    return (FIELD_INDEX.get(root, -1), error.field)
