"""Messages as bytes: compact UTF-8 JSON, with orjson where it is installed.

json and orjson produce compact UTF-8 JSON that parses to the same value; for validated
messages (no floats outside additional_context) the bytes are identical. orjson is several
times faster; json is the fallback where orjson is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from document_exceptions.fields import FieldError, ValidationError

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a runtime dependency; json is the fallback
    orjson = None  # type: ignore[assignment]

# Whether decoded JSON is known to be portable (orjson refuses NaN and lone surrogates).
DECODES_PLAIN_JSON = orjson is not None


def _encode_with_json(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _encode_with_orjson(message: Any) -> bytes:
    return orjson.dumps(message)


encode_json: Callable[[Any], bytes] = (
    _encode_with_orjson if orjson is not None else _encode_with_json
)
JSON_ENCODER = "orjson" if orjson is not None else "json"


def parse_message(body: str | bytes) -> Any:
    """Decode a message body (SQS body, stored JSON); invalid JSON is a `ValidationError`."""
    try:
        return orjson.loads(body) if orjson is not None else json.loads(body)
    except ValueError as exc:
        raise ValidationError([FieldError("message", f"not valid JSON ({exc})")]) from None


def unencodable_fields(message: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    for name, value in message.items():
        try:
            _encode_with_json(value)
        except (UnicodeEncodeError, ValueError, TypeError) as exc:
            errors.append(FieldError(name, f"cannot be encoded as UTF-8 JSON ({exc})"))
    return errors or [FieldError("message", "cannot be encoded as UTF-8 JSON")]
