"""Input quoted back in errors, cut short: one helper for every answer and failure reason.

What a caller sent may be as large as the transport allows (a 1 MB field name, a 1 MB
custom-resource property); an answer, a log line or a CloudFormation reason quotes at most
about `ECHO_CHARS` characters of it, and says how long a cut text was.
"""

from __future__ import annotations

import reprlib
from typing import Any

ECHO_CHARS = 80

# Containers are quoted a few levels and items deep: never a whole large or deep value.
_CONTAINER_REPR = reprlib.Repr()
_CONTAINER_REPR.maxlevel = 3
_CONTAINER_REPR.maxdict = _CONTAINER_REPR.maxlist = _CONTAINER_REPR.maxtuple = 8
_CONTAINER_REPR.maxset = _CONTAINER_REPR.maxfrozenset = _CONTAINER_REPR.maxdeque = 8
_CONTAINER_REPR.maxstring = _CONTAINER_REPR.maxother = _CONTAINER_REPR.maxlong = ECHO_CHARS


def echo(value: Any) -> str:
    """``repr(value)`` to quote in a message, cut to about ECHO_CHARS characters (a cut
    text says how long it was)."""
    text = _short_repr(value)
    if len(text) <= ECHO_CHARS:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: ECHO_CHARS - 1]}…{size}"


def echo_name(name: Any) -> str:
    """A name as given (a field, a property, a config key), cut like an echoed value;
    characters that do not print (control characters, lone surrogates) are escaped."""
    text = name[: ECHO_CHARS + 1] if isinstance(name, str) else _short_repr(name)
    if not text.isprintable():
        text = repr(text)[1:-1]
    cut = len(text) > ECHO_CHARS or (isinstance(name, str) and len(name) > ECHO_CHARS)
    return f"{text[: ECHO_CHARS - 1]}…" if cut else text


def _short_repr(value: Any) -> str:
    """``repr`` of no more of `value` than the cut keeps."""
    if isinstance(value, str | bytes):
        return repr(value[: ECHO_CHARS + 1])
    try:
        return _CONTAINER_REPR.repr(value)
    except Exception:  # a caller's object whose __repr__ fails
        return f"<{type(value).__name__}>"
