"""Messages as bytes: compact UTF-8 JSON, with orjson where it is installed.

json and orjson produce compact UTF-8 JSON that parses to the same value; for validated
messages (no floats outside additional_context) the bytes are identical. orjson is several
times faster; json is the fallback where orjson is not installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from document_exceptions.echo import echo_name
from document_exceptions.fields import MAX_JSON_TEXT_DEPTH, FieldError, ValidationError

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
    """Decode a message body (SQS body, stored JSON); invalid JSON is a `ValidationError`.

    Text nested deeper than MAX_JSON_TEXT_DEPTH is refused unparsed (orjson stops at its own
    limit; the stdlib parser would recurse until RecursionError).
    """
    try:
        if orjson is not None:
            return orjson.loads(body)
        text = body.decode(json.detect_encoding(body)) if isinstance(body, bytes) else body
        if _nested_deeper_than(text, MAX_JSON_TEXT_DEPTH):
            problem = f"nested deeper than {MAX_JSON_TEXT_DEPTH} levels"
            raise ValidationError([FieldError("message", problem)])
        return json.loads(text)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        problem = f"not valid JSON ({echo_name(str(exc))})"
        raise ValidationError([FieldError("message", problem)]) from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON `text` opens more than `limit` arrays or objects inside each other
    (brackets inside strings do not count); counted without parsing or recursing."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def unencodable_fields(message: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    for name, value in message.items():
        try:
            _encode_with_json(value)
        except (UnicodeEncodeError, ValueError, TypeError) as exc:
            errors.append(FieldError(name, f"cannot be encoded as UTF-8 JSON ({exc})"))
    return errors or [FieldError("message", "cannot be encoded as UTF-8 JSON")]
